// The segmentation datasets by name, and writing one out as a folder-seg tree.
#include "data/segmentation_datasets.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <exception>
#include <filesystem>

#include "io/atomic_file.h"
#include "io/image.h"
#include "resnet/error.h"

namespace resnet {

namespace fs = std::filesystem;

std::vector<std::string> segmentation_dataset_names() {
  return {"folder-seg", "fashion-mnist-scenes"};
}

std::unique_ptr<SegmentationDataset> open_segmentation_dataset(const std::string& name,
                                                               const std::string& data_dir, Split split,
                                                               const SegmentationOptions& options) {
  if (options.ignore_index < 0 || options.ignore_index > 255) {
    throw InputError(
        fmt::format("--ignore-index {}: must be in 0..255 (masks are 8-bit)", options.ignore_index));
  }
  if (name == "fashion-mnist-scenes") {
    return open_fashion_mnist_scenes(data_dir, split, options);
  }
  if (name == "folder-seg") {
    if (data_dir.empty()) throw InputError("dataset folder-seg: no data directory given (--data DIR)");
    if (!fs::is_directory(data_dir))
      throw InputError(fmt::format("{}: no such directory (the folder-seg data)", data_dir));
    return open_folder_segmentation(data_dir, split, options);
  }
  throw InputError(fmt::format("unknown segmentation dataset '{}' (expected one of: {})", name,
                               fmt::join(segmentation_dataset_names(), ", ")));
}

int64_t write_segmentation_split(const SegmentationDataset& dataset, const std::string& split_dir,
                                 int64_t count) {
  const int64_t n = count > 0 ? std::min(count, dataset.size()) : dataset.size();
  const fs::path images = fs::path(split_dir) / "images", masks = fs::path(split_dir) / "masks";
  std::error_code error;
  for (const fs::path& dir : {images, masks}) {
    fs::create_directories(dir, error);
    if (error) throw InputError(fmt::format("{}: cannot create ({})", dir.string(), error.message()));
  }
  // Scenes are independent: written in parallel, each file atomically (AtomicFile).
  std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t i = 0; i < n; ++i) {
    try {
      const SegmentationSample sample = dataset.get(i);
      const std::string stem = fmt::format("{:05d}", i);
      write_file_atomic((images / (stem + ".png")).string(), encode_png(sample.image));
      write_file_atomic((masks / (stem + ".png")).string(), encode_png(sample.mask));
    } catch (...) {
#pragma omp critical
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  return n;
}

void write_class_names(const std::vector<std::string>& class_names, const std::string& data_dir) {
  std::string text;
  for (const std::string& name : class_names) text += name + "\n";
  write_file_atomic((fs::path(data_dir) / "classes.txt").string(), text);
}

}  // namespace resnet
