#include "learner/eval/continual_benchmark.h"

#include <chrono>
#include <map>
#include <memory>
#include <sstream>

#include "learner/base/torch_status.h"
#include "learner/eval/zero_shot_probes.h"
#include "learner/model/preprocess.h"
#include "learner/online/model_snapshot.h"
#include "learner/online/online_learner.h"

namespace perennial {
namespace {

using Clock = std::chrono::steady_clock;

torch::Tensor Pixels(const Dataset& data, const std::vector<int64_t>& indices, int resolution) {
  std::vector<Image> images;
  images.reserve(indices.size());
  for (int64_t i : indices) images.push_back(data.Get(i).image);
  PreprocessOptions p;
  p.resolution = resolution;
  return PreprocessBatch(images, p);
}

// Test indices kept per class (the first max_per_class of each class; all when 0).
std::vector<std::vector<int64_t>> TestIndicesByClass(const Dataset& test, int64_t max_per_class) {
  std::vector<std::vector<int64_t>> by_class(static_cast<size_t>(test.num_classes()));
  for (int64_t i = 0; i < test.size(); ++i) {
    auto& v = by_class[static_cast<size_t>(test.labels()[i])];
    if (max_per_class <= 0 || static_cast<int64_t>(v.size()) < max_per_class) v.push_back(i);
  }
  return by_class;
}

// Scores the snapshot on the test samples of `exposed` classes (dataset ids, order of first
// appearance), predicting among the exposed class names only.
StatusOr<ClassCounts> EvaluateExposed(const ClipModel& model, const Tokenizer& tokenizer,
                                      const ModelSnapshot& snapshot, const Dataset& test,
                                      const std::vector<std::vector<int64_t>>& test_by_class,
                                      const std::vector<int32_t>& exposed,
                                      const ContinualBenchmarkOptions& options) {
  std::vector<std::string> names;
  std::vector<int64_t> indices;
  for (int32_t c : exposed) {
    names.push_back(test.class_names()[static_cast<size_t>(c)]);
    const auto& v = test_by_class[static_cast<size_t>(c)];
    indices.insert(indices.end(), v.begin(), v.end());
  }
  std::vector<int64_t> predicted, truth;
  for (size_t begin = 0; begin < indices.size();
       begin += static_cast<size_t>(options.eval_batch_size)) {
    const size_t end = std::min(indices.size(), begin + options.eval_batch_size);
    const std::vector<int64_t> chunk(indices.begin() + begin, indices.begin() + end);
    PERENNIAL_ASSIGN_OR_RETURN(
        torch::Tensor pixels,
        CatchTorch("preprocessing test images", [&]() -> StatusOr<torch::Tensor> {
          return Pixels(test, chunk, model.config().image_resolution);
        }));
    PERENNIAL_ASSIGN_OR_RETURN(torch::Tensor p,
                               PredictLabels(model, tokenizer, &snapshot.adapters, pixels, names,
                                             options.learner.templates));
    for (int64_t k = 0; k < p.size(0); ++k) {
      predicted.push_back(exposed[static_cast<size_t>(p[k].item<int64_t>())]);
      truth.push_back(test.labels()[chunk[static_cast<size_t>(k)]]);
    }
  }
  return CountPredictions(predicted, truth, test.num_classes());
}

// The Si-Blurry order of a class-stratified subsample of the training set: the first
// ceil(max_samples / classes) samples of each class (dataset order), so that a short stream still
// has every task and class structure of the full one. max_samples <= 0 or >= the set: all of it.
StatusOr<StreamOrder> SubsampledOrder(const std::vector<int32_t>& labels, int64_t max_samples,
                                      const SiBlurryOptions& stream) {
  if (max_samples <= 0 || max_samples >= static_cast<int64_t>(labels.size())) {
    return SiBlurryOrder(labels, stream);
  }
  std::map<int32_t, int64_t> per_class;
  for (int32_t label : labels) ++per_class[label];
  const int64_t quota = (max_samples + static_cast<int64_t>(per_class.size()) - 1) /
                        static_cast<int64_t>(per_class.size());
  std::vector<int64_t> subset;
  std::vector<int32_t> subset_labels;
  std::map<int32_t, int64_t> taken;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (taken[labels[i]]++ >= quota) continue;
    subset.push_back(static_cast<int64_t>(i));
    subset_labels.push_back(labels[i]);
  }
  PERENNIAL_ASSIGN_OR_RETURN(StreamOrder order, SiBlurryOrder(subset_labels, stream));
  for (int64_t& index : order.indices) index = subset[static_cast<size_t>(index)];
  return order;
}

Status CheckInputs(const Dataset& train, const Dataset& test,
                   const ContinualBenchmarkOptions& options) {
  if (train.empty() || test.empty()) return InvalidArgumentError("benchmark dataset is empty");
  if (train.class_names() != test.class_names()) {
    return InvalidArgumentError("train and test splits have different class names");
  }
  if (options.batch_size < 1 || options.eval_period < 1 || options.eval_batch_size < 1) {
    return InvalidArgumentError("batch_size, eval_period and eval_batch_size must be >= 1");
  }
  return OkStatus();
}

// The stream position at which each task ends, ascending, without empty tasks.
std::vector<int64_t> TaskEnds(const StreamOrder& order) {
  const int64_t total = static_cast<int64_t>(order.indices.size());
  std::vector<int64_t> task_ends;
  for (int t = 0; t < order.num_tasks(); ++t) {
    const int64_t end = t + 1 < order.num_tasks() ? order.task_boundaries[t + 1] : total;
    if (end > 0 && (task_ends.empty() || std::min(end, total) > task_ends.back())) {
      task_ends.push_back(std::min(end, total));
    }
  }
  return task_ends;
}

// The classes the stream has shown so far (dataset ids), in order of first appearance.
class ExposedClasses {
 public:
  explicit ExposedClasses(int64_t num_classes) : seen_(static_cast<size_t>(num_classes), false) {}

