// The segmentation datasets open_segmentation_dataset dispatches to (resnet/segmentation_data.h describes
// them).
#pragma once

#include <memory>
#include <string>

#include "resnet/segmentation_data.h"

namespace resnet {

std::unique_ptr<SegmentationDataset> open_fashion_mnist_scenes(const std::string& data_dir, Split split,
                                                               const SegmentationOptions& options);
std::unique_ptr<SegmentationDataset> open_folder_segmentation(const std::string& data_dir, Split split,
                                                              const SegmentationOptions& options);

}  // namespace resnet
