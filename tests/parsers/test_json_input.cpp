// JSON read from files: the nesting depth is checked on the text before parsing, every nlohmann exception is
// an InputError naming the source, and quoted values are cut short (src/io/json_input.h).
#include <gtest/gtest.h>

#include "input_error.h"
#include "io/json_input.h"

namespace resnet {
namespace {

using test::expect_input_error;

std::string nested_arrays(int depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST(JsonInput, DepthUpToTheLimitIsAccepted) {
  EXPECT_NO_THROW(check_json_depth(nested_arrays(kMaxJsonDepth), "f.json"));
  EXPECT_NO_THROW(check_json_depth(R"({"a": [1, {"b": [2]}], "c": {}})", "f.json"));
}

TEST(JsonInput, DeeperNestingIsRefused) {
  expect_input_error([] { check_json_depth(nested_arrays(kMaxJsonDepth + 1), "f.json"); },
                     "f.json: JSON nested deeper than 64 levels");
  expect_input_error([] { check_json_depth(std::string(100'000, '{'), "f.json"); }, "nested deeper");
}

TEST(JsonInput, BracketsInsideStringsDoNotCount) {
  const std::string brackets(1000, '[');
  EXPECT_NO_THROW(check_json_depth(R"({"a": ")" + brackets + R"("})", "f.json"));
  EXPECT_NO_THROW(check_json_depth(R"({"a": "\"[[[[\\"})", "f.json"));  // escaped quote, escaped backslash
}

TEST(JsonInput, EveryNlohmannExceptionIsAnInputError) {
  expect_input_error([] { parse_json(R"({"w": 1e999})", "f.json: header"); },
                     {"f.json: header: not valid JSON", "number overflow"});
  expect_input_error([] { parse_json(R"({"w": )", "f.json"); }, "f.json: not valid JSON");
  expect_input_error([] { parse_json(nested_arrays(100'000), "f.json"); }, "f.json: JSON nested deeper");
  EXPECT_EQ(parse_json(R"({"w": [1, 2]})", "f.json")["w"][1], 2);
}

TEST(JsonInput, ExcerptsAreCut) {
  EXPECT_EQ(excerpt("short"), "short");
  EXPECT_EQ(excerpt(std::string(1000, 'x'), 10), "xxxxxxxxxx...");
  EXPECT_EQ(json_excerpt(nlohmann::json::array({1, 2, 3}), 4), "[1,2...");
}

}  // namespace
}  // namespace resnet
