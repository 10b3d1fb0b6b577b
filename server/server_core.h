// File: server/server_core.h
//
// What the three gRPC services share: limits, the store, metrics, label sets, and the model-side
// parts that exist once the model is loaded. Internal to server/.
//
// Lifetime: the gRPC server starts (and answers Ingest, GetStatus and health) before the model
// is loaded; `host`, `batcher`, `learner` and `checkpointer` are set once, before `ready` is
// stored true (release), and are read only after ready() returned true (acquire).
#ifndef PERENNIAL_SERVER_SERVER_CORE_H_
#define PERENNIAL_SERVER_SERVER_CORE_H_

#include <grpcpp/server_context.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/checkpointer.h"
#include "server/label_sets.h"
#include "server/learner_control.h"
#include "server/limits.h"
#include "server/metrics.h"
#include "server/model_host.h"
#include "server/query_batcher.h"
#include "server/security.h"
#include "storage/store.h"

namespace perennial {

struct ServerCore {
  ServerLimits limits;
  Store* store = nullptr;
  ServerMetrics* metrics = nullptr;
  LabelSets* label_sets = nullptr;
  absl::Time start_time;
  // Bearer-token check of every call; null: calls need no token.
  const TokenAuthenticator* auth = nullptr;
  std::string device = "cpu";
  std::string dtype = "fp32";  // resolved: never "auto"
  std::string method;
  // LibTorch intra-op threads of the work a gRPC thread does itself (a query's preprocessing,
  // label embeddings and scoring; SetProbes); 0 leaves LibTorch's default, all cores. Handlers
  // apply it with LimitHandlerThreads (handler_threads.h).
  int handler_intra_op_threads = 0;

  ModelHost* host = nullptr;
  QueryBatcher* batcher = nullptr;
  LearnerControl* learner = nullptr;
  Checkpointer* checkpointer = nullptr;
  std::atomic<bool> ready{false};

  // Samples admitted by Ingest calls whose append has not returned yet (backpressure counts
  // them as backlog so that concurrent calls cannot overshoot the limit together).
  std::atomic<uint64_t> ingest_reserved{0};

  // OK, or UNAUTHENTICATED when the server requires a token the call does not carry.
  absl::Status Authorize(const grpc::ServerContext& context) const {
    return auth == nullptr ? absl::OkStatus() : auth->Check(context);
  }
  bool is_ready() const { return ready.load(std::memory_order_acquire); }
  // UNAVAILABLE while the model is loading.
  absl::Status CheckReady() const {
    return is_ready() ? absl::OkStatus()
                      : absl::UnavailableError("the model is still loading; retry shortly");
  }
  // The learner's cursor, or the stored one before the learner runs.
  uint64_t LearnerCursor() const { return is_ready() ? learner->cursor() : store->Cursor(); }
  // Logged samples the learner has not consumed.
  uint64_t Backlog() const {
    const uint64_t last = store->LastSeq();
    const uint64_t cursor = LearnerCursor();
    return last > cursor ? last - cursor : 0;
  }
};

// The call's deadline as absl::Time (InfiniteFuture when the client set none).
inline absl::Time CallDeadline(const grpc::ServerContext& context) {
  const auto deadline = context.deadline();
  if (deadline >= std::chrono::system_clock::time_point::max() - std::chrono::hours(24 * 365)) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

}  // namespace perennial

#endif  // PERENNIAL_SERVER_SERVER_CORE_H_
