# Service tests: unit tests (pool, metrics + health server, file:// storage,
# batch mode end to end on file://; no emulators) and the integration tests
# that start the Pub/Sub emulator, wiggly-gcs-emulator and `wiggly run`.
if(TARGET PkgConfig::CMOCKA)
  add_library(wiggly_test_svc STATIC support/svc_util.c)
  target_include_directories(wiggly_test_svc PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(wiggly_test_svc PUBLIC wiggly_options m)

  foreach(t pool metrics)
    add_executable(test_service_${t} test_service_${t}.c)
    target_link_libraries(test_service_${t} PRIVATE wiggly_service wiggly_test_svc wiggly_options
      PkgConfig::CMOCKA PkgConfig::CURL PkgConfig::JANSSON Libev::libev Threads::Threads)
    target_compile_definitions(test_service_${t} PRIVATE WIGGLY_BIN="$<TARGET_FILE:wiggly>")
    add_test(NAME service_${t} COMMAND test_service_${t})
    set_tests_properties(service_${t} PROPERTIES LABELS "unit;service" TIMEOUT 300)
  endforeach()
else()
  message(WARNING "cmocka not found: the service tests are not built")
endif()
