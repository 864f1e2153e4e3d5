// Faults during `resnet train`, through the real binary: SIGTERM/SIGINT, a checkpoint write that fails (file
// too large, disk full, the folder read-only or gone) and corrupt images in an ImageFolder dataset. What each
// guarantees is docs/RELIABILITY.md's "Crash safety and faults". Small: resnet20 at 16x16 on a generated
// folder of 32 training and 8 test PNGs, 3 epochs of 4 steps; --threads 1, so a resumed run ends with the
// bytes of the uninterrupted one.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "io/image.h"
#include "resnet/data.h"
#include "resnet/segmentation_data.h"
#include "resnet/train.h"
#include "resnet/weights.h"
#include "train/checkpoint.h"
#include "train/train_task.h"
#include "unit/train_test_helpers.h"

namespace resnet {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::lines_of;
using test::read_bytes;
using test::resnet_bin;

fs::path scratch(const std::string& name = "") {
  return test::fresh_test_dir("faults", name);
}

// A side x side RGB image of class `label` (0..3): noise with a bright square in the class's quadrant.
Image quadrant_png_image(int label, int side, std::mt19937& rng) {
  Image image(side, side, 3);
  const int top = label / 2 * side / 2, left = label % 2 * side / 2;
  for (int y = 0; y < side; ++y) {
    for (int x = 0; x < side; ++x) {
      const bool inside = y >= top + 1 && y < top + side / 2 - 1 && x >= left + 1 && x < left + side / 2 - 1;
      for (int c = 0; c < 3; ++c) image.at(y, x)[c] = uint8_t(rng() % 96 + (inside ? 150 : 0));
    }
  }
  return image;
}

const char* const kClasses[] = {"a_top_left", "b_top_right", "c_bottom_left", "d_bottom_right"};

// An ImageFolder (--dataset folder): dir/train/<class>/NN.png (per_class each) and dir/val/<class>/NN.png.
fs::path image_folder(const fs::path& dir, int train_per_class = 8, int val_per_class = 2) {
  std::mt19937 rng(5);
  for (const auto& [split, count] : {std::pair{"train", train_per_class}, std::pair{"val", val_per_class}}) {
    for (int label = 0; label < 4; ++label) {
      const fs::path folder = dir / split / kClasses[label];
      fs::create_directories(folder);
      for (int i = 0; i < count; ++i) {
        std::ofstream(folder / (std::to_string(10 + i) + ".png"), std::ios::binary)
            << encode_png(quadrant_png_image(label, 16, rng));
      }
    }
  }
  return dir;
}

// A file with a PNG's name and signature whose data stops after the signature: read_image refuses it.
void corrupt(const fs::path& file) {
  std::ofstream(file, std::ios::binary | std::ios::trunc) << std::string("\x89PNG\r\n\x1a\n", 8) << "garbage";
}

std::vector<std::string> train_args(const fs::path& data, const fs::path& out,
                                    const std::string& workers = "2") {
  return {"train", "--arch",    "resnet20", "--dataset",    "folder", "--data", data.string(), "--image-size",
          "16",    "--epochs",  "3",        "--batch-size", "8",      "--lr",   "0.05",        "--threads",
          "1",     "--workers", workers,    "--quiet",      "--seed", "3",      "--out",       out.string()};
}

std::vector<std::string> resume_args(const fs::path& out) {
  return {"train", "--out", out.string(), "--resume", "--quiet"};
}

// How a child process runs: a per-file size limit (RLIMIT_FSIZE, with SIGXFSZ ignored so that write() fails
// with EFBIG), and whether root's power to write anywhere (CAP_DAC_OVERRIDE) is dropped, so that a read-only
// folder refuses it too.
struct ChildLimits {
  rlim_t max_file_bytes = RLIM_INFINITY;
  bool drop_dac_override = false;
};

// Starts `program args` with stdout and stderr appended to `log`.
pid_t spawn(const std::string& program, const std::vector<std::string>& args, const fs::path& log,
            ChildLimits limits = {}) {
  std::vector<std::string> all{program};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log_path = log.string();
  const pid_t pid = fork();
  if (pid != 0) return pid;
  // The child: only async-signal-safe calls until exec.
  const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) _exit(126);
  dup2(fd, 1);
  dup2(fd, 2);
  if (limits.max_file_bytes != RLIM_INFINITY) {
    signal(SIGXFSZ, SIG_IGN);  // an ignored disposition survives exec
    const rlimit limit{limits.max_file_bytes, limits.max_file_bytes};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(126);
  }
  if (limits.drop_dac_override && (prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) != 0 ||
                                   prctl(PR_CAPBSET_DROP, CAP_DAC_READ_SEARCH, 0, 0, 0) != 0)) {
    _exit(125);
  }
  execv(program.c_str(), argv.data());
  _exit(127);
}

