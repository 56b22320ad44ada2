# Fault suite (label `faults`): real `wiggly run` processes against the
# official Pub/Sub emulator (behind wiggly-fault-proxy) and wiggly-gcs-emulator
# (with its own fault injection). The support targets come from other parts
# (gcp.cmake, emulator.cmake, faultproxy.cmake, service.cmake), some of which
# sort after this file, so the definitions run deferred, at the end of the
# tests directory.
function(wiggly_faults_define)
  if(NOT (TARGET PkgConfig::CMOCKA AND TARGET wiggly_test_pubsub AND TARGET wiggly_test_gcs
          AND TARGET wiggly_test_svc_it AND TARGET wiggly_test_fault_proxy))
    message(STATUS "fault suite not built (needs cmocka, the emulator launchers, "
                   "wiggly_test_svc_it and wiggly_test_fault_proxy)")
    return()
  endif()
  add_library(wiggly_test_e2e STATIC ${CMAKE_CURRENT_SOURCE_DIR}/support/e2e_harness.c)
  target_include_directories(wiggly_test_e2e PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(wiggly_test_e2e PRIVATE WIGGLY_BIN="$<TARGET_FILE:wiggly>")
  target_link_libraries(wiggly_test_e2e PUBLIC wiggly_test_svc_it wiggly_test_fault_proxy
    wiggly_test_pubsub wiggly_test_gcs wiggly_gcp wiggly_audio wiggly_options PkgConfig::CURL
    PkgConfig::JANSSON Libev::libev)
  add_dependencies(wiggly_test_e2e wiggly wiggly-gcs-emulator wiggly-fault-proxy)
  # The cmocka group of the files on the two-job chain (support/e2e_group.h).
  add_library(wiggly_test_e2e_group STATIC ${CMAKE_CURRENT_SOURCE_DIR}/support/e2e_group.c)
  target_link_libraries(wiggly_test_e2e_group PUBLIC wiggly_test_e2e PkgConfig::CMOCKA
    PkgConfig::CURL)
  foreach(t chain crash drain badinput)
    add_executable(it_faults_${t} ${CMAKE_CURRENT_SOURCE_DIR}/it_faults_${t}.c)
    target_link_libraries(it_faults_${t} PRIVATE wiggly_test_e2e wiggly_test_e2e_group
      PkgConfig::CMOCKA PkgConfig::JANSSON PkgConfig::CURL)
    add_test(NAME faults_${t} COMMAND it_faults_${t})
    # Heavy (hundreds of tracks, several processes): run alone.
    set_tests_properties(faults_${t} PROPERTIES LABELS "integration;faults" TIMEOUT 600
      SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
  endforeach()
  # Also the largest publishable message (7.5 MB): dead-lettered with its
  # head and wiggly_payload_bytes, since the whole would not fit again.
  add_test(NAME faults_badinput_largest COMMAND it_faults_badinput --largest)
  set_tests_properties(faults_badinput_largest PROPERTIES LABELS "integration;faults" TIMEOUT 600
    SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR} CALL wiggly_faults_define)
