// The files of a training run and the order they are written in.
//
// state.safetensors is the commit point: one file holding everything --resume needs (the model's state_dict
// under "model.", the optimizer's state under "optimizer.", and the run's progress as JSON bytes in the u8
// tensor "run.json"). It is written (temp name + rename) before the files derived from it, and a resumed run
// rewrites those from it first. So a kill at any moment leaves:
//   - state.safetensors: the last committed epoch, complete (or absent before the first epoch ends);
//   - every other file complete: either as of the committed epoch or, if the kill fell between the commit
//     and their rewrite, one epoch behind it. --resume re-derives them from the state.
// Epoch-end order: state.safetensors -> last.safetensors -> best.safetensors (if the epoch is the best)
// -> metrics.csv -> class_iou.csv (segmentation) -> curves.png -> state.json.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "resnet/data.h"
#include "resnet/model.h"
#include "resnet/optim.h"
#include "resnet/train.h"
#include "train/ema.h"

namespace resnet {

// The run's progress: what a resumed run continues from.
struct RunProgress {
  int64_t epochs_done = 0;
  int64_t step = 0;  // optimizer steps taken
  int64_t best_epoch = 0;
  double best_test_acc = -1.0;  // the best score: test accuracy, or test mIoU for segmentation
  bool best_is_ema = false;     // --ema: the best epoch's averaged weights scored higher than its raw ones
  std::vector<EpochMetrics> history;
};

struct RunFiles {
  explicit RunFiles(std::string dir);
  std::string dir;
  std::string config_json() const;
  std::string metrics_csv() const;
  std::string class_iou_csv() const;
  std::string curves_png() const;
  std::string last_weights() const;
  std::string best_weights() const;
  std::string state() const;
  std::string state_json() const;
};

struct RunState {
  StateDict model;
  StateDict optimizer;
  StateDict ema;  // --ema: WeightAverage::state_dict("ema.") (names keep the prefix); empty otherwise
  RunProgress progress;
  TrainConfig config;
};

// Writes config.json (atomically): the config, and under "dataset_info" what a user of the trained weights
// needs to know about the data (`resnet predict` reads it): {"name", "class_names", "channels", "image_size"
// (the dataset's own side; 0 = images of any size, a folder), "mean", "std" (Normalize, per channel)}. The
// side the model learnt from is the config's "image_size" if not 0, else the dataset's (224 for folders).
void write_run_config(const RunFiles& files, const TrainConfig& config, const DatasetInfo& data);
// The config.json of an existing run. Throws InputError naming the file.
TrainConfig read_run_config(const RunFiles& files);
// Its "dataset_info"; nullopt for a run written before that key existed.
std::optional<DatasetInfo> read_run_dataset_info(const RunFiles& files);

// Commits an epoch and rewrites the derived files, in the order above (data: the class names of
// class_iou.csv). A write that fails (disk full, file too large, folder gone or read-only) is an InputError
// naming the file and saying what the run keeps: before the commit, the previous epoch's checkpoint (no file
// of it touched); after it, this epoch's (--resume rewrites the derived files).
// --ema: `ema` is committed with the rest (under "ema.") and is what best.safetensors holds when
// progress.best_is_ema.
void save_epoch(const RunFiles& files, const TrainConfig& config, const DatasetInfo& data, Module& model,
                const Optimizer& optimizer, const RunProgress& progress, const WeightAverage* ema = nullptr);
// Reads state.safetensors. Throws InputError naming the file if it is missing, corrupt or not a run state.
RunState load_run_state(const RunFiles& files);
// Whether `tensors` (a safetensors file's) are a training state, and the model's state_dict within them.
bool is_run_state(const StateDict& tensors);
StateDict model_of_run_state(const StateDict& tensors);
// Rewrites the files derived from a committed state (after a kill they may lag it by an epoch).
void rewrite_derived_files(const RunFiles& files, const TrainConfig& config, const DatasetInfo& data,
                           Module& model, const RunProgress& progress, const WeightAverage* ema = nullptr);
// What a run stopped now keeps, for error messages: "the checkpoint of epoch N in DIR is kept: `resnet train
// --out DIR --resume` continues from it", or that there is none (epochs_done = 0).
std::string describe_kept_checkpoint(const std::string& out_dir, int64_t epochs_done);
// Removes "<file>.tmp.<pid>" leftovers of killed runs.
void remove_stale_temp_files(const RunFiles& files);

// metrics.csv: the header "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds" and one row per epoch;
// a segmentation run's (rows with test_miou): "epoch,train_loss,train_acc,test_loss,test_acc,test_miou,lr,
// seconds".
std::string metrics_csv(const std::vector<EpochMetrics>& history);
// class_iou.csv: "epoch,<class name>,..." and the test IoU of each class per epoch.
std::string class_iou_csv(const std::vector<EpochMetrics>& history, const std::vector<std::string>& names);
// The score that picks best.safetensors: test mIoU for segmentation, else test accuracy (--ema: the better of
// the raw and the averaged weights').
double best_score(const EpochMetrics& m);

}  // namespace resnet