pid_t spawn_resnet(const std::vector<std::string>& args, const fs::path& log, ChildLimits limits = {}) {
  return spawn(resnet_bin(), args, log, limits);
}

// The exit status of a child; -signal if a signal ended it.
int wait_child(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

int run_child(const std::vector<std::string>& args, const fs::path& log, ChildLimits limits = {}) {
  return wait_child(spawn_resnet(args, log, limits));
}

// Waits (up to a minute) for `file` to exist: a run's first committed epoch.
bool wait_for(const fs::path& file) {
  for (int i = 0; i < 12000; ++i) {
    if (fs::exists(file)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

std::vector<fs::path> temp_leftovers(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().find(".tmp.") != std::string::npos) out.push_back(entry.path());
  }
  return out;
}

// The epochs of the committed state (state.json, derived from it, may lag it after a failed write).
int64_t epochs_done(const fs::path& run) {
  return load_run_state(RunFiles(run.string())).progress.epochs_done;
}

// The uninterrupted run every faulty one is compared with (once per process).
const fs::path& straight_run() {
  static const fs::path run = [] {
    const fs::path dir = test::fresh_test_dir("faults", "straight");
    const fs::path data = image_folder(dir / "data");
    const int status = run_child(train_args(data, dir / "run"), dir / "log");
    EXPECT_EQ(status, 0) << read_bytes(dir / "log");
    return dir / "run";
  }();
  return run;
}

// The data of the straight run (the same generated folder).
fs::path straight_data() {
  return straight_run().parent_path() / "data";
}

void expect_same_weights_as_straight(const fs::path& run) {
  for (const char* file : {"last.safetensors", "best.safetensors"}) {
    EXPECT_TRUE(read_bytes(straight_run() / file) == read_bytes(run / file)) << file << " differs";
  }
  EXPECT_EQ(lines_of(read_bytes(run / "metrics.csv")).size(), 4u);
  EXPECT_TRUE(temp_leftovers(run).empty());
}

// Starts a run and stops it with SIGTERM once its first epoch is committed (exit 143): a run with at least
// one committed epoch and more to do.
fs::path committed_run(const fs::path& dir) {
  const fs::path run = dir / "run";
  const pid_t pid = spawn_resnet(train_args(straight_data(), run), dir / "first.log");
  EXPECT_TRUE(wait_for(run / "state.safetensors"));
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_child(pid), 143) << read_bytes(dir / "first.log");
  return run;
}

// ----- SIGTERM / SIGINT

TEST(TrainFaults, SigtermAndSigintStopBeforeTheNextStepWithExit143And130AndResumeEndsAsTheStraightRun) {
  REQUIRE_RESNET_BIN();
  for (const auto& [sig, status, name] :
       {std::tuple{SIGTERM, 143, "SIGTERM"}, std::tuple{SIGINT, 130, "SIGINT"}}) {
    SCOPED_TRACE(name);
    const fs::path dir = scratch(name);
    const fs::path run = dir / "run";
    const pid_t pid = spawn_resnet(train_args(straight_data(), run), dir / "log");
    ASSERT_TRUE(wait_for(run / "state.safetensors"));
    const auto sent = std::chrono::steady_clock::now();
    ::kill(pid, sig);
    ASSERT_EQ(wait_child(pid), status) << read_bytes(dir / "log");
    // It stopped after one step (a step takes milliseconds here), not after finishing its epoch.
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count(), 10.0);
    const std::string log = read_bytes(dir / "log");
    EXPECT_NE(log.find(std::string("resnet: stopped by ") + name + " in epoch "), std::string::npos) << log;
    EXPECT_NE(log.find("is kept: `resnet train --out " + run.string() + " --resume`"), std::string::npos)
        << log;
    // The committed state is whole and the files derived from it agree with it; nothing half-written.
    EXPECT_NO_THROW(load_safetensors((run / "state.safetensors").string()));
    EXPECT_GE(epochs_done(run), 1);
    EXPECT_LT(epochs_done(run), 3);
    EXPECT_EQ(lines_of(read_bytes(run / "metrics.csv")).size(), size_t(epochs_done(run) + 1));
    EXPECT_TRUE(temp_leftovers(run).empty());

    ASSERT_EQ(run_child(resume_args(run), dir / "resume.log"), 0) << read_bytes(dir / "resume.log");
    expect_same_weights_as_straight(run);
  }
}