  void Add(int32_t c) {
    if (seen_[static_cast<size_t>(c)]) return;
    seen_[static_cast<size_t>(c)] = true;
    ids_.push_back(c);
  }
  const std::vector<int32_t>& ids() const { return ids_; }

 private:
  std::vector<bool> seen_;
  std::vector<int32_t> ids_;
};

// Shows `learner` the training samples at `indices` as one batch and adds it to `rec`.
StatusOr<ObserveResult> ObserveBatch(OnlineLearner& learner, const Dataset& train, int resolution,
                                     const std::vector<int64_t>& indices, ExposedClasses& exposed,
                                     ContinualRecord& rec) {
  std::vector<std::string> labels;
  for (int64_t i : indices) {
    const int32_t c = train.labels()[i];
    labels.push_back(train.class_names()[static_cast<size_t>(c)]);
    exposed.Add(c);
  }
  PERENNIAL_ASSIGN_OR_RETURN(
      torch::Tensor pixels,
      CatchTorch("preprocessing stream images",
                 [&]() -> StatusOr<torch::Tensor> { return Pixels(train, indices, resolution); }));
  const auto start = Clock::now();
  PERENNIAL_ASSIGN_OR_RETURN(ObserveResult r, learner.Observe(pixels, labels));
  rec.train_seconds += std::chrono::duration<double>(Clock::now() - start).count();
  rec.samples_trained += static_cast<int64_t>(indices.size());
  rec.prequential_correct += r.prequential_correct;
  rec.prequential_count += r.prequential_count;
  return r;
}

std::vector<ZeroShotResult> ZeroShotResults(const std::vector<std::string>& tasks,
                                            const std::vector<double>& before,
                                            const std::vector<double>& after) {
  std::vector<ZeroShotResult> results;
  for (size_t i = 0; i < tasks.size(); ++i) results.push_back({tasks[i], before[i], after[i]});
  return results;
}

}  // namespace

