# The analysis arrays (audio/analysis.c, docs/analysis.md) against
# torchaudio, run in float64 on the very samples wiggly analysed
# (tests/analysis_ref.py); skipped (77) without python3-torchaudio. The
# interpreter is Debian's python3, found as in tests/transform_sdk.cmake
# (this file is included first; find_program caches the result).
find_program(WIGGLY_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(WIGGLY_PYTHON3)
  add_test(NAME analysis_ref
    COMMAND ${WIGGLY_PYTHON3} ${PROJECT_SOURCE_DIR}/tests/analysis_ref.py $<TARGET_FILE:wiggly>
            ${CMAKE_CURRENT_BINARY_DIR}/analysis_ref.d)
  set_tests_properties(analysis_ref PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS "audio;analysis"
    ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
endif()
# End to end through `wiggly run` on file:// (tests/analysis_run.sh).
if(WIGGLY_PYTHON3)
  add_test(NAME analysis_run
    COMMAND ${PROJECT_SOURCE_DIR}/tests/analysis_run.sh $<TARGET_FILE:wiggly> ${WIGGLY_PYTHON3})
  set_tests_properties(analysis_run PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS "integration;analysis")
endif()
# Fingerprint, tempo, onsets and pictures against fpcalc and the aubio command
# line, and end to end through `wiggly run` (tests/analysis2_ref.py).
if(WIGGLY_PYTHON3)
  add_test(NAME analysis2_ref
    COMMAND ${WIGGLY_PYTHON3} ${PROJECT_SOURCE_DIR}/tests/analysis2_ref.py $<TARGET_FILE:wiggly>
            ${CMAKE_CURRENT_BINARY_DIR}/analysis2_ref.d)
  set_tests_properties(analysis2_ref PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS "integration;analysis")
endif()
# End to end on gs://: `wiggly run` on the official Pub/Sub emulator and
# wiggly-gcs-emulator, arrays downloaded and compared with torchaudio,
# skip-completed and a deleted array redone (tests/analysis_gs.py); skipped
# (77) without the Pub/Sub emulator, Java or torchaudio.
if(WIGGLY_PYTHON3 AND TARGET wiggly-gcs-emulator)
  add_test(NAME analysis_gs
    COMMAND ${WIGGLY_PYTHON3} ${PROJECT_SOURCE_DIR}/tests/analysis_gs.py $<TARGET_FILE:wiggly>
            $<TARGET_FILE:wiggly-gcs-emulator> ${CMAKE_CURRENT_BINARY_DIR}/analysis_gs.d)
  set_tests_properties(analysis_gs PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS "integration;analysis"
    ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
endif()
# Arrays through the transform processor on file:// (a job with both
# `transform`, the centroid example, and `analysis.arrays`;
# tests/analysis_transform.py).
if(WIGGLY_PYTHON3)
  add_test(NAME analysis_transform
    COMMAND ${WIGGLY_PYTHON3} ${PROJECT_SOURCE_DIR}/tests/analysis_transform.py $<TARGET_FILE:wiggly>
            ${CMAKE_CURRENT_BINARY_DIR}/analysis_transform.d)
  set_tests_properties(analysis_transform PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS "integration;analysis;transform"
    ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
endif()
