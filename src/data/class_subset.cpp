// A view of a dataset that keeps some of its classes (relabelled in the order given) and, optionally, only
// the first images of each: the few-shot selections of `resnet train --classes 5,6,7 --per-class 100`.
#include <fmt/format.h>

#include <set>

#include "resnet/data.h"
#include "resnet/error.h"

namespace resnet {
namespace {

class ClassSubset : public Dataset {
 public:
  ClassSubset(std::shared_ptr<const Dataset> base, const std::vector<int>& classes, int64_t per_class)
      : base_(std::move(base)), info_(base_->info()), new_label_(size_t(base_->num_classes()), -1) {
    info_.class_names.clear();
    for (size_t i = 0; i < classes.size(); ++i) {
      new_label_[size_t(classes[i])] = int64_t(i);
      info_.class_names.push_back(base_->class_names()[size_t(classes[i])]);
    }
    std::vector<int64_t> taken(classes.size(), 0);
    for (int64_t index = 0; index < base_->size(); ++index) {
      const int64_t label = new_label_[size_t(base_->label(index))];
      if (label < 0 || (per_class > 0 && taken[size_t(label)] >= per_class)) continue;
      ++taken[size_t(label)];
      indices_.push_back(index);
    }
  }

  const DatasetInfo& info() const override { return info_; }
  int64_t size() const override { return int64_t(indices_.size()); }
  int64_t label(int64_t index) const override { return new_label_[size_t(base_->label(base_index(index)))]; }
  Sample get(int64_t index) const override {
    Sample sample = base_->get(base_index(index));
    sample.label = new_label_[size_t(sample.label)];
    return sample;
  }

 private:
  int64_t base_index(int64_t index) const {
    if (index < 0 || index >= size()) {
      throw InternalError(fmt::format("{}: sample {} out of range [0, {})", info_.name, index, size()));
    }
    return indices_[size_t(index)];
  }

  std::shared_ptr<const Dataset> base_;
  DatasetInfo info_;
  std::vector<int64_t> new_label_;  // by the base's label: the new label, or -1 for a class left out
  std::vector<int64_t> indices_;    // the base's indices kept, in file order
};

}  // namespace

std::unique_ptr<Dataset> select_classes(std::shared_ptr<const Dataset> dataset,
                                        const std::vector<int>& classes, int64_t per_class) {
  const int n = dataset->num_classes();
  if (classes.empty())
    throw InputError(fmt::format("--classes: name at least one class of {}", dataset->info().name));
  std::set<int> seen;
  for (int c : classes) {
    if (c < 0 || c >= n) {
      throw InputError(
          fmt::format("--classes {}: {} has {} classes (0..{})", c, dataset->info().name, n, n - 1));
    }
    if (!seen.insert(c).second) throw InputError(fmt::format("--classes: class {} is named twice", c));
  }
  if (per_class < 0) throw InputError(fmt::format("--per-class {}: must be >= 0", per_class));
  return std::make_unique<ClassSubset>(std::move(dataset), classes, per_class);
}

}  // namespace resnet
