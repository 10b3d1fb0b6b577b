// File: server/learning_loop.h
//
// The learning methods as a service (DESIGN.md §4): one thread follows the sample log from the
// durable cursor, decodes and preprocesses the logged images, trains an OnlineLearner
// (learner/online/) on the TRAIN samples in log order, keeps EVAL samples for anytime evaluation
// (stream_evaluator.h), and makes every snapshot the learner publishes live in the ModelHost
// under the next server version.
//
// Batching: a step trains on up to `batch_size` consecutive TRAIN samples; when fewer are logged,
// it waits up to `batch_wait` for more and then trains on what there is, so a slow stream is
// still learned promptly. When the log is caught up and steps were taken since the last
// publication, it publishes right away, before the cursor shows the log caught up (a client that
// waits with Classify.min_version, or for GetStatus.cursor to reach its samples, sees their
// effect without waiting for publish_every_k_steps more steps).
//
// Priority: before each step the thread yields to queued queries (QueryBatcher::QueriesPending).
// Within a step it pauses at the model's yield points (learner/base/yield_point.h: between
// transformer blocks and in each adapted map's backward) while queries are pending, so a query
// shares the CPU with at most one block of training instead of the rest of a step. The pauses
// of one step (and of the evaluation after it) add up to at most `max_pause_per_step`, which
// bounds how long a step holds the loop's mutex under a saturating query load.
//
// Checkpoints: CaptureCheckpoint() serialises the learner's whole state (adapters in the
// `adapter` field as SerializeAdapters() bytes, the full OnlineLearner::SaveState() in
// `optimizer`) plus the evaluator's metrics; Start() and Restore() read it back. A checkpoint of
// another method or PET configuration is refused with FAILED_PRECONDITION naming both.
//
// A logged sample that no longer decodes (it passed validation at ingest, so only a change of
// limits or a damaged log does this) is skipped and counted, never retried forever.
//
// Thread-safety: as LearnerControl. One mutex covers a training step, so CaptureCheckpoint and
// Restore from other threads wait for the step in progress.
#ifndef PERENNIAL_SERVER_LEARNING_LOOP_H_
#define PERENNIAL_SERVER_LEARNING_LOOP_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "learner/online/online_learner.h"
#include "learner/online/online_options.h"
#include "perennial/v1/sample.pb.h"
#include "server/batch_reader.h"
#include "server/learner_control.h"
#include "server/learner_metrics.h"
#include "server/limits.h"
#include "server/pause_budget.h"
#include "server/stream_evaluator.h"

namespace perennial {

struct LearningLoopOptions {
  // The method and its hyper-parameters. Default: OnlineLearnerOptions() with method sit+vrlwf
  // (the service's default method).
  OnlineLearnerOptions learner = [] {
    OnlineLearnerOptions o;
    o.method = OnlineMethod::kSitVrLwf;
    return o;
  }();
  // TRAIN samples per step. Default: 16.
  int batch_size = 16;
  // How long a step waits for a full batch before training a partial one. Default: 200 ms.
  absl::Duration batch_wait = absl::Milliseconds(200);
  // Anytime evaluation and the held-out set.
  StreamEvaluatorOptions evaluation;
  // On Start(), EVAL samples among the last `eval_rescan_samples` logged before the cursor are
  // read back into the held-out set (it is not checkpointed). Default: 20000.
  uint64_t eval_rescan_samples = 20000;
  // Limits that decoding a logged image enforces (the server's). Default: ServerLimits().
  ServerLimits limits;
  // Added to the learner thread's nice value (and its OpenMP workers'), so that query, ingest
  // and gRPC threads preempt a running training step instead of sharing the cores with it;
  // 0 leaves it. Default: 19.
  int learner_nice = 19;
  // LibTorch intra-op threads of the learner thread; 0 leaves LibTorch's setting. The server
  // gives the learner and the query thread together no more threads than cores (--threads).
  // Default: 0.
  int intra_op_threads = 0;
  // Decode and preprocess the next batch on a reader thread while a step trains, when the log
  // already holds it (batch_reader.h). Default: true.
  bool prefetch_batches = true;
  // Threads that decode one batch's images together (BatchReaderOptions::decode_threads).
  // Default: 1.
  int decode_threads = 1;
  // Once the learner has had nothing to train for this long after training, the allocator's
  // free memory (kept for the next step's tensors) goes back to the kernel, so that an idle
  // server's footprint shrinks; zero: never. Default: 30 s.
  absl::Duration release_memory_after_idle = absl::Seconds(30);
  // Longest total pause of one training step for queries, at the model's yield points; zero
  // pauses only between steps. Default: 250 ms.
  absl::Duration max_pause_per_step = absl::Milliseconds(250);
};

class LearningLoop final : public LearnerControl {
 public:
  // `env.store` and `env.host` are required; `env.queries` and `env.metrics` may be null.
  // Errors: invalid options, an unusable vocabulary (sit+vrlwf).
  static absl::StatusOr<std::unique_ptr<LearningLoop>> Create(LearnerEnv env,
                                                              LearningLoopOptions options);
  ~LearningLoop() override;

