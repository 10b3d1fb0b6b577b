// File: server/learner_control.h
//
// What the server needs from the learner thread, and what it gives it. The server owns the
// store, the ModelHost (publishing) and the query batcher (priority); a learner implementation
// (learner/online/ behind this interface, or FrozenLearner) owns its thread, its training state
// and its cursor in the sample log.
//
// Version rules the implementation must keep (they make checkpoints and rollback consistent):
//   - every model it serves is made live with ModelHost::Publish(version, adapters), versions
//     strictly growing;
//   - the cursor it reports is the last sample sequence number consumed into the live lineage;
//   - CaptureCheckpoint() and Restore() run between training steps (waiting for the step in
//     progress); they may be called from any thread, including the learner thread itself (a
//     periodic checkpoint), so they must not wait for that thread's own step.
#ifndef PERENNIAL_SERVER_LEARNER_CONTROL_H_
#define PERENNIAL_SERVER_LEARNER_CONTROL_H_

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "perennial/v1/checkpoint.pb.h"

namespace perennial {

class Store;
class ModelHost;
class QueryBatcher;
class LearnerMetrics;

// What a learner is built with. All pointers outlive the learner.
struct LearnerEnv {
  Store* store = nullptr;             // the sample log, vocabulary and blobs
  ModelHost* host = nullptr;          // base model, tokenizer, Publish()
  QueryBatcher* queries = nullptr;    // QueriesPending()/WaitForIdle() before each step
  LearnerMetrics* metrics = nullptr;  // the learner's Prometheus series; may be null
};

// A zero-shot probe task, decoded and preprocessed by the server (AdminService.SetProbes).
struct ProbeTask {
  std::string name;
  std::vector<std::string> labels;
  std::vector<std::string> templates;
  torch::Tensor pixels;          // [N, 3, R, R] preprocessed, CPU
  std::vector<int64_t> targets;  // index into labels, one per image
  double base_accuracy = 0.0;    // with the base model (retention denominator)
};

// Counters and metrics for GetStatus and /metrics.
struct LearnerProgress {
  uint64_t model_version = 0;    // last version this learner published (or restored)
  uint64_t cursor = 0;           // last seq consumed into the live lineage
  uint64_t samples_trained = 0;  // TRAIN samples trained on, in this lineage
  uint64_t steps = 0;            // optimizer steps, in this lineage
  bool paused = false;
  // Learning metrics by the names GetStatusResponse.metrics documents ("anytime_acc", "a_auc",
  // "forgetting", "zs_acc/<probe>", "loss", ...).
  std::map<std::string, double> metrics;
};

// The learner's state at a checkpoint, as the store keeps it (adapters opaque).
struct LearnerCheckpointState {
  uint64_t model_version = 0;  // the live version this state was published as
  uint64_t cursor = 0;
  uint64_t samples_trained = 0;
  uint64_t steps = 0;
  std::string adapter;    // SerializeAdapters() bytes; empty: the base model
  std::string optimizer;  // optimizer state; may be empty
  std::map<std::string, double> metrics;
};

class LearnerControl {
 public:
  virtual ~LearnerControl() = default;

  // The method and PET choice, e.g. "frozen", "sit+vrlwf/lora" (GetStatus, checkpoints).
  virtual std::string method() const = 0;

  // Resumes from `start` (the store's newest valid checkpoint; nullopt: the base model) at
  // `cursor` (learning continues at cursor + 1), publishes that state when its version is above
  // the live one, and starts the learner thread. Called once.
  virtual absl::Status Start(const std::optional<v1::CheckpointRecord>& start, uint64_t cursor) = 0;
  // Stops after the step in progress and joins the thread. Idempotent.
  virtual void Stop() = 0;

  // Pause after the step in progress / resume. Ingestion and queries go on meanwhile.
  virtual void Pause() = 0;
  virtual void Resume() = 0;

  // True when the live version may still grow without an admin action (learning and not
  // paused). Classify with a min_version above the live one fails fast when this is false.
  virtual bool WillPublish() const = 0;

  // Last sequence number consumed (cheap; read on every Ingest for backpressure).
  virtual uint64_t cursor() const = 0;
  virtual LearnerProgress Progress() const = 0;

  // Must also work after Stop() (the final checkpoint at shutdown is taken then).
  // Between steps: makes the current training state live under a version >= `min_version`
  // (publishing it again as `min_version` when its live version is lower) and returns it.
  virtual absl::StatusOr<LearnerCheckpointState> CaptureCheckpoint(uint64_t min_version) = 0;

  // Rollback: replaces the training state with `record`'s (nullptr: the base model, fresh
  // adapters), continues after `cursor`, and publishes it as `new_version`. INVALID_ARGUMENT or
  // DATA_LOSS if the record's adapter bytes do not parse; the old state stays then.
  virtual absl::Status Restore(const v1::CheckpointRecord* record, uint64_t cursor,
                               uint64_t new_version) = 0;

  // Replaces the zero-shot probes used for retention metrics.
  virtual void SetProbes(std::shared_ptr<const std::vector<ProbeTask>> probes) = 0;
  // The replay vocabulary in the store has grown (AddVocabulary).
  virtual void OnVocabularyChanged() {}
};

}  // namespace perennial

#endif  // PERENNIAL_SERVER_LEARNER_CONTROL_H_
