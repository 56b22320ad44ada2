# Unit tests of the transform protocol codec (transform/proto.c). Pure
# functions: no processes, no network.
if(TARGET PkgConfig::CMOCKA)
  add_executable(test_transform_proto test_transform_proto.c)
  target_link_libraries(test_transform_proto PRIVATE wiggly_transform wiggly_options
    PkgConfig::CMOCKA PkgConfig::JANSSON)
  add_test(NAME transform_proto COMMAND test_transform_proto)
  set_tests_properties(transform_proto PROPERTIES LABELS "unit;transform" TIMEOUT 120)
else()
  message(WARNING "cmocka not found: transform_proto is not built")
endif()
