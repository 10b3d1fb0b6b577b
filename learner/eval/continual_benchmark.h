// File: learner/eval/continual_benchmark.h
//
// The offline continual-learning protocol for one method and one seed (what `perennial bench-cl`
// runs per cell of its table): a dataset's training split is streamed in Si-Blurry order through
// an OnlineLearner in batches; every eval_period samples the current snapshot is scored on the
// test samples of the classes exposed so far (anytime accuracy); at each task end the accuracy and
// per-class accuracy are recorded (A_avg, A_last, F_last); prequential accuracy comes from the
// learner; zero-shot probe tasks of the synthetic world are scored with the base model before and
// with the final adapters after the stream (retention). Single-threaded; allocates the test set's
// preprocessed pixels chunk by chunk, never all at once.
#ifndef PERENNIAL_LEARNER_EVAL_CONTINUAL_BENCHMARK_H_
#define PERENNIAL_LEARNER_EVAL_CONTINUAL_BENCHMARK_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "learner/base/status.h"
#include "learner/data/dataset.h"
#include "learner/data/stream.h"
#include "learner/eval/anytime_metrics.h"
#include "learner/model/clip_model.h"
#include "learner/model/tokenizer.h"
#include "learner/online/online_options.h"

namespace perennial {

struct ContinualBenchmarkOptions {
  // The learner (method, PET, lr, seed...). Default: OnlineLearnerOptions's.
  OnlineLearnerOptions learner;
  // The stream order (tasks, N, M, seed). Default: SiBlurryOptions's (5 tasks, N=0.5, M=0.1).
  SiBlurryOptions stream;
  // Stream samples per Observe() call (the Si-Blurry "temp batch"). Default: 16.
  int batch_size = 16;
  // Train on a class-stratified subsample of about n training samples (the first n/classes of
  // each class), streamed in the same Si-Blurry order structure (all tasks); 0 = all.
  // Default: 0.
  int64_t max_train_samples = 0;
  // Anytime evaluation period in stream samples. Default: 1000.
  int64_t eval_period = 1000;
  // Test samples used per class (the first n of each class in test-set order); 0 = all.
  // Default: 0.
  int64_t max_test_per_class = 0;
  // Zero-shot probe samples per synthetic-world probe task (ProbeTasks()); 0 skips the probes.
  // Default: 0.
  int probe_samples_per_task = 0;
  // Seed of the probe world. Default: 2024.
  uint64_t probe_seed = 2024;
  // Images per forward pass when evaluating. Default: 256.
  int eval_batch_size = 256;
  // Called with one line of progress text now and then; may be empty.
  std::function<void(const std::string&)> progress;
};

struct ContinualBenchmarkResult {
  ContinualRecord record;
  ContinualMetrics metrics;
  std::vector<std::string> probe_tasks;  // names, in record.zero_shot order
};

// Runs the protocol. `train` and `test` share class names; `vocabulary` is passed to the learner
// (sit+vrlwf). Errors: invalid options, an empty dataset, learner or model failures.
StatusOr<ContinualBenchmarkResult> RunContinualBenchmark(const ClipModel& model,
                                                         const Tokenizer& tokenizer,
                                                         const Dataset& train, const Dataset& test,
                                                         const ContinualBenchmarkOptions& options,
                                                         std::vector<std::string> vocabulary = {});

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_EVAL_CONTINUAL_BENCHMARK_H_
