// The files of a training run; see checkpoint.h for what each holds and the order that keeps them consistent.
#include "train/checkpoint.h"

#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/atomic_file.h"
#include "io/json_input.h"
#include "resnet/error.h"
#include "resnet/weights.h"

namespace resnet {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kModelPrefix = "model.";
constexpr const char* kOptimizerPrefix = "optimizer.";
constexpr const char* kRunKey = "run.json";
constexpr const char* kEmaPrefix = "ema.";
constexpr int kStateVersion = 1;

json metrics_json(const EpochMetrics& m) {
  json j = {{"epoch", m.epoch},         {"train_loss", m.train_loss}, {"train_acc", m.train_acc},
            {"test_loss", m.test_loss}, {"test_acc", m.test_acc},     {"lr", m.lr},
            {"seconds", m.seconds}};
  if (m.test_miou) {
    j["test_miou"] = *m.test_miou;
    j["class_iou"] = m.class_iou;
  }
  if (m.skipped_images) j["skipped_images"] = *m.skipped_images;
  if (m.ema_test_acc) {
    j["ema_test_loss"] = m.ema_test_loss.value_or(0.0);
    j["ema_test_acc"] = *m.ema_test_acc;
  }
  return j;
}

EpochMetrics metrics_from_json(const json& j) {
  EpochMetrics m;
  m.epoch = j.at("epoch").get<int64_t>();
  m.train_loss = j.at("train_loss").get<double>();
  m.train_acc = j.at("train_acc").get<double>();
  m.test_loss = j.at("test_loss").get<double>();
  m.test_acc = j.at("test_acc").get<double>();
  m.lr = j.at("lr").get<double>();
  m.seconds = j.at("seconds").get<double>();
  if (j.contains("test_miou")) {
    m.test_miou = j.at("test_miou").get<double>();
    m.class_iou = j.value("class_iou", std::vector<double>{});
  }
  if (j.contains("skipped_images")) m.skipped_images = j.at("skipped_images").get<int64_t>();
  if (j.contains("ema_test_acc")) {
    m.ema_test_loss = j.at("ema_test_loss").get<double>();
    m.ema_test_acc = j.at("ema_test_acc").get<double>();
  }
  return m;
}

// The progress and the config, as state.json shows them and run.json stores them.
json run_json(const TrainConfig& config, const RunProgress& p) {
  json history = json::array();
  for (const EpochMetrics& m : p.history) history.push_back(metrics_json(m));
  json j = {{"format", "resnet.cpp training state"},
            {"version", kStateVersion},
            {"epochs_done", p.epochs_done},
            {"step", p.step},
            {"best_epoch", p.best_epoch},
            {is_segmentation(config) ? "best_test_miou" : "best_test_acc", p.best_test_acc},
            {"rng", "every random draw is a function of (seed, epoch, sample): no generator state to save"},
            {"history", history},
            {"config", json::parse(train_config_to_json(config))}};
  if (config.ema > 0) j["best_weights"] = p.best_is_ema ? "ema" : "raw";
  return j;
}

Tensor bytes_tensor(const std::string& text) {
  Tensor t({int64_t(text.size())}, DType::u8);
  std::memcpy(t.data(), text.data(), text.size());
  return t;
}

std::map<std::string, std::string> weights_metadata(const TrainConfig& config, const EpochMetrics& m) {
  std::map<std::string, std::string> meta = {{"format", "pt"},
                                             {"source", "resnet.cpp train"},
                                             {"arch", config.arch},
                                             {"stem", config.stem},
                                             {"dataset", config.dataset},
                                             {"epoch", std::to_string(m.epoch)},
                                             {"test_acc", fmt::format("{:.6f}", m.test_acc)}};
  if (m.test_miou) {
    meta["task"] = config.task;
    meta["test_miou"] = fmt::format("{:.6f}", *m.test_miou);
  }
  return meta;
}

void write_derived(const RunFiles& files, const TrainConfig& config, const DatasetInfo& data, Module& model,
                   const RunProgress& p, bool write_last, bool write_best, const WeightAverage* ema) {
  if (p.history.empty()) return;
  const EpochMetrics& last = p.history.back();
  if (write_last) save_safetensors(model.state_dict(), files.last_weights(), weights_metadata(config, last));
  if (write_best && ema != nullptr) {  // --ema: the better of the two, and the metadata says which
    std::map<std::string, std::string> meta = weights_metadata(config, last);
    meta["weights"] = p.best_is_ema ? "ema" : "raw";
    if (p.best_is_ema) meta["test_acc"] = fmt::format("{:.6f}", last.ema_test_acc.value_or(0.0));
    save_safetensors(p.best_is_ema ? ema->weights() : model.state_dict(), files.best_weights(), meta);
  } else if (write_best) {
    save_safetensors(model.state_dict(), files.best_weights(), weights_metadata(config, last));
  }
  write_file_atomic(files.metrics_csv(), metrics_csv(p.history));
  if (is_segmentation(config))
    write_file_atomic(files.class_iou_csv(), class_iou_csv(p.history, data.class_names));
  write_curves_png(
      p.history, files.curves_png(),
      fmt::format("{} on {}: best test {} {:.2f}% (epoch {})", config.arch, config.dataset,
                  is_segmentation(config) ? "mIoU" : "accuracy", 100 * p.best_test_acc, p.best_epoch));
  write_file_atomic(files.state_json(), run_json(config, p).dump(2) + "\n");
}

std::string read_config_text(const RunFiles& files) {
  std::ifstream in(files.config_json(), std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot read the run's config", files.config_json()));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

StateDict with_prefix(StateDict tensors, const std::string& prefix) {
  for (NamedTensor& t : tensors) t.name = prefix + t.name;
  return tensors;
}

}  // namespace

RunFiles::RunFiles(std::string d) : dir(std::move(d)) {}
std::string RunFiles::config_json() const {
  return (fs::path(dir) / "config.json").string();
}
std::string RunFiles::metrics_csv() const {
  return (fs::path(dir) / "metrics.csv").string();
}
std::string RunFiles::class_iou_csv() const {
  return (fs::path(dir) / "class_iou.csv").string();
}
std::string RunFiles::curves_png() const {
  return (fs::path(dir) / "curves.png").string();
}
std::string RunFiles::last_weights() const {
  return (fs::path(dir) / "last.safetensors").string();
}
std::string RunFiles::best_weights() const {
  return (fs::path(dir) / "best.safetensors").string();
}
std::string RunFiles::state() const {
  return (fs::path(dir) / "state.safetensors").string();
}
std::string RunFiles::state_json() const {
  return (fs::path(dir) / "state.json").string();
}

double best_score(const EpochMetrics& m) {
  return m.test_miou.value_or(std::max(m.test_acc, m.ema_test_acc.value_or(m.test_acc)));
}

std::string metrics_csv(const std::vector<EpochMetrics>& history) {
  // The last column, skipped_images, only in a run that used --skip-bad-images (0 for its epochs without).
  const bool skipped = std::any_of(history.begin(), history.end(),
                                   [](const EpochMetrics& m) { return m.skipped_images.has_value(); });
  auto skipped_of = [&](const EpochMetrics& m) {
    return skipped ? fmt::format(",{}", m.skipped_images.value_or(0)) : std::string();
  };
  const std::string skipped_header = skipped ? ",skipped_images" : "";
  // --ema: ema_test_loss,ema_test_acc after seconds (classification).
  const bool ema = std::any_of(history.begin(), history.end(),
                               [](const EpochMetrics& m) { return m.ema_test_acc.has_value(); });
  auto ema_of = [&](const EpochMetrics& m) {
    return ema ? fmt::format(",{:.6f},{:.6f}", m.ema_test_loss.value_or(0.0), m.ema_test_acc.value_or(0.0))
               : std::string();
  };
  if (!history.empty() && history.front().test_miou) {
    std::string out =
        "epoch,train_loss,train_acc,test_loss,test_acc,test_miou,lr,seconds" + skipped_header + "\n";
    for (const EpochMetrics& m : history) {
      out += fmt::format("{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6g},{:.3f}{}\n", m.epoch, m.train_loss,
                         m.train_acc, m.test_loss, m.test_acc, m.test_miou.value_or(0.0), m.lr, m.seconds,
                         skipped_of(m));
    }
    return out;
  }
  std::string out = "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds" +
                    std::string(ema ? ",ema_test_loss,ema_test_acc" : "") + skipped_header + "\n";
  for (const EpochMetrics& m : history) {
    out += fmt::format("{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6g},{:.3f}{}{}\n", m.epoch, m.train_loss,
                       m.train_acc, m.test_loss, m.test_acc, m.lr, m.seconds, ema_of(m), skipped_of(m));
  }
  return out;
}

std::string class_iou_csv(const std::vector<EpochMetrics>& history, const std::vector<std::string>& names) {
  const size_t columns = history.empty() ? names.size() : history.front().class_iou.size();
  std::string out = "epoch";
  for (size_t c = 0; c < columns; ++c) {
    // A binary model (one class) has IoUs of two: background and the class.
    out += "," + (columns == names.size() ? names[c] : std::to_string(c));
  }
  out += "\n";
  for (const EpochMetrics& m : history) {
    out += std::to_string(m.epoch);
    for (double iou : m.class_iou) out += fmt::format(",{:.6f}", iou);
    out += "\n";
  }
  return out;
}

std::vector<EpochMetrics> read_metrics_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot open", path));
  std::vector<EpochMetrics> history;
  std::string line;
  bool segmentation = false, skipped = false, ema = false;
  for (int number = 1; std::getline(in, line); ++number) {
    if (number ==
        1) {  // the header: a segmentation run's has test_miou; --skip-bad-images adds a last column
      segmentation = line.find("test_miou") != std::string::npos;
      skipped = line.ends_with(",skipped_images");
      ema = line.find(",seconds,ema_test_loss,ema_test_acc") != std::string::npos;
      continue;
    }
    if (line.empty()) continue;
    EpochMetrics m;
    if (segmentation) {
      double miou = 0.0;
      const int fields =
          std::sscanf(line.c_str(), "%" SCNd64 ",%lf,%lf,%lf,%lf,%lf,%lf,%lf", &m.epoch, &m.train_loss,
                      &m.train_acc, &m.test_loss, &m.test_acc, &miou, &m.lr, &m.seconds);
      if (fields != 8)
        throw InputError(fmt::format("{}:{}: expected 8 numbers, got '{}'", path, number, line));
      m.test_miou = miou;
    } else {
      const int fields =
          std::sscanf(line.c_str(), "%" SCNd64 ",%lf,%lf,%lf,%lf,%lf,%lf", &m.epoch, &m.train_loss,
                      &m.train_acc, &m.test_loss, &m.test_acc, &m.lr, &m.seconds);
      if (fields != 7)
        throw InputError(fmt::format("{}:{}: expected 7 numbers, got '{}'", path, number, line));
      double ema_loss = 0.0, ema_acc = 0.0;
      if (ema && std::sscanf(line.c_str(), "%*f,%*f,%*f,%*f,%*f,%*f,%*f,%lf,%lf", &ema_loss, &ema_acc) != 2)
        throw InputError(fmt::format("{}:{}: no ema_test_loss,ema_test_acc in '{}'", path, number, line));
      if (ema) {
        m.ema_test_loss = ema_loss;
        m.ema_test_acc = ema_acc;
      }
    }
    if (skipped) {
      int64_t count = 0;
      if (std::sscanf(line.c_str() + line.rfind(',') + 1, "%" SCNd64, &count) != 1)
        throw InputError(fmt::format("{}:{}: no skipped_images count in '{}'", path, number, line));
      m.skipped_images = count;
    }
    history.push_back(m);
  }
  return history;
}

void write_run_config(const RunFiles& files, const TrainConfig& config, const DatasetInfo& data) {
  json j = json::parse(train_config_to_json(config));
  j["dataset_info"] = {{"name", data.name},         {"class_names", data.class_names},
                       {"channels", data.channels}, {"image_size", data.image_size},
                       {"mean", data.mean},         {"std", data.std}};
  write_file_atomic(files.config_json(), j.dump(2) + "\n");
}

TrainConfig read_run_config(const RunFiles& files) {
  return train_config_from_json(read_config_text(files), files.config_json());
}

std::optional<DatasetInfo> read_run_dataset_info(const RunFiles& files) {
  const std::string path = files.config_json();
  const std::string text = read_config_text(files);
  try {
    const json j = parse_run_json(text, path);
    if (!j.contains("dataset_info")) return std::nullopt;
    const json& d = j.at("dataset_info");
    DatasetInfo info;
    info.name = d.at("name").get<std::string>();
    info.class_names = d.at("class_names").get<std::vector<std::string>>();
    info.channels = d.at("channels").get<int>();
    info.image_size = d.at("image_size").get<int>();
    info.mean = d.at("mean").get<std::vector<float>>();
    info.std = d.at("std").get<std::vector<float>>();
    if (info.channels < 1 || info.mean.size() != size_t(info.channels) ||
        info.std.size() != size_t(info.channels) || info.image_size < 0) {
      throw InputError(fmt::format("{}: dataset_info: {} channels with {} means and {} stds, image size {}",
                                   path, info.channels, info.mean.size(), info.std.size(), info.image_size));
    }
    return info;
  } catch (const json::exception& e) {
    throw InputError(fmt::format("{}: dataset_info: {}", path, excerpt(e.what())));
  }
}

void save_epoch(const RunFiles& files, const TrainConfig& config, const DatasetInfo& data, Module& model,
                const Optimizer& optimizer, const RunProgress& p, const WeightAverage* ema) {
  StateDict state = with_prefix(model.state_dict(), kModelPrefix);
  for (NamedTensor& t : with_prefix(optimizer.state_dict(), kOptimizerPrefix)) state.push_back(std::move(t));
  if (ema != nullptr) {
    for (NamedTensor& t : ema->state_dict(kEmaPrefix)) state.push_back(std::move(t));
  }
  state.push_back({kRunKey, bytes_tensor(run_json(config, p).dump())});
  try {
    save_safetensors(state, files.state(), {{"format", "resnet.cpp training state"}});  // the commit point
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}; {}", e.what(), describe_kept_checkpoint(files.dir, p.epochs_done - 1)));
  }
  try {
    write_derived(files, config, data, model, p, true, p.best_epoch == p.epochs_done, ema);
  } catch (const InputError& e) {
    throw InputError(
        fmt::format("{}; epoch {} is committed in {}: `resnet train --out {} --resume` rewrites "
                    "this file from it",
                    e.what(), p.epochs_done, files.state(), files.dir));
  }
}

