// The command line (src/cli/app.cpp): the input split into arguments at NUL and newline, parsed by the app
// `resnet` runs, with every subcommand's work (its callback) replaced by nothing. A usage error
// (CLI::ParseError, also --help) or an InputError is the expected refusal.
#include <string>
#include <vector>

#include "cli/app.h"
#include "fuzz_files.h"

namespace {

void drop_callbacks(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    sub->callback([] {});
    drop_callbacks(*sub);
  }
}

std::vector<std::string> split_arguments(std::string_view text) {
  std::vector<std::string> args{"resnet"};
  size_t at = 0;
  while (at <= text.size()) {
    size_t end = text.find_first_of(std::string_view("\0\n", 2), at);
    if (end == std::string_view::npos) end = text.size();
    args.emplace_back(text.substr(at, end - at));
    at = end + 1;
  }
  return args;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> args = split_arguments(resnet::fuzz::as_text(data, size));
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  const std::unique_ptr<CLI::App> app = resnet::cli::make_app();
  drop_callbacks(*app);
  try {
    app->parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError&) {
  } catch (const resnet::InputError&) {
  }
  return 0;
}
