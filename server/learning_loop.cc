#include "server/learning_loop.h"

#include <algorithm>
#include <iostream>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "learner/base/cpu_runtime.h"
#include "learner/base/torch_status.h"
#include "learner/base/yield_point.h"
#include "learner/model/adapter_io.h"
#include "learner/model/preprocess.h"
#include "server/model_host.h"
#include "server/query_batcher.h"
#include "server/validation.h"
#include "storage/store.h"

namespace perennial {
absl::StatusOr<std::unique_ptr<LearningLoop>> LearningLoop::Create(LearnerEnv env,
                                                                   LearningLoopOptions options) {
  if (env.store == nullptr || env.host == nullptr) {
    return absl::InvalidArgumentError("LearningLoop needs a store and a model host");
  }
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("learner batch size ", options.batch_size, " must be at least 1"));
  }
  std::vector<std::string> vocabulary;
  if (RecipeFor(options.learner.method).vocabulary_kd) {
    // Words added with AdminService.AddVocabulary replace the system word list.
    absl::StatusOr<std::vector<std::string>> words = env.store->ListVocabulary();
    if (!words.ok()) return words.status();
    vocabulary = *std::move(words);
  }
  absl::StatusOr<std::unique_ptr<OnlineLearner>> learner = OnlineLearner::Create(
      &env.host->model(), &env.host->tokenizer(), options.learner, vocabulary);
  if (!learner.ok()) return learner.status();
  return std::unique_ptr<LearningLoop>(
      new LearningLoop(env, std::move(options), *std::move(learner), std::move(vocabulary)));
}

LearningLoop::LearningLoop(LearnerEnv env, LearningLoopOptions options,
                           std::unique_ptr<OnlineLearner> learner,
                           std::vector<std::string> vocabulary)
    : env_(env),
      options_(std::move(options)),
      vocabulary_(std::move(vocabulary)),
      learner_(std::move(learner)),
      evaluator_(&env.host->model(), &env.host->tokenizer(), options_.learner.templates,
                 options_.evaluation) {
  BatchReaderOptions reader;
  reader.batch_size = options_.batch_size;
  reader.limits = options_.limits;
  reader.draft_min_side = env_.host->jpeg_draft_min_side();
  reader.preprocess = env_.host->preprocess_options();
  reader.prefetch = options_.prefetch_batches;
  reader.nice = options_.learner_nice;
  reader.decode_threads = options_.decode_threads;
  reader_ = std::make_unique<BatchReader>(env_.store, std::move(reader));
}

LearningLoop::~LearningLoop() { Stop(); }

std::string LearningLoop::method() const {
  return absl::StrCat(OnlineMethodName(options_.learner.method), "/",
                      PetKindName(options_.learner.pet.kind));
}

absl::Status LearningLoop::Start(const std::optional<v1::CheckpointRecord>& start,
                                 uint64_t cursor) {
  {
    absl::MutexLock lock(&mu_);
    if (start.has_value()) {
      absl::Status restored = RestoreLocked(&*start);
      if (!restored.ok()) return restored;
      if (start->info().version() > env_.host->version()) {
        absl::Status published = PublishLocked(start->info().version());
        if (!published.ok()) return published;
      }
    }
    cursor_.store(cursor, std::memory_order_release);
    RescanEvalSamples(cursor);
    ExportMetricsLocked();
  }
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void LearningLoop::Stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
  reader_.reset();  // ends a batch being prepared: nothing reads the store after Stop()
}

void LearningLoop::Pause() { paused_.store(true); }
void LearningLoop::Resume() { paused_.store(false); }

bool LearningLoop::WillPublish() const {
  return !paused_.load() && !stopping_.load() && RecipeFor(options_.learner.method).update;
}

LearnerProgress LearningLoop::Progress() const {
  LearnerProgress progress;
  progress.model_version = env_.host->version();
  progress.cursor = cursor();
  progress.samples_trained = samples_trained_.load();
  progress.steps = steps_.load();
  progress.paused = paused_.load();
  absl::MutexLock lock(&metrics_mu_);
  progress.metrics = metrics_snapshot_;
  return progress;
}

void LearningLoop::SetProbes(std::shared_ptr<const std::vector<ProbeTask>> probes) {
  absl::MutexLock lock(&mu_);
  evaluator_.SetProbes(std::move(probes));
  // Measure the new probes now rather than at the next evaluation point.
  absl::Status evaluated = evaluator_.Evaluate(&learner_->adapters(), learner_->labels(),
                                               static_cast<int64_t>(samples_trained_.load()));
  if (!evaluated.ok()) std::cerr << "learner: probe evaluation: " << evaluated << std::endl;
  ExportMetricsLocked();
}

