// `resnet`: build, inspect, run and ship ResNets. Errors: one line on stderr; exit 2 for bad usage or input,
// 1 for an internal failure.
#include <fmt/format.h>

#include <iostream>

#include "cli/common.h"
#include "resnet/error.h"

int main(int argc, char** argv) {
  CLI::App app{"resnet.cpp: the torchvision ResNet family in C++ on oneDNN", "resnet"};
  app.require_subcommand(1);
  resnet::cli::register_list(app);
  resnet::cli::register_summary(app);
  resnet::cli::register_print(app);
  resnet::cli::register_infer(app);
  resnet::cli::register_convert(app);
  resnet::cli::register_bench(app);
  resnet::cli::register_train(app);
  resnet::cli::register_eval(app);
  resnet::cli::register_quantize(app);
  resnet::cli::register_plot(app);
  resnet::cli::register_predict(app);
  resnet::cli::register_explain(app);
  resnet::cli::register_dataset(app);
  resnet::cli::register_features(app);
  resnet::cli::register_segment(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
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