// ----- a checkpoint write that fails

TEST(TrainFaults, FileTooLargeWhileCommittingIsOneLineExit2KeepingThePreviousCheckpoint) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = scratch();
  const fs::path run = committed_run(dir);
  const std::string state_before = read_bytes(run / "state.safetensors");
  // Room for last.safetensors (the model: rewritten first on --resume) but not for state.safetensors (the
  // model and the optimizer's momentum: about twice as large).
  const auto last = fs::file_size(run / "last.safetensors"), state = fs::file_size(run / "state.safetensors");
  ASSERT_GT(state, last + last / 2);
  const int status = run_child(resume_args(run), dir / "full.log", {.max_file_bytes = last + last / 4});
  const std::string err = read_bytes(dir / "full.log");
  EXPECT_EQ(status, 2) << err;
  const std::vector<std::string> lines = lines_of(err);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(
      lines.back().rfind("resnet: error: " + (run / "state.safetensors").string() + ": cannot write", 0), 0u)
      << err;
  EXPECT_NE(lines.back().find("File too large"), std::string::npos) << err;
  EXPECT_NE(lines.back().find("the checkpoint of epoch " + std::to_string(epochs_done(run)) + " in " +
                              run.string() + " is kept"),
            std::string::npos)
      << err;
  EXPECT_TRUE(read_bytes(run / "state.safetensors") == state_before);
  EXPECT_TRUE(temp_leftovers(run).empty());

  ASSERT_EQ(run_child(resume_args(run), dir / "resume.log"), 0) << read_bytes(dir / "resume.log");
  expect_same_weights_as_straight(run);
}

// A real full disk, when this process may mount (root): a tmpfs in a mount namespace of its own (it vanishes
// with the child), holding a copy of the run with room for everything but the next state.safetensors.
TEST(TrainFaults, DiskFullOnASmallTmpfsIsOneLineExit2KeepingThePreviousCheckpoint) {
  REQUIRE_RESNET_BIN();
  if (!fs::exists("/usr/bin/unshare")) GTEST_SKIP() << "no unshare(1)";
  const fs::path dir = scratch();
  const fs::path run = committed_run(dir);
  uintmax_t total = 0;
  for (const auto& entry : fs::directory_iterator(run)) total += entry.file_size();
  const uintmax_t state = fs::file_size(run / "state.safetensors");
  const uintmax_t size_kb = (total + state * 3 / 4) / 1024;
  const fs::path mount = dir / "tmpfs", after = dir / "after";
  fs::create_directories(mount);
  fs::create_directories(after);
  const std::string script = "mount -t tmpfs -o size=" + std::to_string(size_kb) + "k tmpfs " +
                             mount.string() + " || exit 99; cp -a " + run.string() + "/. " + mount.string() +
                             "/ || exit 98; " + resnet_bin() + " train --out " + mount.string() +
                             " --resume --quiet; status=$?; cp -a " + mount.string() + "/. " +
                             after.string() + "/; exit $status";
  const int status = wait_child(spawn(
      "/usr/bin/unshare", {"--mount", "--propagation", "private", "sh", "-c", script}, dir / "full.log"));
  const std::string err = read_bytes(dir / "full.log");
  if (status == 99 || (status == 1 && err.starts_with("unshare:")))
    GTEST_SKIP() << "cannot mount a tmpfs here: " << err;
  EXPECT_EQ(status, 2) << err;
  EXPECT_NE(err.find((mount / "state.safetensors").string() + ": cannot write"), std::string::npos) << err;
  EXPECT_NE(err.find("No space left on device"), std::string::npos) << err;
  EXPECT_TRUE(read_bytes(after / "state.safetensors") == read_bytes(run / "state.safetensors"));
  EXPECT_TRUE(temp_leftovers(after).empty());
  ASSERT_EQ(run_child(resume_args(after), dir / "resume.log"), 0) << read_bytes(dir / "resume.log");
  expect_same_weights_as_straight(after);
}

