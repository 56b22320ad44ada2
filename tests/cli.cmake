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
foreach(verb run publish verify deadletters)
  add_test(NAME service_cli_${verb}_help COMMAND wiggly ${verb} --help)
  set_tests_properties(service_cli_${verb}_help PROPERTIES LABELS "unit;service"
    PASS_REGULAR_EXPRESSION "usage: wiggly ${verb}")
  add_test(NAME service_cli_${verb}_usage
    COMMAND sh -c "\"$0\" ${verb} --no-such-option; test $? -eq 2" $<TARGET_FILE:wiggly>)
  set_tests_properties(service_cli_${verb}_usage PROPERTIES LABELS "unit;service")
endforeach()
