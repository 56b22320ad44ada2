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

if(CMOCKA_FOUND)
  add_executable(test_emulator test_emulator.c support/gcs_emulator_http.c)
  target_link_libraries(test_emulator PRIVATE wiggly_test_gcs PkgConfig::CMOCKA PkgConfig::CURL
                                              PkgConfig::JANSSON)
  add_test(NAME emulator_api COMMAND test_emulator)
  set_tests_properties(emulator_api PROPERTIES TIMEOUT 300 LABELS "emulator")

  # Many concurrent uploads (1500) over plain sockets, and refusals logged
  # at --max-connections (issue 11, finding 5).
  add_executable(test_emulator_connections test_emulator_connections.c
                                           support/gcs_emulator_http.c)
  target_link_libraries(test_emulator_connections PRIVATE wiggly_test_gcs PkgConfig::CMOCKA
                                                          PkgConfig::CURL PkgConfig::JANSSON)
  add_test(NAME emulator_connections COMMAND test_emulator_connections)
  set_tests_properties(emulator_connections PROPERTIES TIMEOUT 300 LABELS "emulator")

  add_executable(test_emulator_multipart test_emulator_multipart.c)
  target_link_libraries(test_emulator_multipart PRIVATE wiggly_gcs_emulator_core
                                                        PkgConfig::CMOCKA)
  add_test(NAME emulator_parsers COMMAND test_emulator_multipart)
  set_tests_properties(emulator_parsers PROPERTIES TIMEOUT 60 LABELS "emulator")
endif()

# The official gcloud CLI as a conformance client (skipped without gcloud).
add_test(NAME emulator_gcloud
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/emulator_gcloud.sh $<TARGET_FILE:wiggly-gcs-emulator>)
set_tests_properties(emulator_gcloud PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
                                                LABELS "emulator;gcloud")