TEST(TrainFaults, OutFolderMadeReadOnlyMidRunIsOneLineExit2AndLosesNothingCommitted) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = scratch();
  const fs::path run = dir / "run";
  // As root, only a process without CAP_DAC_OVERRIDE is refused by a folder's permissions.
  const pid_t pid =
      spawn_resnet(train_args(straight_data(), run), dir / "log", {.drop_dac_override = geteuid() == 0});
  ASSERT_TRUE(wait_for(run / "state.safetensors"));
  fs::permissions(run, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                           fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  const int status = wait_child(pid);
  fs::permissions(run, fs::perms::owner_all, fs::perm_options::add);
  const std::string err = read_bytes(dir / "log");
  if (status == 125) GTEST_SKIP() << "root, and CAP_DAC_OVERRIDE cannot be dropped (no CAP_SETPCAP)";
  EXPECT_EQ(status, 2) << err;
  const std::vector<std::string> lines = lines_of(err);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back().rfind("resnet: error: " + run.string() + "/", 0), 0u) << err;
  EXPECT_NE(lines.back().find("Permission denied"), std::string::npos) << err;
  EXPECT_NO_THROW(load_safetensors((run / "state.safetensors").string()));
  EXPECT_GE(epochs_done(run), 1);

  ASSERT_EQ(run_child(resume_args(run), dir / "resume.log"), 0) << read_bytes(dir / "resume.log");
  expect_same_weights_as_straight(run);
}

TEST(TrainFaults, OutFolderMovedAwayMidRunIsOneLineExit2AndTheMovedRunResumes) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = scratch();
  const fs::path run = dir / "run", moved = dir / "moved";
  const pid_t pid = spawn_resnet(train_args(straight_data(), run), dir / "log");
  ASSERT_TRUE(wait_for(run / "state.safetensors"));
  fs::rename(run, moved);
  const int status = wait_child(pid);
  const std::string err = read_bytes(dir / "log");
  EXPECT_EQ(status, 2) << err;
  const std::vector<std::string> lines = lines_of(err);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back().rfind("resnet: error: " + run.string() + "/", 0), 0u) << err;
  EXPECT_NE(lines.back().find("No such file or directory"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(run));

  // Whatever it was writing when the folder moved is left as a temp file there; the resume removes it.
  ASSERT_EQ(run_child(resume_args(moved), dir / "resume.log"), 0) << read_bytes(dir / "resume.log");
  expect_same_weights_as_straight(moved);
}

// ----- corrupt images

TEST(TrainFaults, CorruptImageMidEpochIsOneLineExit2NamingTheFile) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = scratch();
  const fs::path data = image_folder(dir / "data");
  const fs::path bad = data / "train" / kClasses[2] / "13.png";
  corrupt(bad);
  for (const char* workers : {"0", "2"}) {
    const std::vector<std::string> args = train_args(data, dir / (std::string("run") + workers), workers);
    const fs::path log = dir / (std::string("log") + workers);
    ASSERT_EQ(run_child(args, log), 2) << read_bytes(log);
    const std::vector<std::string> lines = lines_of(read_bytes(log));
    ASSERT_EQ(lines.size(), 1u) << read_bytes(log);
    EXPECT_EQ(lines[0].rfind("resnet: error: " + bad.string() + ": PNG", 0), 0u) << lines[0];
    EXPECT_FALSE(fs::exists(dir / (std::string("run") + workers) / "state.safetensors"));
  }
}

