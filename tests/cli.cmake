# The `wiggly` program (cli/), through the real binary. More of it is tested
# by test_audio_cli (tests/audio.cmake: gen, process), deploy_new
# (tests/deploy.cmake: new) and the service integration tests (run, publish,
# verify).

# The binary starts and answers --help.
add_test(NAME cli_help COMMAND wiggly --help)
add_test(NAME cli_version COMMAND wiggly version)
set_tests_properties(cli_version PROPERTIES PASS_REGULAR_EXPRESSION "^wiggly [0-9]+\\.[0-9]+\\.[0-9]+")
add_test(NAME cli_unknown_verb COMMAND wiggly frobnicate)
set_tests_properties(cli_unknown_verb PROPERTIES WILL_FAIL TRUE)

# The verbs answer --help and refuse bad usage with exit code 2.
foreach(verb run publish verify status deadletters)
  add_test(NAME service_cli_${verb}_help COMMAND wiggly ${verb} --help)
  set_tests_properties(service_cli_${verb}_help PROPERTIES LABELS "unit;service"
    PASS_REGULAR_EXPRESSION "usage: wiggly ${verb}")
  add_test(NAME service_cli_${verb}_usage
    COMMAND sh -c "\"$0\" ${verb} --no-such-option; test $? -eq 2" $<TARGET_FILE:wiggly>)
  set_tests_properties(service_cli_${verb}_usage PROPERTIES LABELS "unit;service")
endforeach()

# `wiggly status`: test_cli_status against an in-test HTTP server on
# 127.0.0.1 playing Cloud Monitoring (recorded responses,
# tests/data/monitoring/) and a pod's /metrics; it_service_status reads a
# real `wiggly run` on the Pub/Sub emulator. Their support targets come from
# gcp.cmake and service.cmake, which sort after this file: defined deferred.
function(wiggly_cli_status_define)
  if(NOT (TARGET PkgConfig::CMOCKA AND TARGET wiggly_test_fakehttp))
    return()
  endif()
  add_executable(test_cli_status ${CMAKE_CURRENT_SOURCE_DIR}/test_cli_status.c)
  target_link_libraries(test_cli_status PRIVATE wiggly_test_fakehttp wiggly_options
                        PkgConfig::CMOCKA PkgConfig::JANSSON)
  target_compile_definitions(test_cli_status PRIVATE WIGGLY_BIN="$<TARGET_FILE:wiggly>"
    WIGGLY_MONITORING_DATA="${CMAKE_CURRENT_SOURCE_DIR}/data/monitoring")
  add_dependencies(test_cli_status wiggly)
  add_test(NAME cli_status COMMAND test_cli_status)
  set_tests_properties(cli_status PROPERTIES LABELS "unit;service" TIMEOUT 180)
  if(TARGET wiggly_test_svc_it)
    add_executable(it_service_status ${CMAKE_CURRENT_SOURCE_DIR}/it_service_status.c)
    target_link_libraries(it_service_status PRIVATE wiggly_test_svc_it PkgConfig::CMOCKA
      PkgConfig::JANSSON PkgConfig::CURL)
    add_dependencies(it_service_status wiggly wiggly-gcs-emulator)
    add_test(NAME service_it_status COMMAND it_service_status)
    set_tests_properties(service_it_status PROPERTIES LABELS "integration;service" TIMEOUT 400
      SKIP_RETURN_CODE 77)
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR} CALL wiggly_cli_status_define)
