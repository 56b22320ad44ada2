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

  # FFmpeg's decoder (audio/ffdec.c) on lossless files the ffmpeg command
  # line makes at test time; skipped without it.
  find_program(WIGGLY_FFMPEG_CLI ffmpeg)
  if(WIGGLY_FFMPEG_CLI)
    add_executable(test_audio_ffdec test_audio_ffdec.c)
    target_link_libraries(test_audio_ffdec PRIVATE wiggly_audio wiggly_audio_testutil PkgConfig::CMOCKA)
    add_test(NAME audio_ffdec COMMAND test_audio_ffdec ${WIGGLY_FFMPEG_CLI})
    set_tests_properties(audio_ffdec PROPERTIES LABELS "audio;unit" TIMEOUT 300)
  endif()
endif()
# FFmpeg, Chromaprint and aubio loaded only when a track needs them
# (tests/lazy_libs.sh: strace, a broken libavformat on LD_LIBRARY_PATH).
add_test(NAME audio_lazy_libs COMMAND ${PROJECT_SOURCE_DIR}/tests/lazy_libs.sh $<TARGET_FILE:wiggly>)
set_tests_properties(audio_lazy_libs PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS "audio;integration")
# The formats read through FFmpeg's libraries, hostile references included
# (tests/ffmpeg_formats.sh); skipped (77) without the ffmpeg command line.
find_program(WIGGLY_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(WIGGLY_PYTHON3)
  add_test(NAME audio_ffmpeg_formats
    COMMAND ${PROJECT_SOURCE_DIR}/tests/ffmpeg_formats.sh $<TARGET_FILE:wiggly> ${WIGGLY_PYTHON3})
  set_tests_properties(audio_ffmpeg_formats PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS "audio;integration")
  # The codec fast paths held to the normal path (tests/fast_paths.py).
  add_test(NAME audio_fast_paths
    COMMAND ${WIGGLY_PYTHON3} ${PROJECT_SOURCE_DIR}/tests/fast_paths.py $<TARGET_FILE:wiggly>)
  set_tests_properties(audio_fast_paths PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS "audio;integration")
endif()
# The analysis arrays' building blocks (mel scales, DCT, rfft.c, .npy
# header, colour maps) and the picture's cancel check (tests/test_audio_analysis.c).
if(CMOCKA_FOUND)
  add_executable(test_audio_analysis test_audio_analysis.c)
  target_include_directories(test_audio_analysis PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(test_audio_analysis PRIVATE wiggly_audio PkgConfig::CMOCKA m)
  add_test(NAME audio_analysis COMMAND test_audio_analysis)
  set_tests_properties(audio_analysis PROPERTIES LABELS "audio;analysis" TIMEOUT 120)
endif()
