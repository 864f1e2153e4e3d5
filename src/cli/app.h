// The `resnet` command line: one CLI::App with every subcommand registered. main.cpp parses argv with it and
// runs the chosen subcommand (its callback); the CLI's fuzz harness (tests/fuzz/fuzz_cli.cpp) builds the same
// app and parses without running anything.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

namespace resnet::cli {

std::unique_ptr<CLI::App> make_app();

}  // namespace resnet::cli
