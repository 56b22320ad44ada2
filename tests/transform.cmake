# Unit tests of the transform protocol codec (transform/proto.c). Pure
# functions: no processes, no network.
if(TARGET PkgConfig::CMOCKA)
  add_executable(test_transform_proto test_transform_proto.c)
  target_link_libraries(test_transform_proto PRIVATE wiggly_transform wiggly_options
    PkgConfig::CMOCKA PkgConfig::JANSSON)
  add_test(NAME transform_proto COMMAND test_transform_proto)
  set_tests_properties(transform_proto PROPERTIES LABELS "unit;transform" TIMEOUT 120)
else()
  message(WARNING "cmocka not found: transform_proto is not built")
endif()

# Integration: real `wiggly run` processes whose transform is
# tests/transforms/misbehave.py (protocol v1 spoken directly; Python with
# NumPy), on file:// batch mode and on the Pub/Sub and GCS emulators. The
# interpreter is found as in transform_sdk.cmake (the same cache variable):
# Debian's /usr/bin/python3 first (a pyenv shim on PATH may lack NumPy); the
# tests report themselves skipped when it has none. One executable, one
# ctest entry per group, so the slow groups run in parallel.
find_program(WIGGLY_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
find_program(WIGGLY_PYTHON3 NAMES python3)
if(TARGET PkgConfig::CMOCKA AND TARGET wiggly_test_svc_it AND WIGGLY_PYTHON3)
  add_executable(it_transform it_transform.c)
  target_link_libraries(it_transform PRIVATE wiggly_test_svc_it PkgConfig::CMOCKA
    PkgConfig::JANSSON PkgConfig::CURL PkgConfig::SNDFILE m)
  target_compile_definitions(it_transform PRIVATE WIGGLY_TEST_PYTHON="${WIGGLY_PYTHON3}"
    WIGGLY_TF_SCRIPT="${CMAKE_CURRENT_SOURCE_DIR}/transforms/misbehave.py")
  add_dependencies(it_transform wiggly wiggly-gcs-emulator)
  foreach(g batch crash startup pubsub)
    add_test(NAME transform_it_${g} COMMAND it_transform ${g})
    set_tests_properties(transform_it_${g} PROPERTIES LABELS "integration;transform" TIMEOUT 600
      SKIP_RETURN_CODE 77)
  endforeach()
else()
  message(WARNING "it_transform is not built (needs cmocka, the service integration support "
                  "and python3)")
endif()
