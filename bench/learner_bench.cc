#include "bench/learner_bench.h"

#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "bench/bench_util.h"
#include "bench/profiler_trace.h"
#include "learner/base/cpu_runtime.h"
#include "learner/model/clip_model.h"
#include "learner/model/default_model.h"
#include "learner/model/tokenizer.h"
#include "learner/online/online_learner.h"
#include "learner/online/replay_vocabulary.h"

namespace perennial::bench {
namespace {

// The performance issue's figures for the embedded default model: a PyTorch-eager prototype of
// its SIT step ran at ~170 img/s on this machine; the goal is twice that.
constexpr double kPeerSitImagesPerS = 170;

const std::vector<std::string> kLabels = {"T-shirt/top", "trouser",   "pullover", "dress",
                                          "coat",        "sandal",    "shirt",    "sneaker",
                                          "bag",         "ankle boot"};

// Cycles through `kLabels` so that every batch holds several classes (SIT's cross-entropy runs
// over the batch's classes) and new ones keep arriving early on, as in a stream.
std::vector<std::string> BatchLabels(int batch, int step) {
  std::vector<std::string> labels;
  for (int i = 0; i < batch; ++i) labels.push_back(kLabels[(step * 3 + i) % kLabels.size()]);
  return labels;
}

// Times one method; false (after printing why) when the learner cannot be set up or fails.
bool RunMethod(const ClipModel& model, const Tokenizer& tokenizer, const std::string& method_name,
               const LearnerBenchOptions& o, const std::string& model_name) {
  StatusOr<OnlineMethod> method = ParseOnlineMethod(method_name);
  if (!method.ok()) {
    std::cerr << "learner bench: " << method.status().ToString() << std::endl;
    return false;
  }
  OnlineLearnerOptions options;
  options.method = *method;
  options.image_parts = o.image_parts;
  options.online_iters = o.online_iters;
  options.parallel_teacher = o.parallel_teacher;
  std::vector<std::string> words;
  if (!o.words_path.empty()) {
    StatusOr<std::vector<std::string>> loaded = LoadWordList(o.words_path);
    if (!loaded.ok()) {
      std::cerr << "learner bench: " << loaded.status().ToString() << std::endl;
      return false;
    }
    words = *std::move(loaded);
  }
  StatusOr<std::unique_ptr<OnlineLearner>> learner =
      OnlineLearner::Create(&model, &tokenizer, options, std::move(words));
  if (!learner.ok()) {
    std::cerr << "learner bench: " << learner.status().ToString() << std::endl;
    return false;
  }
  const int r = model.config().image_resolution;
  const torch::Tensor pixels = torch::randn({o.run.batch, 3, r, r}).to(model.device());
  int step = 0;
  bool failed = false;
  auto observe = [&] {
    StatusOr<ObserveResult> result = (*learner)->Observe(pixels, BatchLabels(o.run.batch, step++));
    if (!result.ok() && !failed) {
      std::cerr << "learner bench: " << result.status().ToString() << std::endl;
      failed = true;
    }
  };
  for (int i = 0; i < 10; ++i) observe();
  const double rss_before = CurrentRssMiB();
  const Timing t = TimeIt(observe, 0, o.steps, torch::Device(o.run.device));
  if (failed) return false;
  if (!o.trace_path.empty() &&
      !WriteTaggedTrace(observe, o.trace_path, method_name, "learner bench")) {
    return false;
  }
  const double images_per_s = o.run.batch * 1000.0 / t.mean_ms;
  std::vector<Field> fields = {Num("images_per_s", images_per_s),
                               Num("ms_per_step", t.mean_ms),
                               Num("min_ms_per_step", t.min_ms),
                               Num("median_ms_per_step", t.median_ms),
                               Num("steps", o.steps),
                               Num("online_iters", o.online_iters),
                               Num("image_parts", o.image_parts),
                               Num("parallel_teacher", o.parallel_teacher ? 1 : 0),
                               Num("rss_mib_before", rss_before),
                               Num("rss_mib_after", CurrentRssMiB())};
  if (t.device_peak_mib >= 0) fields.push_back(Num("device_peak_mib", t.device_peak_mib));
  for (Field& f : RunFields(o.run)) fields.push_back(std::move(f));
  if (model_name == "perennial-tiny-clip" && o.run.device == "cpu") {
    fields.push_back(Num("peer_images_per_s", kPeerSitImagesPerS));
    fields.push_back(Num("goal_images_per_s", 2 * kPeerSitImagesPerS));
  }
  std::string name = "learner_" + method_name + "_" + model_name;
  for (char& c : name) {
    if (c == '+' || c == '-') c = '_';
  }
  PrintRecord(name, fields);
  return true;
}

// What one lone Classify costs the query thread: the image forward of one image with a published
// snapshot's merged adapters (as ModelHost serves it), batch 1, no gradient.
bool TimeLoneQuery(const ClipModel& model, const LearnerBenchOptions& o,
                   const std::string& model_name) {
  StatusOr<Adapters> adapters = Adapters::Create(model.config(), PetOptions(), 1, model.device());
  if (!adapters.ok()) {
    std::cerr << "learner bench: " << adapters.status().ToString() << std::endl;
    return false;
  }
  const Adapters served = model.MergeAdapters(adapters->Snapshot());
  const int r = model.config().image_resolution;
  const torch::Tensor pixels = torch::randn({1, 3, r, r}).to(model.device());
  torch::NoGradGuard no_grad;
  const Timing t = TimeIt([&] { model.EncodeImage(pixels, &served); }, 20, o.query_iterations,
                          torch::Device(o.run.device));
  std::vector<Field> fields = {Num("ms_per_query", t.mean_ms), Num("median_ms", t.median_ms),
                               Num("min_ms", t.min_ms), Num("iterations", t.iterations)};
  for (Field& f : RunFields(o.run)) {
    if (f.key != "batch") fields.push_back(std::move(f));
  }
  std::string name = "query_encode_one_image_" + model_name;
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  PrintRecord(name, fields);
  return true;
}

}  // namespace

int RunLearnerBench(const LearnerBenchOptions& o) {
  const ModelOptions model_options = ApplyRunOptions(o.run);
  StatusOr<std::string> path = ResolveModelPath(o.model_path);
  StatusOr<Tokenizer> tokenizer = Tokenizer::LoadDefault();
  if (!path.ok() || !tokenizer.ok()) {
    std::cerr << "learner bench: " << (path.ok() ? tokenizer.status() : path.status()).ToString()
              << std::endl;
    return 1;
  }
  StatusOr<ClipModel> model = ClipModel::Load(*path, model_options);
  if (!model.ok()) {
    std::cerr << "learner bench: " << model.status().ToString() << std::endl;
    return 1;
  }
  const std::string model_name = std::filesystem::path(*path).stem().string();
  for (const std::string& method : o.methods) {
    if (!RunMethod(*model, *tokenizer, method, o, model_name)) return 1;
  }
  if (o.query_iterations > 0 && !TimeLoneQuery(*model, o, model_name)) return 1;
  return 0;
}

}  // namespace perennial::bench
