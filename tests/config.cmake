# Unit tests of the config loader (config/) and the message model and
# decision logic (service/message.c). Pure functions: no processes, no network.
if(TARGET PkgConfig::CMOCKA)
  add_executable(test_config test_config.c)
  target_compile_definitions(test_config PRIVATE
    WIGGLY_EXAMPLES_DIR="${PROJECT_SOURCE_DIR}/config/examples")
  target_link_libraries(test_config PRIVATE wiggly_config wiggly_options PkgConfig::CMOCKA)
  add_test(NAME config_unit COMMAND test_config)
  set_tests_properties(config_unit PROPERTIES LABELS "unit;config" TIMEOUT 120)

  add_executable(test_message test_message.c)
  target_link_libraries(test_message PRIVATE wiggly_service wiggly_options PkgConfig::CMOCKA
    PkgConfig::JANSSON)
  add_test(NAME message_unit COMMAND test_message)
  set_tests_properties(message_unit PROPERTIES LABELS "unit;service" TIMEOUT 120)
else()
  message(WARNING "cmocka not found: config_unit and message_unit are not built")
endif()
