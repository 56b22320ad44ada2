# The analysis tests: Python scripts run by Debian's python3 (numpy, torch,
# torchaudio), found as in tests/transform_sdk.cmake (this file is included
# first; find_program caches the result). Each exits 77 (skipped) when a
# reference tool it needs is missing.
find_program(WIGGLY_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)

# wiggly_analysis_py_test(NAME SCRIPT LABELS ARGS...): tests/SCRIPT with ARGS.
function(wiggly_analysis_py_test name script labels)
  add_test(NAME ${name} COMMAND ${WIGGLY_PYTHON3} ${PROJECT_SOURCE_DIR}/tests/${script} ${ARGN})
  set_tests_properties(${name} PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS "${labels}"
    ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
endfunction()

if(WIGGLY_PYTHON3)
  # The arrays (audio/analysis.c) against torchaudio in float64 on the very
  # samples wiggly analysed.
  wiggly_analysis_py_test(analysis_ref analysis_ref.py "audio;analysis"
    $<TARGET_FILE:wiggly> ${CMAKE_CURRENT_BINARY_DIR}/analysis_ref.d)
  # Fingerprint, tempo, onsets and pictures against fpcalc and the aubio
  # command line, and end to end through `wiggly run` on file://.
  wiggly_analysis_py_test(analysis2_ref analysis2_ref.py "integration;analysis"
    $<TARGET_FILE:wiggly> ${CMAKE_CURRENT_BINARY_DIR}/analysis2_ref.d)
  # Arrays through the transform processor on file:// (the centroid example
  # and analysis.arrays in one job).
  wiggly_analysis_py_test(analysis_transform analysis_transform.py "integration;analysis;transform"
    $<TARGET_FILE:wiggly> ${CMAKE_CURRENT_BINARY_DIR}/analysis_transform.d)
  # End to end on gs://: the official Pub/Sub emulator and wiggly-gcs-emulator.
  if(TARGET wiggly-gcs-emulator)
    wiggly_analysis_py_test(analysis_gs analysis_gs.py "integration;analysis"
      $<TARGET_FILE:wiggly> $<TARGET_FILE:wiggly-gcs-emulator>
      ${CMAKE_CURRENT_BINARY_DIR}/analysis_gs.d)
  endif()
  # End to end through `wiggly run` on file:// (a shell script).
  add_test(NAME analysis_run
    COMMAND ${PROJECT_SOURCE_DIR}/tests/analysis_run.sh $<TARGET_FILE:wiggly> ${WIGGLY_PYTHON3})
  set_tests_properties(analysis_run PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS "integration;analysis")
endif()
