// ImageNet-1k as torchvision's pretrained classifiers describe it (the class names are generated into
// imagenet_classes.cpp).
#include "resnet/data.h"

namespace resnet {

DatasetInfo imagenet_info() {
  DatasetInfo info;
  info.name = "imagenet";
  info.class_names = imagenet_class_names();
  info.channels = 3;
  info.image_size = 0;  // any size: the eval transform resizes and crops
  info.mean = {0.485f, 0.456f, 0.406f};
  info.std = {0.229f, 0.224f, 0.225f};
  return info;
}

}  // namespace resnet