void LearningLoop::Run() {
  // Before this thread's first LibTorch op, so that its OpenMP team inherits the priority.
  if (options_.learner_nice > 0 && !LowerCallingThreadPriority(options_.learner_nice)) {
    std::cerr << "learner: could not lower the learner thread's priority" << std::endl;
  }
  if (options_.intra_op_threads > 0) SetCallingThreadIntraOpThreads(options_.intra_op_threads);
  const ScopedYieldHook pause_for_queries([this] { PauseForQueries(); });
  // Since when the learner has been caught up, while it holds memory from its last steps.
  std::optional<absl::Time> idle_since;
  while (!stopping_.load()) {
    if (paused_.load()) {
      absl::SleepFor(absl::Milliseconds(50));
      continue;
    }
    if (env_.queries != nullptr && env_.queries->QueriesPending()) {
      WaitForQueries(absl::Milliseconds(100));
      continue;
    }
    const uint64_t after = cursor();
    if (env_.store->LastSeq() <= after) {
      {
        absl::MutexLock lock(&mu_);
        PublishStepsLocked();
      }
      if (idle_since.has_value() && options_.release_memory_after_idle > absl::ZeroDuration() &&
          absl::Now() - *idle_since >= options_.release_memory_after_idle) {
        ReleaseFreeHeapMemory();
        idle_since.reset();
      }
      if (env_.metrics != nullptr) env_.metrics->SetLagSeconds(0);
      env_.store->WaitForSamples(after, absl::Milliseconds(100));
      continue;
    }
    // A short backlog: give the stream batch_wait to fill the batch.
    const absl::Time deadline = absl::Now() + options_.batch_wait;
    for (uint64_t last = env_.store->LastSeq();
         last - after < static_cast<uint64_t>(options_.batch_size) && !stopping_.load() &&
         absl::Now() < deadline;
         last = env_.store->LastSeq()) {
      env_.store->WaitForSamples(last, deadline - absl::Now());
    }
    const absl::Time read_start = absl::Now();
    DecodedBatch read = reader_->Take(after);
    if (env_.metrics != nullptr) env_.metrics->AddInputWait(absl::Now() - read_start);
    absl::MutexLock lock(&mu_);
    if (cursor() != after) continue;  // a Restore() moved the cursor meanwhile
    Batch batch = AcceptLocked(std::move(read));
    const uint64_t consumed = std::max(cursor(), batch.last_seq);
    if (batch.pixels.defined()) {
      TrainLocked(std::move(batch));
      idle_since = absl::Now();
    } else {
      ExportMetricsLocked();  // EVAL or skipped samples only: no step exports what they changed
    }
    // Caught up: the last steps go live before the cursor says so, so that a client that sees
    // cursor >= last_seq in GetStatus is answered by a model that learned every sample.
    if (env_.store->LastSeq() <= consumed) PublishStepsLocked();
    cursor_.store(consumed, std::memory_order_release);
  }
}

void LearningLoop::PublishStepsLocked() {
  if (learner_->step() <= published_step_) return;
  absl::Status published = PublishLocked(0);
  if (!published.ok()) std::cerr << "learner: publish: " << published << std::endl;
}

void LearningLoop::PauseForQueries() {
  if (env_.queries == nullptr || !env_.queries->QueriesPending()) return;
  const std::optional<absl::Time> deadline = step_pause_.BeginWait(absl::Now());
  if (!deadline.has_value()) return;
  env_.queries->WaitForIdle(*deadline - absl::Now());
  // Overlapping waits count once: the metric is the time the step stood still.
  const absl::Duration paused = step_pause_.EndWait(absl::Now());
  if (env_.metrics != nullptr && paused > absl::ZeroDuration()) {
    env_.metrics->AddQueryPause(paused);
  }
}

void LearningLoop::WaitForQueries(absl::Duration timeout) {
  const absl::Time start = absl::Now();
  env_.queries->WaitForIdle(timeout);
  if (env_.metrics != nullptr) env_.metrics->AddQueryPause(absl::Now() - start);
}

