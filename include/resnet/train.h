// Training and evaluation: the loop behind `resnet train`, its checkpoints, and the measurements behind
// `resnet eval`.
//
//   resnet::TrainConfig config;
//   config.arch = "resnet20";
//   config.dataset = "fashion-mnist";
//   config.epochs = 5;
//   config.out_dir = "runs/fmnist";
//   resnet::TrainSummary summary = resnet::train(resolve_train_config(config));
//
// One epoch: the training split in a seeded order (Loader), for each batch forward -> softmax cross-entropy
// (segmentation: the --loss per pixel) -> backward -> optimizer step with the schedule's lr, then evaluation
// on the test split, then a checkpoint. Everything random (model init, sample order, augmentation) is a
// function of (seed, epoch, sample), so a run resumed at an epoch boundary continues exactly as the
// uninterrupted run would (bit for bit with one thread).
//
// Two tasks share the loop (src/train/train_task.h): classification (a zoo ResNet, softmax cross-entropy,
// top-1 accuracy) and segmentation (a U-Net "unet-<encoder>", resnet/unet.h; ce | dice | ce+dice with an
// ignore index, resnet/segmentation_loss.h; pixel accuracy, mIoU and per-class IoU).
//
// Files in out_dir (each written to a temp name and renamed, see src/train/checkpoint.h for the order):
//   config.json         the resolved TrainConfig, and the dataset's info (class names, channels, mean/std)
//   metrics.csv         epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds (accuracies are fractions);
//                       --ema adds ema_test_loss,ema_test_acc after seconds;
//                       segmentation: epoch,train_loss,train_acc,test_loss,test_acc,test_miou,lr,seconds
//                       (acc = pixel accuracy)
//   class_iou.csv       segmentation only: epoch, then the test IoU of each class (a column per class name)
//   curves.png          loss and accuracy per epoch (segmentation: loss, and mIoU with pixel accuracy)
//   last.safetensors    the model's state_dict after the last completed epoch (torchvision / smp names)
//   best.safetensors    the state_dict of the epoch with the highest test accuracy (segmentation: test mIoU);
//                       with --ema the better of the raw and the averaged weights (its metadata "weights":
//                       raw | ema; state.json's "best_weights" says the same)
//   state.safetensors   what --resume reads: model, optimizer state and the run's progress, one file
//   state.json          a readable copy of the progress part (informational; resume reads state.safetensors)
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "resnet/data.h"
#include "resnet/error.h"
#include "resnet/model.h"
#include "resnet/segmentation_data.h"

namespace resnet {

class Communicator;  // src/core/communicator.h

struct TrainConfig {
  // The task: "classification" (a zoo ResNet) or "segmentation" (a U-Net, "unet-<encoder>").
  std::string task = "classification";

  // The model and the data.
  std::string arch;  // a zoo name (resnet18 ... wide_resnet101_2, resnet20 ... resnet1202; unet-resnet34 ...)
  std::string
      dataset;  // fashion-mnist | mnist | cifar10 | cifar100 | folder; fashion-mnist-scenes | folder-seg
  std::string data_dir;      // "" = default_data_dir(dataset)
  std::string stem;          // "" = the architecture's own; "imagenet" | "cifar"
  int image_size = 0;        // 0 = the dataset's own (folders: 224)
  bool augment = true;       // the dataset's training transform (random crop, flip); false = eval transform
  int64_t subset = 0;        // > 0: train on the first `subset` training images only
  int64_t test_subset = 0;   // > 0: evaluate on the first `test_subset` test images only
  std::vector<int> classes;  // non-empty: only these classes (both splits), relabelled 0..k-1 in this order
  int64_t per_class = 0;     // > 0: the first per_class training images of each class only

  // Segmentation only (the classification defaults are "" / 255 / 0 / empty and any other value is refused).
  std::string loss;                   // "" = "ce"; ce | dice | ce+dice (resnet/segmentation_loss.h)
  int ignore_index = 255;             // mask value of pixels that belong to no class (0..255)
  int encoder_depth = 0;              // 0 = 5; smp's encoder_depth, 3..5
  std::vector<int> decoder_channels;  // empty = smp's default for the depth (256,128,64,32,16 cut to it)

  // Transfer learning (resnet/pretrained.h).
  std::string init_weights;           // "" = from scratch; else the weights the model starts from
  bool non_strict = false;            // skip and report the init tensors that do not fit instead of failing
  std::string freeze;                 // "" | stem | layer1 .. layer4 | backbone (ResNet/UNet::freeze)
  std::optional<double> lr_backbone;  // the lr of every parameter but the classifier's (U-Net: the
                                      // encoder's); default: lr
  float dropout = 0.0f;               // Dropout2d on each block's residual branch (ResNetConfig::dropout)
  std::string init_report;  // what --init-weights loaded (PretrainedReport::describe), for the record

