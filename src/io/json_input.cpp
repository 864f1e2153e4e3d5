#include "io/json_input.h"

#include <cmath>

namespace resnet {

void check_json_depth(std::string_view text, std::string_view source) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, whatever it is
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        throw InputError(fmt::format("{}: JSON nested deeper than {} levels", source, kMaxJsonDepth));
    } else if (c == ']' || c == '}') {
      --depth;  // unbalanced brackets are the parser's to refuse
    }
  }
}

namespace {

void check_run_json_floats(const nlohmann::json& value, std::string_view source) {
  if (value.is_structured()) {
    for (const nlohmann::json& item : value) check_run_json_floats(item, source);  // depth checked: <= 64
  } else if (value.is_number_float()) {
    const double x = value.get<double>();
    if (!std::isfinite(x) || std::fabs(x) >= kMaxRunJsonFloat)
      throw InputError(fmt::format("{}: the number {} is out of range (|x| < 2^31 in a run's files)", source,
                                   excerpt(value.dump())));
  }
}

}  // namespace

nlohmann::json parse_run_json(std::string_view text, std::string_view source) {
  nlohmann::json j = parse_json(text, source);
  check_run_json_floats(j, source);
  return j;
}

std::string excerpt(std::string_view text, size_t limit) {
  if (text.size() <= limit) return std::string(text);
  return std::string(text.substr(0, limit)) + "...";
}

}  // namespace resnet
