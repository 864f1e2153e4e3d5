// The parameter counts torchvision documents for its ResNets, asserted literally (no fixtures needed).
#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "parity/fixtures.h"
#include "resnet/model.h"
#include "resnet/zoo.h"

namespace resnet::parity {
namespace {

struct PublishedCount {
  std::string model;
  int64_t parameters;
};

void PrintTo(const PublishedCount& c, std::ostream* os) {
  *os << c.model << " " << c.parameters;
}

class ParityPublishedCounts : public ::testing::TestWithParam<PublishedCount> {};

TEST_P(ParityPublishedCounts, ParameterCountEqualsTorchvisionsPublishedNumber) {
  ResNet model(zoo_config(GetParam().model), /*seed=*/0);
  EXPECT_EQ(model.parameter_count(), GetParam().parameters);
}

INSTANTIATE_TEST_SUITE_P(
    Zoo, ParityPublishedCounts,
    ::testing::Values(PublishedCount{"resnet18", 11'689'512}, PublishedCount{"resnet34", 21'797'672},
                      PublishedCount{"resnet50", 25'557'032}, PublishedCount{"resnet101", 44'549'160},
                      PublishedCount{"resnet152", 60'192'808}, PublishedCount{"resnext50_32x4d", 25'028'904},
                      PublishedCount{"resnext101_32x8d", 88'791'336},
                      PublishedCount{"resnext101_64x4d", 83'455'272},
                      PublishedCount{"wide_resnet50_2", 68'883'240},
                      PublishedCount{"wide_resnet101_2", 126'886'696}),
    [](const auto& info) { return param_name(info.param.model); });

TEST(ParityZooNames, ListsTorchvisionsResNetsFirstInTorchvisionsOrder) {
  const auto& names = zoo_names();
  ASSERT_GE(names.size(), torchvision_models().size());
  const std::vector<std::string> first(names.begin(), names.begin() + torchvision_models().size());
  EXPECT_EQ(first, torchvision_models());
}

}  // namespace
}  // namespace resnet::parity