std::string describe_kept_checkpoint(const std::string& out_dir, int64_t epochs_done) {
  if (epochs_done <= 0) return "no epoch had completed, so there is no checkpoint to resume";
  return fmt::format(
      "the checkpoint of epoch {} in {} is kept: `resnet train --out {} --resume` continues from it",
      epochs_done, out_dir, out_dir);
}

void rewrite_derived_files(const RunFiles& files, const TrainConfig& config, const DatasetInfo& data,
                           Module& model, const RunProgress& p, const WeightAverage* ema) {
  // best.safetensors of an earlier epoch was written after that epoch's commit and never touched since; only
  // the committed epoch's own best file may be missing.
  write_derived(files, config, data, model, p, true, p.best_epoch == p.epochs_done, ema);
}

bool is_run_state(const StateDict& tensors) {
  return std::any_of(tensors.begin(), tensors.end(), [](const NamedTensor& t) { return t.name == kRunKey; });
}

StateDict model_of_run_state(const StateDict& tensors) {
  StateDict model;
  for (const NamedTensor& t : tensors) {
    if (t.name.starts_with(kModelPrefix))
      model.push_back({t.name.substr(std::strlen(kModelPrefix)), t.tensor});
  }
  return model;
}

RunState load_run_state(const RunFiles& files) {
  const std::string path = files.state();
  if (!fs::exists(path)) {
    throw InputError(
        fmt::format("{}: no checkpoint to resume (no epoch of a run in {} has completed)", path, files.dir));
  }
  StateDict tensors = load_safetensors(path);
  RunState state;
  const NamedTensor* run = nullptr;
  for (NamedTensor& t : tensors) {
    if (t.name.starts_with(kModelPrefix)) {
      state.model.push_back({t.name.substr(std::strlen(kModelPrefix)), t.tensor});
    } else if (t.name.starts_with(kOptimizerPrefix)) {
      state.optimizer.push_back({t.name.substr(std::strlen(kOptimizerPrefix)), t.tensor});
    } else if (t.name.starts_with(kEmaPrefix)) {
      state.ema.push_back(t);
    } else if (t.name == kRunKey && t.tensor.dtype() == DType::u8) {
      run = &t;
    } else {
      throw InputError(fmt::format("{}: unexpected tensor '{}' in a training state", path, excerpt(t.name)));
    }
  }
  if (run == nullptr) throw InputError(fmt::format("{}: not a training state (no {})", path, kRunKey));
  const std::string run_text(run->tensor.data_as<char>(), size_t(run->tensor.numel()));
  try {
    const json j = parse_run_json(run_text, path + ": " + kRunKey);
    if (j.at("version").get<int>() != kStateVersion) {
      throw InputError(fmt::format("{}: training state version {} (this build reads {})", path,
                                   j.at("version").get<int>(), kStateVersion));
    }
    RunProgress& p = state.progress;
    p.epochs_done = j.at("epochs_done").get<int64_t>();
    p.step = j.at("step").get<int64_t>();
    p.best_epoch = j.at("best_epoch").get<int64_t>();
    p.best_test_acc = j.contains("best_test_miou") ? j.at("best_test_miou").get<double>()
                                                   : j.at("best_test_acc").get<double>();
    for (const json& m : j.at("history")) p.history.push_back(metrics_from_json(m));
    p.best_is_ema = j.value("best_weights", std::string("raw")) == "ema";
    state.config = train_config_from_json(j.at("config").dump(), path);
    if (p.epochs_done != int64_t(p.history.size())) {
      throw InputError(
          fmt::format("{}: {} epochs done but {} rows of metrics", path, p.epochs_done, p.history.size()));
    }
  } catch (const json::exception& e) {
    throw InputError(fmt::format("{}: corrupt training state ({})", path, excerpt(e.what())));
  }
  return state;
}

namespace {

// "<name>.tmp.<pid>" of one of the run's files, written by a process that no longer runs.
bool is_stale_temp_file(const RunFiles& files, const std::string& name) {
  for (const std::string& path :
       {files.config_json(), files.metrics_csv(), files.class_iou_csv(), files.curves_png(),
        files.last_weights(), files.best_weights(), files.state(), files.state_json()}) {
    const std::string prefix = fs::path(path).filename().string() + ".tmp.";
    if (!name.starts_with(prefix)) continue;
    const std::string pid = name.substr(prefix.size());
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) return false;
    return ::kill(static_cast<pid_t>(std::stol(pid)), 0) != 0 && errno == ESRCH;
  }
  return false;
}

}  // namespace

void remove_stale_temp_files(const RunFiles& files) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(files.dir, ec)) {
    if (is_stale_temp_file(files, entry.path().filename().string())) fs::remove(entry.path(), ec);
  }
}

}  // namespace resnet
