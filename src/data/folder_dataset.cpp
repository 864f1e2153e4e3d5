#include "data/folder_dataset.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "resnet/error.h"

namespace resnet {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// torchvision's IMG_EXTENSIONS that we refuse (rather than silently skip); is_decodable_image is the rest.
bool is_other_image(const std::string& ext) {
  return ext == ".ppm" || ext == ".bmp" || ext == ".pgm" || ext == ".tif" || ext == ".tiff" || ext == ".webp";
}

// Every directory under `dir` (itself included), following symbolic links but visiting each real directory
// once.
void collect_directories(const fs::path& dir, std::set<fs::path>& seen, std::vector<fs::path>& out) {
  if (!seen.insert(fs::canonical(dir)).second) return;
  out.push_back(dir);
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory()) collect_directories(entry.path(), seen, out);
  }
}

enum class OtherImages { refuse, skip };

// The images under `root` in torchvision's order: sorted(os.walk(root)), then sorted file names. Files of
// image formats we do not decode are refused (a class folder) or skipped (find_images).
std::vector<std::string> list_images(const fs::path& root, OtherImages other) {
  std::set<fs::path> seen;
  std::vector<fs::path> dirs;
  collect_directories(root, seen, dirs);
  std::sort(dirs.begin(), dirs.end(),
            [](const fs::path& a, const fs::path& b) { return a.string() < b.string(); });
  std::vector<std::string> images;
  for (const fs::path& dir : dirs) {
    std::vector<std::string> names;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      const std::string ext = lower(entry.path().extension().string());
      if (other == OtherImages::refuse && is_other_image(ext)) {
        throw InputError(
            fmt::format("{}: {} images are not supported (only JPEG and PNG)", entry.path().string(), ext));
      }
      if (is_decodable_image(entry.path())) names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) images.push_back((dir / name).string());
  }
  return images;
}

class FolderDataset : public Dataset {
 public:
  FolderDataset(DatasetInfo info, std::vector<std::string> paths, std::vector<int64_t> labels)
      : info_(std::move(info)), paths_(std::move(paths)), labels_(std::move(labels)) {}

  const DatasetInfo& info() const override { return info_; }
  int64_t size() const override { return static_cast<int64_t>(paths_.size()); }
  Sample get(int64_t index) const override {
    return {read_image(paths_.at(size_t(index)), info_.channels), label(index)};
  }
  int64_t label(int64_t index) const override { return labels_.at(size_t(index)); }

 private:
  DatasetInfo info_;
  std::vector<std::string> paths_;
  std::vector<int64_t> labels_;
};

}  // namespace

bool is_decodable_image(const std::filesystem::path& file) {
  const std::string ext = lower(file.extension().string());
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

std::unique_ptr<Dataset> open_image_folder(const std::string& root, int channels,
                                           const std::vector<std::string>* classes) {
  if (channels != 1 && channels != 3) {
    throw InputError(fmt::format("{}: image folders are read as 1 or 3 channels, not {}", root, channels));
  }
  DatasetInfo info;
  info.name = "folder";
  info.channels = channels;
  // ImageNet's statistics; for gray, combined with the luma weights of convert("L") (an approximation).
  info.mean = imagenet_info().mean;
  info.std = imagenet_info().std;
  if (channels == 1) {
    info.mean = {0.299f * info.mean[0] + 0.587f * info.mean[1] + 0.114f * info.mean[2]};
    info.std = {0.299f * info.std[0] + 0.587f * info.std[1] + 0.114f * info.std[2]};
  }

  std::vector<std::string> paths;
  std::vector<int64_t> labels;
  try {
    if (!fs::is_directory(root)) throw InputError(fmt::format("{}: no such directory", root));
    std::vector<std::string> found;
    for (const fs::directory_entry& entry : fs::directory_iterator(root)) {
      if (entry.is_directory()) found.push_back(entry.path().filename().string());
    }
    std::sort(found.begin(), found.end());
    if (found.empty()) {
      throw InputError(
          fmt::format("{}: no class folders (expected {}/<class>/<image>.jpg or .png)", root, root));
    }
    info.class_names = classes != nullptr ? *classes : found;
    for (const std::string& name : found) {
      auto it = std::find(info.class_names.begin(), info.class_names.end(), name);
      if (it == info.class_names.end()) {
        throw InputError(fmt::format("{}/{}: class '{}' is not one of the {} training classes", root, name,
                                     name, info.class_names.size()));
      }
      std::vector<std::string> images = list_images(fs::path(root) / name, OtherImages::refuse);
      if (images.empty()) throw InputError(fmt::format("{}/{}: no .jpg, .jpeg or .png files", root, name));
      for (std::string& image : images) {
        paths.push_back(std::move(image));
        labels.push_back(it - info.class_names.begin());
      }
    }
  } catch (const fs::filesystem_error& e) {
    throw InputError(fmt::format("{}: {}", e.path1().string(), e.code().message()));
  }
  return std::make_unique<FolderDataset>(std::move(info), std::move(paths), std::move(labels));
}

std::vector<std::string> find_images(const std::string& dir) {
  try {
    if (!fs::is_directory(dir)) throw InputError(fmt::format("{}: no such directory", dir));
    return list_images(dir, OtherImages::skip);
  } catch (const fs::filesystem_error& e) {
    throw InputError(fmt::format("{}: {}", e.path1().string(), e.code().message()));
  }
}

}  // namespace resnet
