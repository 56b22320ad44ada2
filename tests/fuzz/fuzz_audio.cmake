# libFuzzer target for audio decoding from memory. Build:
#   cmake -S . -B build-fuzz -DWIGGLY_FUZZ=ON -DCMAKE_C_COMPILER=clang
#   cmake --build build-fuzz --target fuzz_audio_decode
#   build-fuzz/tests/fuzz/fuzz_audio_decode -max_total_time=60 CORPUS_DIR
add_executable(fuzz_audio_decode ${CMAKE_CURRENT_LIST_DIR}/fuzz_audio_decode.c)
target_link_libraries(fuzz_audio_decode PRIVATE wiggly_audio)
target_link_options(fuzz_audio_decode PRIVATE -fsanitize=fuzzer)
