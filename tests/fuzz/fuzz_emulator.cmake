# libFuzzer targets for the GCS emulator's parsers. Build:
#   cmake -S . -B build-fuzz -DWIGGLY_FUZZ=ON -DCMAKE_C_COMPILER=clang
#   cmake --build build-fuzz --target fuzz_emulator_multipart fuzz_emulator_names fuzz_emulator_request
#   build-fuzz/tests/fuzz/fuzz_emulator_multipart -max_total_time=60 CORPUS_DIR
foreach(t fuzz_emulator_multipart fuzz_emulator_names fuzz_emulator_request)
  add_executable(${t} ${CMAKE_CURRENT_LIST_DIR}/${t}.c)
  target_link_libraries(${t} PRIVATE wiggly_gcs_emulator_core)
  target_link_options(${t} PRIVATE -fsanitize=fuzzer)
endforeach()
