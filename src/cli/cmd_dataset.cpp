// resnet dataset export fashion-mnist-scenes DIR [--seed S] [--data FASHION_MNIST_DIR] [--limit N]: writes
// the built-in segmentation scenes as a folder-seg tree (DIR/{train,test}/{images,masks}/NNNNN.png,
// DIR/classes.txt), so that other trainers (the PyTorch peer) read exactly the same samples.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "cli/common.h"
#include "resnet/error.h"
#include "resnet/segmentation_data.h"

namespace resnet::cli {

namespace {

struct ExportFlags {
  std::string name;
  std::string out;
  std::string data;
  uint64_t seed = kDefaultSceneSeed;
  int64_t limit = 0;
  int threads = 0;
};

void export_dataset(const ExportFlags& f) {
  if (f.name != "fashion-mnist-scenes") {
    throw InputError(
        fmt::format("dataset export {}: only fashion-mnist-scenes can be exported (folder-seg "
                    "is already a folder)",
                    f.name));
  }
  if (f.limit < 0) throw InputError(fmt::format("--limit {}: must be >= 0", f.limit));
  apply_threads(f.threads);
  SegmentationOptions options;
  options.seed = f.seed;
  // Both splits are opened (and their source files checked) before anything is written.
  const std::unique_ptr<SegmentationDataset> splits[2] = {
      open_segmentation_dataset(f.name, f.data, Split::train, options),
      open_segmentation_dataset(f.name, f.data, Split::test, options)};
  std::vector<std::string> class_names;
  for (const Split split : {Split::train, Split::test}) {
    const SegmentationDataset* dataset = splits[split == Split::train ? 0 : 1].get();
    const std::string split_name = split == Split::train ? "train" : "test";
    const std::string dir = (std::filesystem::path(f.out) / split_name).string();
    const int64_t written = write_segmentation_split(*dataset, dir, f.limit);
    std::cout << fmt::format("wrote {} {} scenes to {}\n", written, split_name, dir);
    class_names = dataset->info().class_names;
  }
  write_class_names(class_names, f.out);  // the splits' folders exist: so does f.out
  std::cout << fmt::format(
      "wrote {}/classes.txt ({} classes); read it back with --dataset folder-seg --data {}\n", f.out,
      class_names.size(), f.out);
}

}  // namespace

void register_dataset(CLI::App& app) {
  auto* cmd = app.add_subcommand("dataset", "built-in datasets as files");
  cmd->require_subcommand(1);
  auto f = std::make_shared<ExportFlags>();
  auto* exp = cmd->add_subcommand("export", "write a built-in segmentation dataset as a folder-seg tree");
  exp->add_option("NAME", f->name, "the dataset: fashion-mnist-scenes")->required();
  exp->add_option("DIR", f->out,
                  "the folder to write (created; existing files of the same names are replaced)")
      ->required();
  exp->add_option("--seed", f->seed, "which scenes (the seed they are drawn from)")->capture_default_str();
  exp->add_option("--data", f->data,
                  "the Fashion-MNIST IDX files (default: /usr/share/datasets/fashion-mnist)");
  exp->add_option("--limit", f->limit, "write only the first N scenes of each split (0 = all)")
      ->capture_default_str();
  add_threads_option(*exp, f->threads);
  exp->callback([f] { export_dataset(*f); });
}

}  // namespace resnet::cli
