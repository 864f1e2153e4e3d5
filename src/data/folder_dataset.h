// ImageFolder: root/<class>/**/<image>.{jpg,jpeg,png}, decoded lazily, one file per get().
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "resnet/data.h"

namespace resnet {

// Whether `file` is an image we decode, by its extension in any case: .jpg, .jpeg or .png (torchvision's
// IMG_EXTENSIONS less the formats we refuse).
bool is_decodable_image(const std::filesystem::path& file);

// Classes are the sorted sub-folder names of `root` (torchvision's ImageFolder), or, if `classes` is given
// (the training split's), those names in that order, so that a validation folder gets the same label numbers.
// Images are ordered as torchvision does: by class, then by sorted directory path, then by sorted file name.
// channels: 1 or 3; mean/std are ImageNet's.
std::unique_ptr<Dataset> open_image_folder(const std::string& root, int channels,
                                           const std::vector<std::string>* classes = nullptr);

}  // namespace resnet
