# Service tests: unit tests (pool, metrics + health server, file:// storage,
# the pipeline with a timed-out item, batch mode end to end on file://, the
# runner with a fake event source; no emulators) and the integration tests
# that start the Pub/Sub emulator, wiggly-gcs-emulator and `wiggly run`.
if(TARGET PkgConfig::CMOCKA)
  add_library(wiggly_test_svc STATIC support/svc_util.c)
  target_include_directories(wiggly_test_svc PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(wiggly_test_svc PUBLIC wiggly_options PkgConfig::CURL m)

  foreach(t pool metrics httpd storage batch pipeline error runner)
    add_executable(test_service_${t} test_service_${t}.c)
    target_link_libraries(test_service_${t} PRIVATE wiggly_service wiggly_test_svc wiggly_options
      PkgConfig::CMOCKA PkgConfig::CURL PkgConfig::JANSSON Libev::libev Threads::Threads)
    target_compile_definitions(test_service_${t} PRIVATE WIGGLY_BIN="$<TARGET_FILE:wiggly>")
    add_test(NAME service_${t} COMMAND test_service_${t})
    set_tests_properties(service_${t} PROPERTIES LABELS "unit;service" TIMEOUT 300)
  endforeach()
  # The gs:// storage scheme against wiggly-gcs-emulator (skipped without it).
  if(TARGET wiggly_test_gcs)
    target_link_libraries(test_service_storage PRIVATE wiggly_test_gcs)
    target_compile_definitions(test_service_storage PRIVATE WIGGLY_TEST_GCS=1)
  endif()
else()
  message(WARNING "cmocka not found: the service tests are not built")
endif()

# Integration: real `wiggly run` processes against the official Pub/Sub
# emulator and wiggly-gcs-emulator (support targets from the gcp and emu
# branches). Skipped (reported) when the Pub/Sub emulator is not installed.
if(TARGET PkgConfig::CMOCKA AND TARGET wiggly_test_pubsub AND TARGET wiggly_test_gcs)
  add_library(wiggly_test_svc_it STATIC support/svc_cloud_sync.c support/svc_it.c)
  target_include_directories(wiggly_test_svc_it PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(wiggly_test_svc_it PUBLIC WIGGLY_BIN="$<TARGET_FILE:wiggly>")
  target_link_libraries(wiggly_test_svc_it PUBLIC wiggly_test_svc wiggly_test_pubsub
    wiggly_test_gcs wiggly_gcp wiggly_audio wiggly_options PkgConfig::CURL Libev::libev)
  foreach(t chain ops audio limits deadletters)
    add_executable(it_service_${t} it_service_${t}.c)
    target_link_libraries(it_service_${t} PRIVATE wiggly_test_svc_it PkgConfig::CMOCKA
      PkgConfig::JANSSON PkgConfig::CURL)
    add_dependencies(it_service_${t} wiggly wiggly-gcs-emulator)
    add_test(NAME service_it_${t} COMMAND it_service_${t})
    set_tests_properties(service_it_${t} PROPERTIES LABELS "integration;service" TIMEOUT 400
      SKIP_RETURN_CODE 77)
  endforeach()
  target_link_libraries(it_service_limits PRIVATE wiggly_audio_testutil)
  # `wiggly deadletters` (issue 15): the test decodes replayed messages.
  target_link_libraries(it_service_deadletters PRIVATE wiggly_service)
  set_tests_properties(service_it_deadletters PROPERTIES TIMEOUT 600)
  # Empty results and 65-channel features; test audio made with libsndfile.
  target_link_libraries(it_service_audio PRIVATE wiggly_audio_testutil PkgConfig::SNDFILE)
endif()