TEST(TrainFaults, SkipBadImagesLogsEachFileOnceAndCountsThemPerEpochInMetrics) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = scratch();
  const fs::path data = image_folder(dir / "data");
  const fs::path bad_train = data / "train" / kClasses[1] / "12.png",
                 bad_test = data / "val" / kClasses[3] / "10.png";
  corrupt(bad_train);
  corrupt(bad_test);
  std::vector<std::string> args = train_args(data, dir / "run");
  args.push_back("--skip-bad-images");
  ASSERT_EQ(run_child(args, dir / "log"), 0) << read_bytes(dir / "log");
  const std::string log = read_bytes(dir / "log");
  for (const fs::path& bad : {bad_train, bad_test}) {
    const std::string line = "skipped a bad image: " + bad.string() + ": PNG";
    const size_t first = log.find(line);
    EXPECT_NE(first, std::string::npos) << log;
    EXPECT_EQ(log.find(bad.string(), first + line.size()), std::string::npos) << "logged twice:\n" << log;
  }
  const std::vector<std::string> metrics = lines_of(read_bytes(dir / "run" / "metrics.csv"));
  ASSERT_EQ(metrics.size(), 4u);
  EXPECT_EQ(metrics[0], "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds,skipped_images");
  for (size_t e = 1; e < metrics.size(); ++e) EXPECT_TRUE(metrics[e].ends_with(",2")) << metrics[e];
  // Its readers take the extra column: resnet plot's read_metrics_csv, and --resume.
  const std::vector<EpochMetrics> history = read_metrics_csv((dir / "run" / "metrics.csv").string());
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[2].skipped_images, 2);
  EXPECT_EQ(json::parse(read_bytes(dir / "run" / "config.json")).at("skip_bad_images"), true);
  EXPECT_EQ(test::run_resnet("plot --out " + (dir / "runs.png").string() + " " + (dir / "run").string(), dir)
                .exit_code,
            0);
}

TEST(TrainFaults, WithoutSkipBadImagesTheConfigAndMetricsAreAsBefore) {
  REQUIRE_RESNET_BIN();
  EXPECT_FALSE(json::parse(read_bytes(straight_run() / "config.json")).contains("skip_bad_images"));
  EXPECT_EQ(lines_of(read_bytes(straight_run() / "metrics.csv"))[0],
            "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds");
}

// The loaders themselves: a skipped sample leaves its batch smaller, the same whatever the thread count, and
// is reported once per epoch it is met in.
TEST(LoaderFaults, SkipBadSamplesShrinksTheBatchTheSameWithAnyThreadCount) {
  const fs::path dir = scratch();
  const fs::path data = image_folder(dir / "data", 3, 1);
  corrupt(data / "train" / kClasses[0] / "11.png");
  std::shared_ptr<const Dataset> train = open_dataset("folder", data.string(), Split::train);
  const TransformSpec transform = eval_transform(train->info(), 16);
  std::vector<std::vector<int64_t>> samples_by_threads;
  for (int threads : {0, 3}) {
    Loader loader(train, transform,
                  {.batch_size = 4, .seed = 9, .threads = threads, .skip_bad_samples = true});
    loader.start_epoch(0);
    Batch batch;
    std::vector<int64_t> samples;
    int64_t images = 0;
    while (loader.next(batch)) {
      ASSERT_EQ(batch.images.numel() > 0 ? batch.images.dim(0) : 0, int64_t(batch.labels.size()));
      images += int64_t(batch.labels.size());
      samples.insert(samples.end(), batch.samples.begin(), batch.samples.end());
    }
    EXPECT_EQ(images, 11);
    const std::vector<SkippedSample> skipped = loader.take_skipped();
    ASSERT_EQ(skipped.size(), 1u);
    EXPECT_EQ(skipped[0].index, 1);  // the second image of the first class
    EXPECT_NE(skipped[0].reason.find("11.png: PNG"), std::string::npos) << skipped[0].reason;
    EXPECT_TRUE(loader.take_skipped().empty());
    samples_by_threads.push_back(samples);
  }
  EXPECT_EQ(samples_by_threads[0], samples_by_threads[1]);

  // Without the option the worker's error reaches the consumer, naming the file.
  Loader strict(train, transform, {.batch_size = 4, .seed = 9, .threads = 2});
  strict.start_epoch(0);
  Batch batch;
  try {
    while (strict.next(batch)) {
    }
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("11.png: PNG"), std::string::npos) << e.what();
  }
}

