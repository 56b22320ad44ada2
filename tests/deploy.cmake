# Deployment checks (issue #5): the Dockerfile statically, every Kubernetes
# overlay rendered with kubectl kustomize and validated offline against the
# Kubernetes, KEDA and Config Connector schemas, and `wiggly new` end to end.
# Tests that need node/npm/kubectl report themselves skipped (exit 77)
# without them. The image itself is proven by tests/deploy/image-chroot.sh,
# which is too slow for CI (docs/deploy.md).
set(WIGGLY_DEPLOY_DIR ${PROJECT_SOURCE_DIR}/tests/deploy)
set(WIGGLY_DEPLOY_NPM ${CMAKE_BINARY_DIR}/deploy-npm)

add_test(NAME deploy_dockerfile COMMAND ${WIGGLY_DEPLOY_DIR}/check-dockerfile.sh --self-test)

# npm ci once (into the build tree, not the source tree) for the tests below.
add_test(NAME deploy_npm_ci COMMAND ${WIGGLY_DEPLOY_DIR}/npm-ci.sh ${WIGGLY_DEPLOY_NPM})
set_tests_properties(deploy_npm_ci PROPERTIES
  FIXTURES_SETUP deploy_npm SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS deploy)

add_test(NAME deploy_k8s_validate COMMAND ${WIGGLY_DEPLOY_DIR}/validate.sh ${WIGGLY_DEPLOY_NPM})
add_test(NAME deploy_k8s_rejects COMMAND ${WIGGLY_DEPLOY_DIR}/validate-rejects.sh ${WIGGLY_DEPLOY_NPM})
# The dashboard and alert rules (k8s/components/observability*): promtool
# parses every PromQL expression, the dashboard meets its schemaVersion.
add_test(NAME deploy_observability COMMAND ${WIGGLY_DEPLOY_DIR}/validate-observability.sh
  ${WIGGLY_DEPLOY_NPM})
add_test(NAME deploy_new COMMAND ${WIGGLY_DEPLOY_DIR}/new.sh $<TARGET_FILE:wiggly> ${WIGGLY_DEPLOY_NPM}
  $<TARGET_FILE:test_deploy_configs>)
set_tests_properties(deploy_k8s_validate deploy_k8s_rejects deploy_observability deploy_new PROPERTIES
  FIXTURES_REQUIRED deploy_npm SKIP_RETURN_CODE 77 TIMEOUT 120 LABELS deploy)
set_tests_properties(deploy_dockerfile PROPERTIES TIMEOUT 60 LABELS deploy)
# 27 cases of two renders each, several with a TypeScript compile.
set_tests_properties(deploy_k8s_rejects PROPERTIES TIMEOUT 300)

# The shipped job configs load with the real config loader and match what
# the manifests assume (temp dir, grace, port, name).
add_executable(test_deploy_configs test_deploy_configs.c)
target_link_libraries(test_deploy_configs PRIVATE wiggly_service wiggly_options)
file(GLOB WIGGLY_DEPLOY_CONFIGS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/k8s/overlays/*/job.json)
add_test(NAME deploy_configs COMMAND test_deploy_configs
  ${PROJECT_SOURCE_DIR}/k8s/base/job.json ${WIGGLY_DEPLOY_CONFIGS})
set_tests_properties(deploy_configs PROPERTIES TIMEOUT 60 LABELS deploy
  ENVIRONMENT "GOOGLE_CLOUD_PROJECT=test-project;BUCKET=test-bucket")
