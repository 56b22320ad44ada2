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
  foreach(t unit auth pubsub gcs)
    add_executable(test_gcp_${t} ${CMAKE_CURRENT_LIST_DIR}/test_gcp_${t}.c)
    target_link_libraries(test_gcp_${t} PRIVATE wiggly_gcp wiggly_test_fakehttp
                          wiggly_test_pubsub PkgConfig::CMOCKA PkgConfig::JANSSON
                          PkgConfig::CURL OpenSSL::Crypto Libev::libev)
    add_test(NAME gcp_${t} COMMAND test_gcp_${t})
    set_tests_properties(gcp_${t} PROPERTIES TIMEOUT 300 LABELS "gcp")
  endforeach()
  # The GCS emulator launcher comes from the emulator's branch; until it is
  # there, the emulator-backed GCS tests report themselves as skipped.
  if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/support/gcs_emulator.c)
    target_link_libraries(test_gcp_gcs PRIVATE wiggly_test_gcs)
    target_compile_definitions(test_gcp_gcs PRIVATE HAVE_TGCS=1)
    add_dependencies(test_gcp_gcs wiggly-gcs-emulator)
  endif()
  set_tests_properties(gcp_pubsub gcp_gcs PROPERTIES LABELS "gcp;integration;long")
endif()