  // The optimisation.
  int64_t epochs = 30;
  int64_t batch_size = 128;
  int64_t max_steps_per_epoch = 0;     // > 0: at most this many optimizer steps per epoch
  std::string optimizer = "sgd";       // sgd | adamw
  std::optional<double> lr;            // default: 0.1 (sgd), 1e-3 (adamw)
  std::optional<double> weight_decay;  // default: sgd 5e-4 (small-image models) or 1e-4; adamw 1e-2
  double momentum = 0.9;               // SGD momentum; AdamW beta1
  bool nesterov = false;
  bool decay_bn_and_bias = true;    // false: no weight decay on BN parameters and biases
  std::string schedule = "cosine";  // constant | step | multistep | cosine | onecycle
  int64_t warmup_epochs = 0;
  double label_smoothing = 0.0;
  double clip_grad_norm = 0.0;  // > 0: clip the global gradient norm to this

  // torchvision's recipe (references/classification/train.py), classification only; docs/CLI.md.
  double ema = 0.0;        // > 0: --ema DECAY, an EMA of the weights and BN buffers (src/train/ema.h)
  int64_t ema_steps = 32;  // the EMA is updated every ema_steps steps of an epoch (its batches 0, N, ...)
  double mixup = 0.0;      // > 0: MixUp(alpha) on each batch (with cutmix: one of the two, p 0.5 each)
  double cutmix = 0.0;     // > 0: CutMix(alpha)
  double random_erasing = 0.0;        // RandomErasing(p) after Normalize; 0 = off
  std::string auto_augment = "none";  // ta_wide | ra | none (after the crop and flip, on u8 pixels)
  std::string precision = "f32";
  uint64_t seed = 0;
  // Data-parallel runs (mpirun): batch norm with the statistics of the whole global batch over all ranks
  // (torch's SyncBatchNorm); false: each rank's own slice, as DDP. No effect in a single process.
  bool sync_bn = false;

  // Where the run lives.
  std::string out_dir;
  bool resume = false;