LearningLoop::Batch LearningLoop::AcceptLocked(DecodedBatch read) {
  skipped_samples_ += read.skipped;
  for (size_t i = 0; i < read.eval_pixels.size(); ++i) {
    evaluator_.AddEvalSample(read.eval_pixels[i], read.eval_labels[i]);
  }
  Batch batch;
  batch.last_seq = read.last_seq;
  batch.oldest_received = read.oldest_received;
  if (!read.train_pixels.empty()) batch.pixels = torch::stack(read.train_pixels);
  batch.labels = std::move(read.train_labels);
  return batch;
}

void LearningLoop::TrainLocked(Batch batch) {
  if (env_.metrics != nullptr && batch.oldest_received != absl::Time()) {
    const bool behind = env_.store->LastSeq() > batch.last_seq;
    env_.metrics->SetLagSeconds(behind ? absl::ToDoubleSeconds(absl::Now() - batch.oldest_received)
                                       : 0.0);
  }
  step_pause_.Reset(options_.max_pause_per_step);
  const absl::Time start = absl::Now();
  absl::StatusOr<ObserveResult> result = learner_->Observe(batch.pixels, batch.labels);
  const int samples = static_cast<int>(batch.labels.size());
  if (!result.ok()) {
    skipped_samples_ += samples;
    last_error_ = std::string(result.status().message());
    std::cerr << "learner: step on samples up to " << batch.last_seq
              << " failed (skipped): " << result.status() << std::endl;
    return;
  }
  samples_trained_ += samples;
  steps_ += result->steps;
  last_loss_ = result->loss;
  evaluator_.AddPrequential(result->prequential_correct, result->prequential_count);
  if (env_.metrics != nullptr) {
    env_.metrics->ObserveStep({samples, result->steps, absl::Now() - start, result->loss,
                               result->ce_loss, result->kd_loss});
  }
  if (result->published) {
    absl::Status published = PublishLocked(0);
    if (!published.ok()) std::cerr << "learner: publish: " << published << std::endl;
  }
  const auto trained = static_cast<int64_t>(samples_trained_.load());
  if (evaluator_.Due(trained)) {
    absl::Status evaluated =
        evaluator_.Evaluate(&learner_->adapters(), learner_->labels(), trained);
    if (!evaluated.ok()) std::cerr << "learner: evaluation: " << evaluated << std::endl;
  }
  ExportMetricsLocked();
}

absl::Status LearningLoop::PublishLocked(uint64_t min_version) {
  std::shared_ptr<const ModelSnapshot> snapshot = learner_->snapshot();
  if (snapshot->step < learner_->step()) {
    absl::Status status = learner_->Publish();
    if (!status.ok()) return status;
    snapshot = learner_->snapshot();
  }
  const uint64_t version = std::max(env_.host->version() + 1, min_version);
  // The served adapters share the snapshot's lifetime; neither is ever mutated.
  std::shared_ptr<const Adapters> adapters(snapshot, &snapshot->adapters);
  absl::Status status = env_.host->Publish(version, std::move(adapters));
  if (status.ok()) published_step_ = snapshot->step;
  return status;
}

absl::StatusOr<LearnerCheckpointState> LearningLoop::CaptureCheckpoint(uint64_t min_version) {
  absl::MutexLock lock(&mu_);
  if (learner_->step() > published_step_ || env_.host->version() < min_version) {
    absl::Status published = PublishLocked(min_version);
    if (!published.ok()) return published;
  }
  LearnerCheckpointState state;
  state.model_version = env_.host->version();
  state.cursor = cursor();
  state.samples_trained = samples_trained_.load();
  state.steps = steps_.load();
  absl::StatusOr<std::string> adapter =
      SerializeAdapters(learner_->adapters(), env_.host->model().config());
  if (!adapter.ok()) return adapter.status();
  state.adapter = *std::move(adapter);
  absl::StatusOr<std::string> learner_state = learner_->SaveState();
  if (!learner_state.ok()) return learner_state.status();
  state.optimizer = *std::move(learner_state);
  state.metrics = evaluator_.metrics();
  state.metrics["loss"] = last_loss_;
  state.metrics["skipped_samples"] = static_cast<double>(skipped_samples_);
  return state;
}

absl::Status LearningLoop::Restore(const v1::CheckpointRecord* record, uint64_t cursor,
                                   uint64_t new_version) {
  absl::MutexLock lock(&mu_);
  absl::Status restored = RestoreLocked(record);
  if (!restored.ok()) return restored;
  cursor_.store(cursor, std::memory_order_release);
  absl::Status published = PublishLocked(new_version);
  ExportMetricsLocked();
  return published;
}

