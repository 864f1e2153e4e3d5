// The named datasets: their files, class names and statistics, and the in-memory Dataset the IDX and CIFAR
// readers fill.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>

#include "data/folder_dataset.h"
#include "io/cifar.h"
#include "io/idx.h"
#include "resnet/data.h"
#include "resnet/error.h"

namespace resnet {
namespace {

namespace fs = std::filesystem;

const char* const kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

class MemoryDataset : public Dataset {
 public:
  MemoryDataset(ImageArray images, DatasetInfo info) : images_(std::move(images)), info_(std::move(info)) {}

  const DatasetInfo& info() const override { return info_; }
  int64_t size() const override { return images_.count; }
  int64_t label(int64_t index) const override { return images_.labels.at(size_t(index)); }
  Sample get(int64_t index) const override {
    if (index < 0 || index >= images_.count) {
      throw InternalError(
          fmt::format("{}: sample {} out of range [0, {})", info_.name, index, images_.count));
    }
    Sample sample{Image(images_.height, images_.width, images_.channels), images_.labels[size_t(index)]};
    const size_t bytes = sample.image.pixels.size();
    std::copy_n(images_.pixels.data() + size_t(index) * bytes, bytes, sample.image.pixels.data());
    if (info_.channels != images_.channels) sample.image = convert_channels(sample.image, info_.channels);
    return sample;
  }