  // Execution: results do not depend on these except through the compute thread count (reductions in
  // oneDNN); they may differ between a run and its resumption.
  int threads = 0;  // compute threads; 0 = all cores
  int workers = 2;  // loader threads decoding and augmenting ahead; 0 = on the training thread
  // The f32 3x3 stride-1 convolutions (channels multiples of 16) forward and backward-data as Winograd
  // F(4x4, 3x3) where faster (src/dnnl/conv_winograd.h); false: oneDNN's direct convolution (--no-winograd).
  // Changes the rounding only, as threads does; a resumed run keeps its run's choice unless given.
  bool winograd = true;
  // An image that cannot be read (a corrupt file in a folder dataset) is logged once and left out of its
  // batch, and metrics.csv counts them per epoch (skipped_images); false: it stops the run (InputError).
  // May be turned on when resuming.
  bool skip_bad_images = false;
};

// Fills the defaults that depend on other fields (lr, weight_decay, stem) and checks every value. Throws
// InputError naming the flag ("--lr -1: must be positive").
TrainConfig resolve_train_config(TrainConfig config);

// The resolved config as JSON (what config.json holds) and back. from_json throws InputError naming `source`.
std::string train_config_to_json(const TrainConfig& config);
TrainConfig train_config_from_json(const std::string& json, const std::string& source);
// The fields whose values change the trained weights (everything except out_dir, resume, threads, workers,
// winograd),
// by their CLI flag name ("--lr"), for checking a resumed run against its checkpoint.
std::vector<std::string> train_config_differences(const TrainConfig& a, const TrainConfig& b);

// The model `arch` as trained on a dataset: its channels and classes, and the stem ("" = the arch's own).
ResNetConfig model_config_for(const std::string& arch, const std::string& stem, const DatasetInfo& info);

bool is_segmentation(const TrainConfig& config);

struct EpochMetrics {
  int64_t epoch = 0;                         // 1-based
  double train_loss = 0.0, train_acc = 0.0;  // segmentation: acc = pixel accuracy
  double test_loss = 0.0, test_acc = 0.0;
  std::optional<double> test_miou;  // segmentation only (its presence marks a segmentation run's metrics)
  std::vector<double> class_iou;    // segmentation only: the test IoU of each class
  double lr = 0.0;                  // the lr of the epoch's last optimizer step
  double seconds = 0.0;             // wall time of the epoch, training and evaluation
  std::optional<int64_t> skipped_images;  // --skip-bad-images: images of both splits left out this epoch
  // --ema: the test split with the averaged weights (metrics.csv's ema_test_loss, ema_test_acc).
  std::optional<double> ema_test_loss, ema_test_acc;
};

struct TrainSummary {
  std::vector<EpochMetrics> history;  // every completed epoch of the run, including earlier sessions
  int64_t first_epoch = 1;            // the epoch this call started at (> 1 when resumed)
  int64_t best_epoch = 0;
  double best_test_acc = 0.0;  // segmentation: the best test mIoU
  bool finished = false;       // all config.epochs epochs are done
  // > 0: TrainHooks::stop_requested stopped the run in this epoch (1-based), which was abandoned: nothing of
  // it was written, the checkpoint of the epoch before it (if any) is the run's state, and --resume redoes
  // it.
  int64_t interrupted_in_epoch = 0;
};

// A run whose loss or gradients became NaN or infinite. The checkpoint of the last completed epoch is kept.
class TrainingDiverged : public InputError {
 public:
  using InputError::InputError;
};

struct TrainHooks {
  // After each epoch's checkpoint is committed. Returning false stops the run there, as an interruption
  // would (the run can be resumed).
  std::function<bool(const EpochMetrics&)> on_epoch_end;
  // Datasets to use instead of opening config.dataset from config.data_dir (tests, embedding programs).
  std::shared_ptr<const Dataset> train_set, test_set;
  std::shared_ptr<const SegmentationDataset> segmentation_train_set, segmentation_test_set;
  std::ostream* log = nullptr;  // one line per epoch; null = std::cout
  bool progress = true;         // the per-epoch progress bar on stderr
  // Asked before each optimizer step and after each evaluation batch (never while a checkpoint is written);
  // true stops the run there: the epoch in progress is abandoned and train() returns with
  // TrainSummary::interrupted_in_epoch set. `resnet train` answers it from SIGINT/SIGTERM.
  std::function<bool()> stop_requested;
  // Data-parallel training (src/core/communicator.h; `resnet train` makes it from the mpirun launch): rank r
  // of size() ranks trains on its slice of every global batch of config.batch_size, gradients are summed over
  // the ranks, and only rank 0 writes files, the log and the progress bar. Null: one process.
  Communicator* communicator = nullptr;
};

// Trains as `config` (already resolved) says. Throws InputError for bad input (nothing is written before the
// datasets open and the flags check), TrainingDiverged for NaN/inf, InternalError for bugs.
TrainSummary train(const TrainConfig& config, const TrainHooks& hooks = {});

// ---------------------------------------------------------------------------------------------------------------
// Evaluation

struct EvalResult {
  std::vector<std::string> class_names;
  int64_t count = 0;
  double loss = 0.0;  // mean softmax cross-entropy (with the given label smoothing)
  int64_t top1_correct = 0, top5_correct = 0;
  std::vector<std::vector<int64_t>> confusion;  // [true class][predicted class]

  double top1() const { return count > 0 ? double(top1_correct) / double(count) : 0.0; }
  double top5() const { return count > 0 ? double(top5_correct) / double(count) : 0.0; }
  int64_t class_count(size_t c) const;    // test images of class c
  double class_accuracy(size_t c) const;  // top-1 within class c; 0 if it has no images
};

// Called with each evaluated batch and its logits [B, classes].
using BatchObserver = std::function<void(const Batch& batch, const Tensor& logits)>;

// Runs `model` in eval mode over every batch of `loader` (epoch 0). `observer` may be empty.
EvalResult evaluate(ResNet& model, Loader& loader, double label_smoothing = 0.0,
                    const BatchObserver& observer = {});

// The confusion matrix as a heat map (rows: true class, columns: predicted), with class names; a PNG.
void write_confusion_png(const EvalResult& result, const std::string& path, const std::string& title);
// Loss and accuracy per epoch (train and test), two panels with labelled axes and a legend; a PNG.
void write_curves_png(const std::vector<EpochMetrics>& history, const std::string& path,
                      const std::string& title);

// Several runs side by side: test accuracy and training loss per epoch, one line per run; a PNG.
struct NamedHistory {
  std::string name;
  std::vector<EpochMetrics> history;
};
void write_runs_png(const std::vector<NamedHistory>& runs, const std::string& path, const std::string& title);
// He et al. 2015 Fig. 6: training error (thin) and test error (bold) per epoch, in percent, of plain networks
// (left) and ResNets (right), the i-th run of each side in the i-th colour (one per depth), on one error
// axis; the legend names the bold lines by their runs' names; a PNG.
void write_degradation_png(const std::vector<NamedHistory>& plain, const std::vector<NamedHistory>& residual,
                           const std::string& path, const std::string& title);
// A run's metrics.csv read back (either header: a segmentation run's rows have test_miou). Throws InputError
// naming the file and line.
std::vector<EpochMetrics> read_metrics_csv(const std::string& path);

}  // namespace resnet
