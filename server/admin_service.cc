#include "server/admin_service.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proto/timestamp.h"
#include "server/handler_threads.h"
#include "server/probes.h"
#include "server/status_convert.h"
#include "server/validation.h"

namespace perennial {
namespace {

constexpr char kServerVersion[] = "0.1.0";
constexpr int kMaxVocabularyWords = 10000;
constexpr size_t kMaxWordBytes = 64;

grpc::Status NotReady(const ServerCore& core) { return ToGrpcStatus(core.CheckReady()); }

}  // namespace

grpc::Status AdminServiceImpl::GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest*,
                                         v1::GetStatusResponse* response) {
  if (absl::Status denied = core_->Authorize(*context); !denied.ok()) return ToGrpcStatus(denied);
  Store& store = *core_->store;
  const bool ready = core_->is_ready();
  const uint64_t last_seq = store.LastSeq();
  const uint64_t cursor = core_->LearnerCursor();
  response->set_server_version(kServerVersion);
  *response->mutable_start_time() = ToProtoTimestamp(core_->start_time);
  response->set_device(core_->device);
  response->set_dtype(core_->dtype);
  response->set_method(core_->method);
  response->set_base_model_id(store.base_model_id());
  response->set_last_seq(last_seq);
  response->set_cursor(cursor);
  response->set_lag_samples(last_seq > cursor ? last_seq - cursor : 0);
  response->set_backlog(response->lag_samples());
  response->set_backlog_limit(core_->limits.max_backlog_samples);
  if (last_seq > cursor) {
    absl::StatusOr<v1::StoredSample> oldest = store.GetSample(cursor + 1);
    if (oldest.ok()) {
      const absl::Time received = FromProtoTimestamp(oldest->received_time());
      response->set_lag_seconds(std::max(0.0, absl::ToDoubleSeconds(absl::Now() - received)));
    }
  }
  const uint64_t checkpoint_version = store.CurrentVersion();
  response->set_checkpoint_version(checkpoint_version);
  if (checkpoint_version != 0) {
    absl::StatusOr<v1::CheckpointRecord> record = store.ReadCheckpoint(checkpoint_version);
    if (record.ok()) *response->mutable_checkpoint_time() = record->info().created_time();
  }
  if (!ready) {
    response->set_health(v1::GetStatusResponse::STARTING);
    return grpc::Status::OK;
  }
  const LearnerProgress progress = core_->learner->Progress();
  response->set_model_version(core_->host->version());
  response->set_learning_paused(progress.paused);
  response->set_samples_trained(progress.samples_trained);
  response->set_steps(progress.steps);
  for (const auto& [name, value] : progress.metrics) (*response->mutable_metrics())[name] = value;
  response->set_health(core_->learner->WillPublish() ? v1::GetStatusResponse::LEARNING
                                                     : v1::GetStatusResponse::SERVING);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::Checkpoint(grpc::ServerContext* context,
                                          const v1::CheckpointRequest* request,
                                          v1::CheckpointResponse* response) {
  LimitHandlerThreads(core_->handler_intra_op_threads);  // (de)serialises tensors
  if (absl::Status denied = core_->Authorize(*context); !denied.ok()) return ToGrpcStatus(denied);
  if (!core_->is_ready()) return NotReady(*core_);
  std::vector<std::string> tags(request->tags().begin(), request->tags().end());
  absl::StatusOr<v1::CheckpointInfo> info = core_->checkpointer->Checkpoint(tags);
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response->mutable_checkpoint() = *std::move(info);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ListCheckpoints(grpc::ServerContext* context,
                                               const v1::ListCheckpointsRequest*,
                                               v1::ListCheckpointsResponse* response) {
  if (absl::Status denied = core_->Authorize(*context); !denied.ok()) return ToGrpcStatus(denied);
  absl::StatusOr<CheckpointListing> listing = core_->store->ListCheckpoints();
  if (!listing.ok()) return ToGrpcStatus(listing.status());
  for (v1::CheckpointInfo& info : listing->checkpoints) {
    *response->add_checkpoints() = std::move(info);
  }
  for (uint64_t version : listing->corrupt_versions) response->add_corrupt_versions(version);
  response->set_current_version(core_->store->CurrentVersion());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::Rollback(grpc::ServerContext* context,
                                        const v1::RollbackRequest* request,
                                        v1::RollbackResponse* response) {
  LimitHandlerThreads(core_->handler_intra_op_threads);  // (de)serialises tensors
  if (absl::Status denied = core_->Authorize(*context); !denied.ok()) return ToGrpcStatus(denied);
  if (!core_->is_ready()) return NotReady(*core_);
  absl::StatusOr<v1::RollbackResponse> result =
      core_->checkpointer->Rollback(request->version(), request->resume_from_head());
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::SetLabelSet(grpc::ServerContext* context,
                                           const v1::SetLabelSetRequest* request,
                                           v1::SetLabelSetResponse* response) {
  if (absl::Status denied = core_->Authorize(*context); !denied.ok()) return ToGrpcStatus(denied);
  absl::Status status = ValidateName(request->name(), "name");
  if (status.ok() && !request->labels().empty()) {
    status = ValidateLabelList(request->labels(), core_->limits, "labels");
  }
  if (status.ok()) status = ValidateTemplates(request->templates(), core_->limits, "templates");
  if (!status.ok()) return ToGrpcStatus(status);
  LabelSet set;
  set.labels.assign(request->labels().begin(), request->labels().end());
  set.templates.assign(request->templates().begin(), request->templates().end());
  status = core_->label_sets->Set(request->name(), set);
  if (!status.ok()) return ToGrpcStatus(status);
  response->set_label_count(static_cast<uint32_t>(set.labels.size()));
  return grpc::Status::OK;
}

absl::Status AdminServiceImpl::DoSetProbes(const grpc::ServerContext& context,
                                           const v1::SetProbesRequest& request,
                                           v1::SetProbesResponse* response) {
  LimitHandlerThreads(core_->handler_intra_op_threads);
  absl::Status status = core_->CheckReady();
  if (!status.ok()) return status;
  absl::StatusOr<std::shared_ptr<std::vector<ProbeTask>>> tasks =
      BuildProbeTasks(request, *core_, CallDeadline(context));
  if (!tasks.ok()) return tasks.status();
  for (const ProbeTask& task : **tasks) {
    (*response->mutable_base_accuracy())[task.name] = task.base_accuracy;
  }
  // Stored so that a restart measures the same probes (RestoreProbes).
  status = core_->store->PutBlob(kProbesBlob, request.SerializeAsString());
  if (!status.ok()) return status;
  core_->learner->SetProbes(*std::move(tasks));
  return absl::OkStatus();
}

grpc::Status AdminServiceImpl::SetProbes(grpc::ServerContext* context,
                                         const v1::SetProbesRequest* request,
                                         v1::SetProbesResponse* response) {
  if (absl::Status denied = core_->Authorize(*context); !denied.ok()) return ToGrpcStatus(denied);
  return ToGrpcStatus(DoSetProbes(*context, *request, response));
}

grpc::Status AdminServiceImpl::AddVocabulary(grpc::ServerContext* context,
                                             const v1::AddVocabularyRequest* request,
                                             v1::AddVocabularyResponse* response) {
  if (absl::Status denied = core_->Authorize(*context); !denied.ok()) return ToGrpcStatus(denied);
  if (request->words().empty() || request->words_size() > kMaxVocabularyWords) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("words: ", request->words_size(), " words, want 1..", kMaxVocabularyWords));
  }
  for (int i = 0; i < request->words_size(); ++i) {
    const std::string& word = request->words(i);
    if (word.empty() || word.size() > kMaxWordBytes || !IsValidUtf8(word)) {
      return grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("words[", i, "]: ", word.size(), " bytes, want 1..64 bytes of valid UTF-8"));
    }
  }
  std::vector<std::string> words(request->words().begin(), request->words().end());
  absl::StatusOr<size_t> added = core_->store->AddVocabulary(words);
  if (!added.ok()) return ToGrpcStatus(added.status());
  absl::StatusOr<std::vector<std::string>> all = core_->store->ListVocabulary();
  if (!all.ok()) return ToGrpcStatus(all.status());
  response->set_added(static_cast<uint32_t>(*added));
  response->set_total(static_cast<uint32_t>(all->size()));
  if (core_->is_ready() && *added > 0) core_->learner->OnVocabularyChanged();
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::PauseLearning(grpc::ServerContext* context,
                                             const v1::PauseLearningRequest*,
                                             v1::PauseLearningResponse* response) {
  if (absl::Status denied = core_->Authorize(*context); !denied.ok()) return ToGrpcStatus(denied);
  if (!core_->is_ready()) return NotReady(*core_);
  core_->learner->Pause();
  response->set_model_version(core_->host->version());
  response->set_cursor(core_->learner->cursor());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ResumeLearning(grpc::ServerContext* context,
                                              const v1::ResumeLearningRequest*,
                                              v1::ResumeLearningResponse* response) {
  if (absl::Status denied = core_->Authorize(*context); !denied.ok()) return ToGrpcStatus(denied);
  if (!core_->is_ready()) return NotReady(*core_);
  core_->learner->Resume();
  response->set_model_version(core_->host->version());
  response->set_cursor(core_->learner->cursor());
  return grpc::Status::OK;
}

}  // namespace perennial
