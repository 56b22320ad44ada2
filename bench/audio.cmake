# Audio benchmarks: built with the project, run by bench/audio_bench.sh (not
# tests: they print figures and never fail on time).
add_executable(baseline_resample ${CMAKE_CURRENT_LIST_DIR}/baseline_resample.c)
target_link_libraries(baseline_resample PRIVATE wiggly_options PkgConfig::SNDFILE PkgConfig::SOXR)
add_executable(audio_bench ${CMAKE_CURRENT_LIST_DIR}/audio_bench.c)
target_link_libraries(audio_bench PRIVATE wiggly_options)
