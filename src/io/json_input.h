// JSON read from files (a safetensors header, a run's config.json and run.json), bounded before nlohmann sees
// it: the nesting depth is checked on the text first (nlohmann recurses over nested values in dump() and, in
// some versions, while parsing and destroying them, so a 200 KB header of arrays nested 100,000 deep
// overflows the stack), every nlohmann exception (bad syntax, a number too large such as 1e999) becomes an
// InputError, and values quoted in error messages are cut short.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "resnet/error.h"

namespace resnet {

// The deepest nesting of arrays and objects accepted (a safetensors header needs 3, a run's files 4).
constexpr int kMaxJsonDepth = 64;
// The longest excerpt of a value or of nlohmann's message quoted in an error.
constexpr size_t kMaxQuotedChars = 120;

// InputError "<source>: JSON nested deeper than 64 levels" if `text` nests arrays/objects deeper than
// kMaxJsonDepth (brackets inside strings do not count).
void check_json_depth(std::string_view text, std::string_view source);

// `text` cut to `limit` characters, "..." marking the cut.
std::string excerpt(std::string_view text, size_t limit = kMaxQuotedChars);

// value.dump(), cut for an error message.
template <class Json>
std::string json_excerpt(const Json& value, size_t limit = kMaxQuotedChars) {
  return excerpt(value.dump(), limit);
}

// The JSON a run folder holds (config.json, run.json), read field by field with get<int>/get<int64_t>: a
// number written as a float converts to an integer by a plain cast, which is undefined behaviour beyond the
// integer's range ("image_size": 1e300). `check_run_json` parses like parse_json and then refuses any float
// whose magnitude reaches 2^31 (no float of a run's files comes near it: rates, losses, accuracies, seconds).
constexpr double kMaxRunJsonFloat = 2147483648.0;  // 2^31
nlohmann::json parse_run_json(std::string_view text, std::string_view source);

// Parses `text`, read from `source` ("<file>" or "<file>: <what>"): check_json_depth first, then any nlohmann
// exception is an InputError "<source>: not valid JSON (<nlohmann's reason, cut>)".
template <class Json = nlohmann::json>
Json parse_json(std::string_view text, std::string_view source) {
  check_json_depth(text, source);
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: not valid JSON ({})", source, excerpt(e.what())));
  }
}

}  // namespace resnet
