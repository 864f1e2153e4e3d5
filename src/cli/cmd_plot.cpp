// resnet plot --out FIG.png [--title T] [NAME=]RUN_DIR ...: the test accuracy and training loss of several
// runs per epoch, one line each, from their metrics.csv (e.g. fine-tuning vs linear probe vs from scratch).
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "cli/common.h"
#include "resnet/error.h"
#include "resnet/train.h"

namespace resnet::cli {

namespace {

struct PlotFlags {
  std::vector<std::string> runs;
  std::string out;
  std::string title = "runs";
};

// "NAME=DIR" or "DIR" (named by its folder).
NamedHistory read_run(const std::string& spec) {
  const size_t eq = spec.find('=');
  const std::string dir = eq == std::string::npos ? spec : spec.substr(eq + 1);
  const std::string name =
      eq == std::string::npos ? std::filesystem::path(dir).filename().string() : spec.substr(0, eq);
  std::vector<EpochMetrics> history = read_metrics_csv((std::filesystem::path(dir) / "metrics.csv").string());
  if (history.empty()) throw InputError(fmt::format("{}: metrics.csv has no epochs yet", dir));
  return {name, std::move(history)};
}

}  // namespace

void register_plot(CLI::App& app) {
  auto f = std::make_shared<PlotFlags>();
  auto* cmd =
      app.add_subcommand("plot", "draw the test accuracy and training loss of several runs in one PNG");
  cmd->add_option("RUNS", f->runs, "run folders of `resnet train`, each optionally NAME=DIR")->required();
  cmd->add_option("--out", f->out, "the PNG to write")->required();
  cmd->add_option("--title", f->title, "the chart's title")->capture_default_str();
  cmd->callback([f] {
    if (!f->out.ends_with(".png")) throw InputError(fmt::format("--out {}: expected a .png file", f->out));
    std::vector<NamedHistory> runs;
    for (const std::string& spec : f->runs) runs.push_back(read_run(spec));
    write_runs_png(runs, f->out, f->title);
    std::cout << fmt::format("wrote {} ({} runs)\n", f->out, runs.size());
  });
}

}  // namespace resnet::cli
