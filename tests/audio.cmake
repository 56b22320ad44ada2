# The audio engine: unit tests (in-process, measured on decoded output) and a
# CLI test through the real `wiggly` binary.
if(CMOCKA_FOUND)
  add_library(wiggly_audio_testutil STATIC support/audio_testutil.c support/flac_bomb.c)
  target_include_directories(wiggly_audio_testutil PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(wiggly_audio_testutil PUBLIC wiggly_options PkgConfig::SNDFILE m)

  add_executable(test_audio test_audio.c)
  target_link_libraries(test_audio PRIVATE wiggly_audio wiggly_audio_testutil PkgConfig::CMOCKA Threads::Threads
                        PkgConfig::SNDFILE m)
  add_test(NAME audio COMMAND test_audio)
  set_tests_properties(audio PROPERTIES LABELS "audio" TIMEOUT 300)

  add_executable(test_audio_cli test_audio_cli.c)
  target_link_libraries(test_audio_cli PRIVATE wiggly_audio wiggly_audio_testutil
                        PkgConfig::CMOCKA PkgConfig::SNDFILE m)
  add_test(NAME audio_cli COMMAND test_audio_cli $<TARGET_FILE:wiggly>)
  set_tests_properties(audio_cli PROPERTIES LABELS "audio" TIMEOUT 300)
endif()
