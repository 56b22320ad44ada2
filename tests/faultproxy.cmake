# wiggly-fault-proxy: a fault-injecting HTTP/1.1 proxy for tests (not
# installed), its launcher library wiggly_test_fault_proxy
# (tests/support/fault_proxy.h) and its test against an in-test echo upstream
# and the official Pub/Sub emulator.
add_executable(wiggly-fault-proxy ${CMAKE_CURRENT_LIST_DIR}/support/fault_proxy_main.c)
target_link_libraries(wiggly-fault-proxy PRIVATE wiggly_options Threads::Threads)

add_library(wiggly_test_fault_proxy STATIC ${CMAKE_CURRENT_LIST_DIR}/support/fault_proxy.c)
target_include_directories(wiggly_test_fault_proxy PUBLIC ${CMAKE_CURRENT_LIST_DIR}/support)
target_link_libraries(wiggly_test_fault_proxy PUBLIC wiggly_options)
target_compile_definitions(wiggly_test_fault_proxy
  PRIVATE WIGGLY_FAULT_PROXY_PATH="$<TARGET_FILE:wiggly-fault-proxy>")
add_dependencies(wiggly_test_fault_proxy wiggly-fault-proxy)

# wiggly_test_pubsub comes from tests/gcp.cmake, included after this file;
# target names resolve at generate time.
if(TARGET PkgConfig::CMOCKA)
  add_executable(test_fault_proxy ${CMAKE_CURRENT_LIST_DIR}/test_fault_proxy.c)
  target_link_libraries(test_fault_proxy PRIVATE wiggly_test_fault_proxy wiggly_test_pubsub
                        PkgConfig::CMOCKA PkgConfig::CURL PkgConfig::JANSSON Threads::Threads)
  add_test(NAME fault_proxy COMMAND test_fault_proxy)
  set_tests_properties(fault_proxy PROPERTIES TIMEOUT 300 LABELS "faultproxy;integration")
endif()
