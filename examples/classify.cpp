// The smallest program a user copies: build resnet50, load torchvision weights, classify one tensor.
//   classify resnet50.pth        (weights from torch.save(torchvision.models.resnet50(...).state_dict()))
#include <resnet/load_state_dict.h>
#include <resnet/model.h>
#include <resnet/weights.h>
#include <resnet/zoo.h>

#include <algorithm>
#include <iostream>

int main(int argc, char** argv) {
  resnet::ResNet model(resnet::zoo_config("resnet50"));
  if (argc > 1) resnet::load_state_dict(model, resnet::load_weights(argv[1]), /*strict=*/true, argv[1]);
  model.set_training(false);

  resnet::Tensor image = resnet::Tensor::full({1, 224, 224, 3}, 0.5f);  // [N, H, W, C], normalized pixels
  resnet::Tensor logits = model.forward(image);                         // [1, 1000]

  const float* scores = logits.f32();
  const int64_t best = std::max_element(scores, scores + logits.dim(1)) - scores;
  std::cout << "class " << best << " (logit " << scores[best] << ")\n";
}