 private:
  ImageArray images_;
  DatasetInfo info_;
};

DatasetInfo builtin_info(const std::string& name) {
  DatasetInfo info;
  info.name = name;
  if (name == "fashion-mnist") {
    info.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                        "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    info.channels = 1;
    info.image_size = 28;
    info.mean = {0.2860f};
    info.std = {0.3530f};
  } else if (name == "mnist") {
    info.class_names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    info.channels = 1;
    info.image_size = 28;
    info.mean = {0.1307f};
    info.std = {0.3081f};
    info.mirror_invariant = false;  // a mirrored digit is not that digit
  } else if (name == "cifar10") {
    info.class_names = {"airplane", "automobile", "bird",  "cat",  "deer",
                        "dog",      "frog",       "horse", "ship", "truck"};
    info.channels = 3;
    info.image_size = 32;
    info.mean = {0.4914f, 0.4822f, 0.4465f};
    info.std = {0.2470f, 0.2435f, 0.2616f};
  } else if (name == "cifar100") {
    info.class_names = {
        "apple",       "aquarium_fish", "baby",      "bear",       "beaver",       "bed",
        "bee",         "beetle",        "bicycle",   "bottle",     "bowl",         "boy",
        "bridge",      "bus",           "butterfly", "camel",      "can",          "castle",
        "caterpillar", "cattle",        "chair",     "chimpanzee", "clock",        "cloud",
        "cockroach",   "couch",         "crab",      "crocodile",  "cup",          "dinosaur",
        "dolphin",     "elephant",      "flatfish",  "forest",     "fox",          "girl",
        "hamster",     "house",         "kangaroo",  "keyboard",   "lamp",         "lawn_mower",
        "leopard",     "lion",          "lizard",    "lobster",    "man",          "maple_tree",
        "motorcycle",  "mountain",      "mouse",     "mushroom",   "oak_tree",     "orange",
        "orchid",      "otter",         "palm_tree", "pear",       "pickup_truck", "pine_tree",
        "plain",       "plate",         "poppy",     "porcupine",  "possum",       "rabbit",
        "raccoon",     "ray",           "road",      "rocket",     "rose",         "sea",
        "seal",        "shark",         "shrew",     "skunk",      "skyscraper",   "snail",
        "snake",       "spider",        "squirrel",  "streetcar",  "sunflower",    "sweet_pepper",
        "table",       "tank",          "telephone", "television", "tiger",        "tractor",
        "train",       "trout",         "tulip",     "turtle",     "wardrobe",     "whale",
        "willow_tree", "wolf",          "woman",     "worm"};
    info.channels = 3;
    info.image_size = 32;
    info.mean = {0.5071f, 0.4865f, 0.4409f};
    info.std = {0.2673f, 0.2564f, 0.2762f};
  }
  return info;
}

// The statistics follow a channel conversion: gray replicated to RGB keeps its mean and std; RGB to gray
// combines them with the luma weights of convert("L") (an approximation for the std).
DatasetInfo with_channels(DatasetInfo info, int channels) {
  if (channels == 0 || channels == info.channels) return info;
  if (channels != 1 && channels != 3) {
    throw InputError(fmt::format("{}: images can be read as 1 or 3 channels, not {}", info.name, channels));
  }
  auto convert = [&](const std::vector<float>& v) {
    if (channels == 3) return std::vector<float>{v[0], v[0], v[0]};
    return std::vector<float>{0.299f * v[0] + 0.587f * v[1] + 0.114f * v[2]};
  };
  info.mean = convert(info.mean);
  info.std = convert(info.std);
  info.channels = channels;
  return info;
}

void require_directory(const std::string& dir, const std::string& name) {
  if (!fs::is_directory(dir)) throw InputError(fmt::format("{}: no such directory (the {} data)", dir, name));
}

// "<dir>/<base>" if it exists, else "<dir>/<base>.gz".
std::string idx_file(const std::string& dir, const std::string& base) {
  const fs::path plain = fs::path(dir) / base;
  if (fs::exists(plain)) return plain.string();
  const fs::path gz = fs::path(dir) / (base + ".gz");
  if (fs::exists(gz)) return gz.string();
  throw InputError(fmt::format("{}: not found (nor {}.gz)", plain.string(), plain.string()));
}

std::unique_ptr<Dataset> open_idx(const std::string& name, const std::string& dir, Split split,
                                  int channels) {
  const std::string prefix = split == Split::train ? "train" : "t10k";
  DatasetInfo info = builtin_info(name);
  ImageArray images = read_idx_dataset(idx_file(dir, prefix + "-images-idx3-ubyte"),
                                       idx_file(dir, prefix + "-labels-idx1-ubyte"), info.num_classes());
  if (images.height != info.image_size || images.width != info.image_size) {
    throw InputError(fmt::format("{}: {} images are {}x{}, expected {}x{}", dir, name, images.height,
                                 images.width, info.image_size, info.image_size));
  }
  return std::make_unique<MemoryDataset>(std::move(images), with_channels(std::move(info), channels));
}

std::unique_ptr<Dataset> open_cifar(const std::string& name, std::string dir, Split split, int channels) {
  const bool ten = name == "cifar10";
  const std::string first = ten ? (split == Split::train ? "data_batch_1.bin" : "test_batch.bin")
                                : (split == Split::train ? "train.bin" : "test.bin");
  // The tarballs unpack into these folders; accept their parent too.
  const fs::path unpacked = fs::path(dir) / (ten ? "cifar-10-batches-bin" : "cifar-100-binary");
  if (!fs::exists(fs::path(dir) / first) && fs::is_directory(unpacked)) dir = unpacked.string();
  std::vector<std::string> files;
  if (ten && split == Split::train) {
    for (int i = 1; i <= 5; ++i)
      files.push_back((fs::path(dir) / fmt::format("data_batch_{}.bin", i)).string());
  } else {
    files.push_back((fs::path(dir) / first).string());
  }
  return std::make_unique<MemoryDataset>(read_cifar(files, ten ? kCifar10 : kCifar100),
                                         with_channels(builtin_info(name), channels));
}

std::unique_ptr<Dataset> open_folder(const std::string& dir, Split split, int channels) {
  const fs::path train = fs::path(dir) / "train";
  if (!fs::is_directory(train)) {
    throw InputError(fmt::format("{}: no train/ folder (expected {}/train/<class>/<image> and {}/val/...)",
                                 dir, dir, dir));
  }
  std::unique_ptr<Dataset> train_set = open_image_folder(train.string(), channels == 0 ? 3 : channels);
  if (split == Split::train) return train_set;
  for (const char* name : {"val", "test"}) {
    const fs::path eval = fs::path(dir) / name;
    if (fs::is_directory(eval)) {
      return open_image_folder(eval.string(), train_set->channels(), &train_set->class_names());
    }
  }
  throw InputError(fmt::format("{}: no val/ or test/ folder for the evaluation split", dir));
}

}  // namespace

std::unique_ptr<Dataset> make_memory_dataset(ImageArray images, DatasetInfo info) {
  const uint64_t expected =
      uint64_t(images.count) * uint64_t(images.height) * uint64_t(images.width) * uint64_t(images.channels);
  if (images.count < 0 || images.pixels.size() != expected ||
      images.labels.size() != uint64_t(images.count)) {
    throw InputError(fmt::format("{}: {} pixel bytes and {} labels for {} images of {}x{}x{}", info.name,
                                 images.pixels.size(), images.labels.size(), images.count, images.height,
                                 images.width, images.channels));
  }
  if (info.class_names.empty()) throw InputError(fmt::format("{}: no class names", info.name));
  for (size_t i = 0; i < images.labels.size(); ++i) {
    if (images.labels[i] < 0 || images.labels[i] >= info.num_classes()) {
      throw InputError(fmt::format("{}: label {} of sample {} is out of range for {} classes", info.name,
                                   images.labels[i], i, info.num_classes()));
    }
  }
  if (info.channels == 0) info.channels = images.channels;
  if (info.image_size == 0 && images.height == images.width) info.image_size = images.height;
  return std::make_unique<MemoryDataset>(std::move(images), std::move(info));
}

std::vector<std::string> dataset_names() {
  return {"fashion-mnist", "mnist", "cifar10", "cifar100", "folder"};
}

std::string default_data_dir(const std::string& name) {
  return name == "fashion-mnist" ? kFashionMnistDir : "";
}

std::unique_ptr<Dataset> open_dataset(const std::string& name, const std::string& data_dir, Split split,
                                      const DatasetOptions& options) {
  const std::vector<std::string> names = dataset_names();
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    throw InputError(fmt::format("unknown dataset '{}' (expected one of: {})", name, fmt::join(names, ", ")));
  }
  const std::string dir = data_dir.empty() ? default_data_dir(name) : data_dir;
  if (dir.empty()) throw InputError(fmt::format("dataset {}: no data directory given (--data DIR)", name));
  require_directory(dir, name);
  if (name == "folder") return open_folder(dir, split, options.channels);
  if (name == "fashion-mnist" || name == "mnist") return open_idx(name, dir, split, options.channels);
  return open_cifar(name, dir, split, options.channels);
}

}  // namespace resnet
