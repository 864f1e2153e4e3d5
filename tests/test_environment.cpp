// Sets the environment the tests read (RESNET_BIN, RESNET_TEST_TMP, RESNET_FIXTURES) from values CMake
// compiles in, before main runs, unless the caller already set them. (ctest's ENVIRONMENT property cannot
// carry several variables through gtest_discover_tests' PROPERTIES in CMake 3.25.)
#include <cstdlib>

namespace {

struct TestEnvironment {
  TestEnvironment() {
    setenv("RESNET_BIN", RESNET_TEST_BIN, /*overwrite=*/0);
    setenv("RESNET_TEST_TMP", RESNET_TEST_TMP_DIR, 0);
    setenv("RESNET_FIXTURES", RESNET_TEST_FIXTURES_DIR, 0);
    // The plan's tuning cache (PlanOptions::tune): never the user's, so that bench and infer do not tune by
    // default because of a cache the machine happens to have.
    setenv("XDG_CACHE_HOME", RESNET_TEST_TMP_DIR "/xdg-cache", 1);
  }
};

const TestEnvironment environment;

}  // namespace
