#include "cli/app.h"

#include "cli/common.h"

namespace resnet::cli {

std::unique_ptr<CLI::App> make_app() {
  auto app =
      std::make_unique<CLI::App>("resnet.cpp: the torchvision ResNet family in C++ on oneDNN", "resnet");
  app->require_subcommand(1);
  register_list(*app);
  register_summary(*app);
  register_print(*app);
  register_infer(*app);
  register_convert(*app);
  register_bench(*app);
  register_train(*app);
  register_eval(*app);
  register_quantize(*app);
  register_plot(*app);
  register_predict(*app);
  register_explain(*app);
  register_dataset(*app);
  register_features(*app);
  register_segment(*app);
  register_export(*app);
  register_experiment(*app);
  return app;
}

}  // namespace resnet::cli
