// CIFAR-10 / CIFAR-100 binary files ("binary version" of https://www.cs.toronto.edu/~kriz/cifar.html).
//
// A file is a sequence of records: the label byte(s) then 3072 pixel bytes, a 32x32 red plane, then green,
// then blue (row-major). CIFAR-10 has one label byte; CIFAR-100 has two (coarse, fine) and we use the fine
// one.
#pragma once

#include <string>
#include <vector>

#include "resnet/image.h"

namespace resnet {

struct CifarFormat {
  const char* name;  // for messages
  int label_bytes;   // per record, before the pixels
  int label_index;   // which of them is the label
  int num_classes;   // labels must be below this
};

inline constexpr CifarFormat kCifar10{"CIFAR-10", 1, 0, 10};
inline constexpr CifarFormat kCifar100{"CIFAR-100", 2, 1, 100};

inline constexpr int kCifarSide = 32;
inline constexpr int kCifarPixelBytes = 3 * kCifarSide * kCifarSide;

// All records of `paths`, in order, as 32x32 RGB images (HWC).
ImageArray read_cifar(const std::vector<std::string>& paths, const CifarFormat& format);

}  // namespace resnet
