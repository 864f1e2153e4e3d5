// `resnet`: build, inspect, run and ship ResNets. Errors: one line on stderr; exit 2 for bad usage or input,
// 1 for an internal failure.
#include <fmt/format.h>

#include <iostream>

#include "cli/app.h"
#include "cli/common.h"
#include "resnet/error.h"

int main(int argc, char** argv) {
  const std::unique_ptr<CLI::App> app = resnet::cli::make_app();
  try {
    app->parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app->exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app->exit(e);
  } catch (const resnet::cli::ExitStatus& e) {
    return e.status;
  } catch (const CLI::ParseError& e) {
    std::cerr << fmt::format("resnet: error: {}\n", e.what());
    return 2;
  } catch (const resnet::InputError& e) {
    std::cerr << fmt::format("resnet: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::cerr << fmt::format("resnet: internal error: {}\n", e.what());
    return 1;
  }
  return 0;
}
