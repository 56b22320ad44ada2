# The binaries start and answer --help.
add_test(NAME cli_help COMMAND wiggly --help)
add_test(NAME cli_version COMMAND wiggly version)
set_tests_properties(cli_version PROPERTIES PASS_REGULAR_EXPRESSION "^wiggly [0-9]+\\.[0-9]+\\.[0-9]+")
add_test(NAME cli_unknown_verb COMMAND wiggly frobnicate)
set_tests_properties(cli_unknown_verb PROPERTIES WILL_FAIL TRUE)