StatusOr<ContinualBenchmarkResult> RunContinualBenchmark(const ClipModel& model,
                                                         const Tokenizer& tokenizer,
                                                         const Dataset& train, const Dataset& test,
                                                         const ContinualBenchmarkOptions& options,
                                                         std::vector<std::string> vocabulary) {
  PERENNIAL_RETURN_IF_ERROR(CheckInputs(train, test, options));
  PERENNIAL_ASSIGN_OR_RETURN(
      StreamOrder order,
      SubsampledOrder(train.labels(), options.max_train_samples, options.stream));
  const int64_t total = static_cast<int64_t>(order.indices.size());
  PERENNIAL_ASSIGN_OR_RETURN(
      std::unique_ptr<OnlineLearner> learner,
      OnlineLearner::Create(&model, &tokenizer, options.learner, std::move(vocabulary)));
  auto say = [&](const std::string& line) {
    if (options.progress) options.progress(line);
  };

  ContinualBenchmarkResult result;
  ContinualRecord& rec = result.record;
  std::vector<double> base_probe;
  if (options.probe_samples_per_task > 0) {
    PERENNIAL_ASSIGN_OR_RETURN(
        base_probe, ProbeAccuracies(model, tokenizer, nullptr, options.probe_samples_per_task,
                                    options.probe_seed));
  }
  const auto test_by_class = TestIndicesByClass(test, options.max_test_per_class);
  ExposedClasses exposed(train.num_classes());
  EvalSchedule schedule(options.eval_period);

  const std::vector<int64_t> task_ends = TaskEnds(order);
  auto evaluate = [&]() -> StatusOr<ClassCounts> {
    PERENNIAL_RETURN_IF_ERROR(learner->Publish());
    return EvaluateExposed(model, tokenizer, *learner->snapshot(), test, test_by_class,
                           exposed.ids(), options);
  };

  int64_t pos = 0;
  size_t next_task_end = 0;
  while (pos < total) {
    // A batch never spans a task end, so task-end evaluations happen exactly at the boundary.
    const int64_t limit = std::min(total, task_ends[next_task_end]);
    const int64_t end = std::min(limit, pos + options.batch_size);
    PERENNIAL_ASSIGN_OR_RETURN(
        ObserveResult r,
        ObserveBatch(*learner, train, model.config().image_resolution,
                     {order.indices.begin() + pos, order.indices.begin() + end}, exposed, rec));
    pos = end;

    int64_t point = 0;
    if (schedule.Due(pos, &point)) {
      PERENNIAL_ASSIGN_OR_RETURN(ClassCounts counts, evaluate());
      rec.curve.push_back({point, Accuracy(counts)});
      std::ostringstream line;
      line << "samples " << pos << "/" << total << "  anytime acc " << rec.curve.back().accuracy
           << "  classes " << exposed.ids().size() << "  loss " << r.loss;
      say(line.str());
    }
    if (pos == task_ends[next_task_end]) {
      PERENNIAL_ASSIGN_OR_RETURN(ClassCounts counts, evaluate());
      rec.task_end_accuracy.push_back(Accuracy(counts));
      rec.task_end_class_accuracy.push_back(PerClassAccuracy(counts));
      say("task " + std::to_string(next_task_end + 1) + " done: acc " +
          std::to_string(rec.task_end_accuracy.back()));
      ++next_task_end;
    }
  }

  if (options.probe_samples_per_task > 0) {
    PERENNIAL_RETURN_IF_ERROR(learner->Publish());
    PERENNIAL_ASSIGN_OR_RETURN(std::vector<double> final_probe,
                               ProbeAccuracies(model, tokenizer, &learner->snapshot()->adapters,
                                               options.probe_samples_per_task, options.probe_seed));
    result.probe_tasks = ProbeTaskNames();
    rec.zero_shot = ZeroShotResults(result.probe_tasks, base_probe, final_probe);
  }
  result.metrics = Summarize(rec);
  return result;
}

}  // namespace perennial
