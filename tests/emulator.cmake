# wiggly-gcs-emulator: the launcher other suites use, and the emulator's tests.

# Launcher: tgcs_start()/tgcs_stop() run the real emulator binary.
add_library(wiggly_test_gcs STATIC ${CMAKE_CURRENT_LIST_DIR}/support/gcs_emulator.c)
target_include_directories(wiggly_test_gcs PUBLIC ${CMAKE_CURRENT_LIST_DIR}/support
                                                  ${PROJECT_SOURCE_DIR})
target_compile_definitions(wiggly_test_gcs
  PRIVATE WIGGLY_GCS_EMULATOR_PATH="$<TARGET_FILE:wiggly-gcs-emulator>")
target_link_libraries(wiggly_test_gcs PUBLIC wiggly_options)
add_dependencies(wiggly_test_gcs wiggly-gcs-emulator)

add_test(NAME emulator_help COMMAND wiggly-gcs-emulator --help)
set_tests_properties(emulator_help PROPERTIES PASS_REGULAR_EXPRESSION "--fault-statuses")
add_test(NAME emulator_bad_flag COMMAND wiggly-gcs-emulator --root /nonexistent --fault-rate 2)
set_tests_properties(emulator_bad_flag PROPERTIES WILL_FAIL TRUE)