  std::string method() const override;
  absl::Status Start(const std::optional<v1::CheckpointRecord>& start, uint64_t cursor) override;
  void Stop() override;
  void Pause() override;
  void Resume() override;
  bool WillPublish() const override;
  uint64_t cursor() const override { return cursor_.load(std::memory_order_acquire); }
  LearnerProgress Progress() const override;
  absl::StatusOr<LearnerCheckpointState> CaptureCheckpoint(uint64_t min_version) override;
  absl::Status Restore(const v1::CheckpointRecord* record, uint64_t cursor,
                       uint64_t new_version) override;
  void SetProbes(std::shared_ptr<const std::vector<ProbeTask>> probes) override;

 private:
  // TRAIN samples of one step, decoded.
  struct Batch {
    torch::Tensor pixels;  // [N, 3, R, R]
    std::vector<std::string> labels;
    uint64_t last_seq = 0;       // cursor after this batch
    absl::Time oldest_received;  // received_time of its first sample
  };

  LearningLoop(LearnerEnv env, LearningLoopOptions options, std::unique_ptr<OnlineLearner> learner,
               std::vector<std::string> vocabulary);

  void Run();
  // The yield hook of the learner thread and its helper thread: waits while queries are
  // pending, within the step's budget. Thread-safe.
  void PauseForQueries();
  // Waits up to `timeout` for the pending queries (env_.queries to be idle).
  void WaitForQueries(absl::Duration timeout);
  // Gives `read`'s EVAL samples to the evaluator, counts its skipped ones and returns its
  // TRAIN samples as a step's batch. Empty pixels: nothing to train.
  Batch AcceptLocked(DecodedBatch read) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One step on `batch`, publication and evaluation. Returns false on a training failure.
  void TrainLocked(Batch batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Publishes when the learner took steps since the last publication.
  void PublishStepsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes the learner's current snapshot live under max(host version + 1, min_version).
  absl::Status PublishLocked(uint64_t min_version) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status RestoreLocked(const v1::CheckpointRecord* record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Refills the held-out set from the EVAL samples logged in the window before `cursor`.
  void RescanEvalSamples(uint64_t cursor) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Offers the window's EVAL samples to the evaluator's reservoir without decoding them; returns
  // the seq chosen for each slot.
  std::vector<uint64_t> ChooseEvalSamples(uint64_t cursor) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExportMetricsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const LearnerEnv env_;
  const LearningLoopOptions options_;
  const std::vector<std::string> vocabulary_;  // what the learner was created with

  mutable absl::Mutex mu_;
  std::unique_ptr<OnlineLearner> learner_ ABSL_GUARDED_BY(mu_);
  StreamEvaluator evaluator_ ABSL_GUARDED_BY(mu_);
  int64_t published_step_ ABSL_GUARDED_BY(mu_) = 0;  // learner step last made live
  uint64_t skipped_samples_ ABSL_GUARDED_BY(mu_) = 0;
  double last_loss_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_error_ ABSL_GUARDED_BY(mu_);

  // Read without mu_ (cheap status reads while a step runs).
  std::atomic<uint64_t> cursor_{0};
  std::atomic<uint64_t> samples_trained_{0};
  std::atomic<uint64_t> steps_{0};
  std::atomic<bool> paused_{false};
  std::atomic<bool> stopping_{false};
  // The current step's max_pause_per_step, shared by the learner thread and its helpers.
  PauseBudget step_pause_;
  mutable absl::Mutex metrics_mu_;
  std::map<std::string, double> metrics_snapshot_ ABSL_GUARDED_BY(metrics_mu_);

  std::unique_ptr<BatchReader> reader_;  // used by the learner thread only; null after Stop()
  std::thread thread_;
};

}  // namespace perennial

#endif  // PERENNIAL_SERVER_LEARNING_LOOP_H_
