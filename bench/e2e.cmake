# End-to-end benchmark: `wiggly run` against the official Pub/Sub emulator and
# wiggly-gcs-emulator next to the audio floor; run by bench/e2e_bench.sh.
# Uses the fault suite's harness (tests/support/e2e_harness.c), defined only
# when the test support targets exist.
if(TARGET wiggly_test_e2e)
  add_executable(e2e_bench ${CMAKE_CURRENT_LIST_DIR}/e2e_bench.c)
  target_link_libraries(e2e_bench PRIVATE wiggly_test_e2e wiggly_options PkgConfig::CURL)
  add_dependencies(e2e_bench wiggly wiggly-gcs-emulator baseline_resample)
endif()
