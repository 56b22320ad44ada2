# The Python transform helper (sdk/python/wiggly_transform.py) and the
# examples under examples/transforms/, run as real child processes by
# tests/support/tf_driver.py (wiggly's side of protocol v1, docs/transforms.md).
# The interpreter is Debian's python3, where python3-numpy and python3-torch
# install (scripts/deps.sh): a python3 earlier on PATH (pyenv, a venv) may
# lack them. Without NumPy the tests report themselves skipped (exit 77).
find_program(WIGGLY_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT WIGGLY_PYTHON3)
  find_program(WIGGLY_PYTHON3 NAMES python3)
endif()
if(WIGGLY_PYTHON3)
  foreach(part sdk examples)
    string(SUBSTRING ${part} 0 1 first)
    string(TOUPPER ${first} first)
    string(SUBSTRING ${part} 1 -1 rest)
    add_test(NAME transform_${part}
      COMMAND ${WIGGLY_PYTHON3} ${PROJECT_SOURCE_DIR}/tests/test_transform_sdk.py ${first}${rest}Tests)
    set_tests_properties(transform_${part} PROPERTIES
      SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS "unit;transform"
      ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
  endforeach()
  # `wiggly test` and `wiggly verify` on the centroid example, checked
  # numerically against NumPy (tests/transform_cli.sh).
  add_test(NAME transform_cli
    COMMAND ${PROJECT_SOURCE_DIR}/tests/transform_cli.sh $<TARGET_FILE:wiggly> ${WIGGLY_PYTHON3})
  set_tests_properties(transform_cli PROPERTIES TIMEOUT 300 LABELS "integration;transform")
  # A track whose second output failed to upload is completed by the next
  # delivery without rewriting the first (gs://, wiggly-gcs-emulator).
  add_test(NAME transform_partial
    COMMAND ${PROJECT_SOURCE_DIR}/tests/transform_partial.sh $<TARGET_FILE:wiggly>
            $<TARGET_FILE:wiggly-gcs-emulator> ${WIGGLY_PYTHON3})
  set_tests_properties(transform_partial PROPERTIES TIMEOUT 300 LABELS "integration;transform")
endif()
