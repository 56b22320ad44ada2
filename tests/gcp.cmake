# gcp/ tests. Support libraries other suites may link too:
#   wiggly_test_pubsub  official Pub/Sub emulator launcher (tests/support/pubsub_emulator.h)
#   wiggly_test_fakehttp in-test HTTP stand-in + loop helpers (tests/support/fake_http.h)
add_library(wiggly_test_pubsub STATIC ${CMAKE_CURRENT_LIST_DIR}/support/pubsub_emulator.c)
target_include_directories(wiggly_test_pubsub PUBLIC ${CMAKE_CURRENT_LIST_DIR}/support)
target_link_libraries(wiggly_test_pubsub PUBLIC wiggly_options)

add_library(wiggly_test_fakehttp STATIC ${CMAKE_CURRENT_LIST_DIR}/support/fake_http.c)
target_include_directories(wiggly_test_fakehttp PUBLIC ${CMAKE_CURRENT_LIST_DIR}/support)
target_link_libraries(wiggly_test_fakehttp PUBLIC wiggly_options Libev::libev PkgConfig::MHD
                      Threads::Threads)

if(TARGET PkgConfig::CMOCKA)
  foreach(t unit auth pubsub)
    add_executable(test_gcp_${t} ${CMAKE_CURRENT_LIST_DIR}/test_gcp_${t}.c)
    target_link_libraries(test_gcp_${t} PRIVATE wiggly_gcp wiggly_test_fakehttp
                          wiggly_test_pubsub wiggly_test_gcs PkgConfig::CMOCKA PkgConfig::JANSSON
                          PkgConfig::CURL OpenSSL::Crypto Libev::libev)
    add_test(NAME gcp_${t} COMMAND test_gcp_${t})
    set_tests_properties(gcp_${t} PROPERTIES TIMEOUT 300 LABELS "gcp")
  endforeach()
  # The Cloud Monitoring client: its parser over recorded responses
  # (tests/data/monitoring/) and the client against an in-test stand-in.
  add_executable(test_gcp_monitoring ${CMAKE_CURRENT_LIST_DIR}/test_gcp_monitoring.c)
  target_link_libraries(test_gcp_monitoring PRIVATE wiggly_gcp wiggly_test_fakehttp
                        PkgConfig::CMOCKA Libev::libev)
  target_compile_definitions(test_gcp_monitoring PRIVATE
                             WIGGLY_MONITORING_DATA="${CMAKE_CURRENT_LIST_DIR}/data/monitoring")
  add_test(NAME gcp_monitoring COMMAND test_gcp_monitoring)
  set_tests_properties(gcp_monitoring PROPERTIES TIMEOUT 120 LABELS "unit;gcp")
  # GCS suites run against wiggly-gcs-emulator (tests/support/gcs_emulator.h,
  # target wiggly_test_gcs from tests/emulator.cmake).
  foreach(t gcs faults)
    add_executable(test_gcp_${t} ${CMAKE_CURRENT_LIST_DIR}/test_gcp_${t}.c)
    target_link_libraries(test_gcp_${t} PRIVATE wiggly_gcp wiggly_test_fakehttp wiggly_test_gcs
                          PkgConfig::CMOCKA PkgConfig::JANSSON PkgConfig::CURL Libev::libev)
    add_test(NAME gcp_${t} COMMAND test_gcp_${t})
  endforeach()
  set_tests_properties(gcp_pubsub gcp_gcs gcp_faults PROPERTIES TIMEOUT 300
                       LABELS "gcp;integration;long")
endif()
