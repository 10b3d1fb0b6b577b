#include "server/ingest_service.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/status_convert.h"
#include "server/validation.h"

namespace perennial {
namespace {

void Reject(v1::SampleResult* result, std::string reason, bool retryable) {
  result->set_outcome(v1::SampleResult::REJECTED);
  result->set_seq(0);
  result->set_reason(std::move(reason));
  result->set_retryable(retryable);
}

bool IsRetryable(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsResourceExhausted(status) ||
         absl::IsAborted(status) || absl::IsDeadlineExceeded(status);
}

// The samples of a request that passed validation, and where each one's result is.
struct CheckedSamples {
  std::vector<v1::Sample> samples;
  std::vector<int> results;  // index into response->results
};

// Adds a result per sample of `request` to `response` (index from *next_index on), rejecting
// the invalid ones (every one when the request has too many); the rest come back, label trimmed.
CheckedSamples CheckSamples(const v1::IngestRequest& request, const ServerLimits& limits,
                            uint32_t* next_index, v1::IngestResponse* response) {
  const int first = response->results_size();
  const bool too_many = static_cast<size_t>(request.samples_size()) > limits.max_batch_samples;
  CheckedSamples valid;
  for (int i = 0; i < request.samples_size(); ++i) {
    const v1::Sample& sample = request.samples(i);
    v1::SampleResult* result = response->add_results();
    result->set_index((*next_index)++);
    result->set_idempotency_key(sample.idempotency_key());
    if (too_many) {
      Reject(result,
             absl::StrCat("request has ", request.samples_size(), " samples, at most ",
                          limits.max_batch_samples, " per request"),
             false);
      continue;
    }
    const std::string field = absl::StrCat("samples[", result->index(), "]");
    absl::Status status = ValidateSample(sample, limits, field);
    if (!status.ok()) {
      Reject(result, std::string(status.message()), false);
      continue;
    }
    valid.samples.push_back(sample);
    valid.samples.back().set_label(TrimLabel(sample.label()));
    valid.results.push_back(first + i);
  }
  return valid;
}

// Keeps the samples that fit under the backlog limit and reserves room for them in
// core.ingest_reserved (the reservation covers concurrent calls; StoreAdmitted releases it); the
// rest are rejected as retryable. Returns whether any were.
bool AdmitUnderBacklog(ServerCore& core, CheckedSamples* checked, v1::IngestResponse* response) {
  const ServerLimits& limits = core.limits;
  const uint64_t n = checked->samples.size();
  const uint64_t backlog = core.Backlog() + core.ingest_reserved.fetch_add(n);
  const uint64_t room =
      backlog >= limits.max_backlog_samples ? 0 : limits.max_backlog_samples - backlog;
  const uint64_t admitted = std::min<uint64_t>(n, room);
  core.ingest_reserved.fetch_sub(n - admitted);
  for (uint64_t k = admitted; k < n; ++k) {
    Reject(response->mutable_results(checked->results[k]),
           absl::StrCat("backlog full: ", backlog, " samples not yet learned (limit ",
                        limits.max_backlog_samples, "); retry after ", limits.backpressure_retry_ms,
                        " ms"),
           true);
  }
  checked->samples.resize(admitted);
  checked->results.resize(admitted);
  return admitted < n;
}

// Appends the admitted samples to the sample log in one write and fills in their results.
void StoreAdmitted(ServerCore& core, CheckedSamples admitted, v1::IngestResponse* response) {
  if (admitted.samples.empty()) return;
  const uint64_t n = admitted.samples.size();
  absl::StatusOr<std::vector<AppendResult>> appended =
      core.store->AppendSamples(std::move(admitted.samples));
  core.ingest_reserved.fetch_sub(n);
  for (size_t k = 0; k < admitted.results.size(); ++k) {
    v1::SampleResult* result = response->mutable_results(admitted.results[k]);
    if (!appended.ok()) {
      Reject(result, absl::StrCat("not stored: ", appended.status().message()),
             IsRetryable(appended.status()));
      continue;
    }
    const AppendResult& ack = (*appended)[k];
    result->set_outcome(ack.duplicate ? v1::SampleResult::DUPLICATE : v1::SampleResult::ACCEPTED);
    result->set_seq(ack.seq);
  }
}

// Adds the outcomes of the results from index `first` on (this request's) to the response's
// totals and the metrics.
void CountOutcomes(int first, size_t request_bytes, ServerMetrics* metrics,
                   v1::IngestResponse* response) {
  uint64_t accepted = 0, duplicates = 0, rejected = 0;
  for (int i = first; i < response->results_size(); ++i) {
    switch (response->results(i).outcome()) {
      case v1::SampleResult::ACCEPTED: ++accepted; break;
      case v1::SampleResult::DUPLICATE: ++duplicates; break;
      default: ++rejected; break;
    }
  }
  response->set_accepted(response->accepted() + accepted);
  response->set_duplicates(response->duplicates() + duplicates);
  response->set_rejected(response->rejected() + rejected);
  metrics->CountIngest(accepted, duplicates, rejected, request_bytes);
}

}  // namespace

void IngestServiceImpl::Process(const v1::IngestRequest& request, uint32_t* next_index,
                                v1::IngestResponse* response, bool* backpressured) {
  const int first = response->results_size();
  CheckedSamples checked = CheckSamples(request, core_->limits, next_index, response);
  *backpressured = AdmitUnderBacklog(*core_, &checked, response) || *backpressured;
  StoreAdmitted(*core_, std::move(checked), response);
  CountOutcomes(first, request.ByteSizeLong(), core_->metrics, response);
}

grpc::Status IngestServiceImpl::Finish(grpc::ServerContext* context, bool backpressured,
                                       v1::IngestResponse* response) {
  response->set_last_seq(core_->store->LastSeq());
  if (!backpressured) return grpc::Status::OK;
  const std::string retry_ms = std::to_string(core_->limits.backpressure_retry_ms);
  if (response->accepted() + response->duplicates() == 0) {
    context->AddTrailingMetadata("retry-after-ms", retry_ms);
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        absl::StrCat("backlog full (limit ", core_->limits.max_backlog_samples,
                                     " untrained samples); retry after ", retry_ms, " ms"));
  }
  response->set_retry_after_ms(core_->limits.backpressure_retry_ms);
  return grpc::Status::OK;
}

grpc::Status IngestServiceImpl::Ingest(grpc::ServerContext* context,
                                       grpc::ServerReader<v1::IngestRequest>* reader,
                                       v1::IngestResponse* response) {
  if (absl::Status denied = core_->Authorize(*context); !denied.ok()) return ToGrpcStatus(denied);
  uint32_t next_index = 0;
  bool backpressured = false;
  v1::IngestRequest request;
  while (reader->Read(&request)) {
    if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    Process(request, &next_index, response, &backpressured);
  }
  return Finish(context, backpressured, response);
}

grpc::Status IngestServiceImpl::IngestBatch(grpc::ServerContext* context,
                                            const v1::IngestRequest* request,
                                            v1::IngestResponse* response) {
  if (absl::Status denied = core_->Authorize(*context); !denied.ok()) return ToGrpcStatus(denied);
  if (request->samples().empty()) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        "samples: empty; send 1.." + std::to_string(core_->limits.max_batch_samples));
  }
  uint32_t next_index = 0;
  bool backpressured = false;
  Process(*request, &next_index, response, &backpressured);
  return Finish(context, backpressured, response);
}

}  // namespace perennial