absl::Status LearningLoop::RestoreLocked(const v1::CheckpointRecord* record) {
  const bool has_state = record != nullptr && !record->optimizer().empty();
  if (record != nullptr && !has_state && !record->adapter().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint ", record->info().version(), " (method '", record->info().method(),
                     "') holds adapters without learner state; this server runs '", method(), "'"));
  }
  if (has_state && record->info().method() != method()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint ", record->info().version(), " was trained by method '",
        record->info().method(), "' but this server runs '", method(),
        "'; restart with --method matching it, or Rollback to version 0 to start over"));
  }
  absl::StatusOr<std::unique_ptr<OnlineLearner>> fresh = OnlineLearner::Create(
      &env_.host->model(), &env_.host->tokenizer(), options_.learner, vocabulary_);
  if (!fresh.ok()) return fresh.status();
  if (has_state) {
    absl::Status status = (*fresh)->RestoreState(record->optimizer());
    if (!status.ok()) {
      return absl::DataLossError(
          absl::StrCat("checkpoint ", record->info().version(),
                       ": learner state does not restore: ", status.message()));
    }
  }
  learner_ = *std::move(fresh);
  published_step_ = has_state ? -1 : 0;  // a restored state is published by the caller
  std::map<std::string, double> metrics;
  if (record != nullptr)
    metrics.insert(record->info().metrics().begin(), record->info().metrics().end());
  evaluator_.RestoreMetrics(metrics);
  samples_trained_.store(record != nullptr ? record->info().samples_trained() : 0);
  steps_.store(record != nullptr ? record->info().steps() : 0);
  return absl::OkStatus();
}

void LearningLoop::RescanEvalSamples(uint64_t cursor) {
  // The reservoir chooses from the log's records first and only its survivors are decoded: with
  // camera photos, decoding every EVAL sample of the window took seconds of each start-up.
  const std::vector<uint64_t> chosen = ChooseEvalSamples(cursor);
  const PreprocessOptions preprocess = env_.host->preprocess_options();
  const int draft_min_side = env_.host->jpeg_draft_min_side();
  for (size_t slot = 0; slot < chosen.size(); ++slot) {
    absl::StatusOr<std::vector<v1::StoredSample>> logged = env_.store->ReadSamples(chosen[slot], 1);
    if (!logged.ok() || logged->empty() || logged->front().seq() != chosen[slot]) continue;
    const v1::StoredSample& stored = logged->front();
    absl::StatusOr<torch::Tensor> pixels =
        DecodeLoggedImage(stored, options_.limits, draft_min_side, preprocess);
    if (pixels.ok()) evaluator_.SetEvalSample(slot, *pixels, TrimLabel(stored.sample().label()));
  }
}

std::vector<uint64_t> LearningLoop::ChooseEvalSamples(uint64_t cursor) {
  const uint64_t first =
      cursor > options_.eval_rescan_samples ? cursor - options_.eval_rescan_samples + 1 : 1;
  std::vector<uint64_t> chosen;  // slot -> seq
  for (uint64_t seq = first; seq <= cursor;) {
    absl::StatusOr<std::vector<v1::StoredSample>> logged =
        env_.store->ReadSamples(seq, std::min<uint64_t>(kLogReadChunk, cursor - seq + 1));
    if (!logged.ok() || logged->empty()) break;
    for (const v1::StoredSample& stored : *logged) {
      seq = stored.seq() + 1;
      if (stored.sample().split() != v1::Sample::EVAL) continue;
      const std::optional<size_t> slot = evaluator_.OfferEvalSample();
      if (!slot.has_value()) continue;
      if (*slot >= chosen.size()) chosen.resize(*slot + 1);
      chosen[*slot] = stored.seq();
    }
  }
  return chosen;
}

void LearningLoop::ExportMetricsLocked() {
  std::map<std::string, double> metrics = evaluator_.metrics();
  metrics["loss"] = last_loss_;
  metrics["skipped_samples"] = static_cast<double>(skipped_samples_);
  metrics["eval_samples"] = static_cast<double>(evaluator_.eval_samples());
  metrics["labels_seen"] = static_cast<double>(learner_->labels().size());
  if (env_.metrics != nullptr) env_.metrics->SetLearningGauges(metrics);
  absl::MutexLock lock(&metrics_mu_);
  metrics_snapshot_ = std::move(metrics);
}

}  // namespace perennial