// A dataset whose first `bad` samples cannot be read (InputError naming a made-up file), over a good one.
class PartlyBadDataset final : public Dataset {
 public:
  PartlyBadDataset(std::shared_ptr<const Dataset> good, int64_t bad) : good_(std::move(good)), bad_(bad) {}
  const DatasetInfo& info() const override { return good_->info(); }
  int64_t size() const override { return good_->size(); }
  Sample get(int64_t index) const override {
    if (index < bad_) throw InputError(fmt::format("bad/{}.png: PNG: unreadable", index));
    return good_->get(index);
  }
  int64_t label(int64_t index) const override { return good_->label(index); }

 private:
  std::shared_ptr<const Dataset> good_;
  int64_t bad_;
};

// Half the training images bad, batches of 2: some batches have no image left. Each still counts as a step
// (the schedule and the resume check hold) and updates nothing; the epochs' counts are in the metrics.
TEST(TrainFaults, ABatchWithEveryImageSkippedStillCountsAsAStep) {
  const fs::path dir = scratch();
  const fs::path data = image_folder(dir / "data");
  std::shared_ptr<const Dataset> good = open_dataset("folder", data.string(), Split::train);
  TrainConfig c;
  c.arch = "resnet20";
  c.dataset = "folder";
  c.image_size = 16;
  c.epochs = 2;
  c.batch_size = 2;
  c.lr = 0.05;
  c.threads = 1;
  c.workers = 2;
  c.seed = 4;
  c.skip_bad_images = true;
  c.out_dir = (dir / "run").string();
  c = resolve_train_config(c);
  std::ostringstream log;
  TrainHooks hooks = test::quiet_hooks(log);
  hooks.train_set = std::make_shared<PartlyBadDataset>(good, 16);
  hooks.test_set = open_dataset("folder", data.string(), Split::test);
  // The epochs' orders do pair two bad images in some batch.
  Loader probe(hooks.train_set, eval_transform(good->info(), 16), train_loader_options(c, 32));
  int empty_batches = 0;
  for (int64_t e = 0; e < 2; ++e) {
    const std::vector<int64_t> order = probe.epoch_order(e);
    for (size_t i = 0; i + 1 < order.size(); i += 2) empty_batches += order[i] < 16 && order[i + 1] < 16;
  }
  ASSERT_GT(empty_batches, 0);

  const TrainSummary s = train(c, hooks);
  ASSERT_TRUE(s.finished);
  for (const EpochMetrics& m : s.history) {
    EXPECT_EQ(m.skipped_images, 16);
    EXPECT_TRUE(std::isfinite(m.train_loss));
  }
  EXPECT_EQ(load_run_state(RunFiles(c.out_dir)).progress.step, 2 * 16);
}

TEST(LoaderFaults, FolderSegSkipsACorruptImageWithItsMask) {
  const fs::path dir = scratch();
  std::mt19937 rng(3);
  for (const char* split : {"train", "test"}) {
    fs::create_directories(dir / split / "images");
    fs::create_directories(dir / split / "masks");
    for (int i = 0; i < 5; ++i) {
      const std::string stem = fmt::format("s{}", i);
      std::ofstream(dir / split / "images" / (stem + ".png"), std::ios::binary)
          << encode_png(quadrant_png_image(i % 4, 16, rng));
      Image mask(16, 16, 1);
      for (uint8_t& v : mask.pixels) v = uint8_t(i % 2);
      std::ofstream(dir / split / "masks" / (stem + ".png"), std::ios::binary) << encode_png(mask);
    }
  }
  corrupt(dir / "train" / "images" / "s2.png");
  std::shared_ptr<const SegmentationDataset> train =
      open_segmentation_dataset("folder-seg", dir.string(), Split::train);
  SegmentationLoader loader(train, segmentation_eval_transform(*train),
                            {.batch_size = 5, .shuffle = false, .threads = 2, .skip_bad_samples = true});
  loader.start_epoch(0);
  SegmentationBatch batch;
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(batch.images.dim(0), 4);
  EXPECT_EQ(batch.masks.dim(0), 4);
  EXPECT_EQ(batch.samples, (std::vector<int64_t>{0, 1, 3, 4}));
  const std::vector<SkippedSample> skipped = loader.take_skipped();
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].reason.find("s2.png: PNG"), std::string::npos) << skipped[0].reason;
}

}  // namespace
}  // namespace resnet
