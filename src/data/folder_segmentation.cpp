// folder-seg: DIR/{train,test}/images/<stem>.{png,jpg,jpeg} with DIR/{train,test}/masks/<stem>.png.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "data/folder_dataset.h"
#include "data/segmentation_datasets.h"
#include "io/image.h"
#include "resnet/error.h"

namespace resnet {
namespace {

namespace fs = std::filesystem;

struct Pair {
  std::string image, mask;
};

// The images of split_dir/images/ (sorted by name) and their masks; InputError naming a missing mask.
std::vector<Pair> list_pairs(const fs::path& split_dir) {
  const fs::path images = split_dir / "images", masks = split_dir / "masks";
  for (const fs::path& dir : {images, masks}) {
    if (!fs::is_directory(dir)) {
      throw InputError(fmt::format("{}: no such directory (folder-seg expects {}/images/ and {}/masks/)",
                                   dir.string(), split_dir.string(), split_dir.string()));
    }
  }
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(images)) {
    if (entry.is_regular_file() && is_decodable_image(entry.path()))
      names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  if (names.empty()) throw InputError(fmt::format("{}: no .png, .jpg or .jpeg images", images.string()));
  std::vector<Pair> pairs;
  for (const std::string& name : names) {
    const fs::path mask = masks / (fs::path(name).stem().string() + ".png");
    if (!fs::is_regular_file(mask)) {
      throw InputError(
          fmt::format("{}: no mask for it (expected {})", (images / name).string(), mask.string()));
    }
    pairs.push_back({(images / name).string(), mask.string()});
  }
  return pairs;
}

// classes.txt: one name per line (trailing empty lines and \r dropped).
std::vector<std::string> read_class_names(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot read", path.string()));
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    names.push_back(line);
  }
  while (!names.empty() && names.back().empty()) names.pop_back();
  if (names.empty()) throw InputError(fmt::format("{}: no class names", path.string()));
  return names;
}

// "0".."K-1", K = the largest mask value other than the ignore index over `pairs` + 1.
std::vector<std::string> numbered_classes(const std::vector<Pair>& pairs, int ignore_index) {
  int largest = 0;
  for (const Pair& pair : pairs) {
    for (const uint8_t v : read_index_png(pair.mask).pixels)
      if (v != ignore_index) largest = std::max(largest, int(v));
  }
  std::vector<std::string> names;
  for (int k = 0; k <= largest; ++k) names.push_back(std::to_string(k));
  return names;
}

class FolderSegmentation : public SegmentationDataset {
 public:
  FolderSegmentation(DatasetInfo info, std::vector<Pair> pairs, int ignore_index)
      : info_(std::move(info)), pairs_(std::move(pairs)), ignore_index_(ignore_index) {}

  const DatasetInfo& info() const override { return info_; }
  int ignore_index() const override { return ignore_index_; }
  int64_t size() const override { return int64_t(pairs_.size()); }
  SegmentationSample get(int64_t index) const override {
    const Pair& pair = pairs_.at(size_t(index));
    SegmentationSample sample{read_image(pair.image, info_.channels), read_index_png(pair.mask)};
    if (sample.mask.height != sample.image.height || sample.mask.width != sample.image.width) {
      throw InputError(fmt::format("{}: mask is {}x{} but its image {} is {}x{} (HxW)", pair.mask,
                                   sample.mask.height, sample.mask.width, pair.image, sample.image.height,
                                   sample.image.width));
    }
    for (size_t i = 0; i < sample.mask.pixels.size(); ++i) {
      const int v = sample.mask.pixels[i];
      if (v >= num_classes() && v != ignore_index_) {
        throw InputError(
            fmt::format("{}: pixel (y {}, x {}) has class {}, but there are {} classes (0..{}) "
                        "and the ignore index is {}",
                        pair.mask, i / size_t(sample.mask.width), i % size_t(sample.mask.width), v,
                        num_classes(), num_classes() - 1, ignore_index_));
      }
    }
    return sample;
  }

 private:
  DatasetInfo info_;
  std::vector<Pair> pairs_;
  int ignore_index_;
};

// 1 for a gray (or gray + alpha) image, 3 otherwise.
int channels_of(const std::string& image_path) {
  const Image image = read_image(image_path);
  return image.channels <= 2 ? 1 : 3;
}

}  // namespace

std::unique_ptr<SegmentationDataset> open_folder_segmentation(const std::string& data_dir, Split split,
                                                              const SegmentationOptions& options) {
  if (options.channels != 0 && options.channels != 1 && options.channels != 3) {
    throw InputError(
        fmt::format("{}: folder-seg images are read as 1 or 3 channels, not {}", data_dir, options.channels));
  }
  try {
    const fs::path root(data_dir);
    const std::vector<Pair> train = list_pairs(root / "train");
    DatasetInfo info;
    info.name = "folder-seg";
    const fs::path classes = root / "classes.txt";
    info.class_names =
        fs::exists(classes) ? read_class_names(classes) : numbered_classes(train, options.ignore_index);
    info.channels = options.channels != 0 ? options.channels : channels_of(train.front().image);
    info.image_size = 0;  // folders may hold images of any size
    const DatasetInfo imagenet = imagenet_info();
    info.mean = imagenet.mean;
    info.std = imagenet.std;
    if (info.channels == 1) {  // luma-weighted, as classification folders read as gray
      info.mean = {0.299f * info.mean[0] + 0.587f * info.mean[1] + 0.114f * info.mean[2]};
      info.std = {0.299f * info.std[0] + 0.587f * info.std[1] + 0.114f * info.std[2]};
    }
    std::vector<Pair> pairs = split == Split::train ? train : list_pairs(root / "test");
    return std::make_unique<FolderSegmentation>(std::move(info), std::move(pairs), options.ignore_index);
  } catch (const fs::filesystem_error& e) {
    throw InputError(fmt::format("{}: {}", e.path1().string(), e.code().message()));
  }
}

}  // namespace resnet
