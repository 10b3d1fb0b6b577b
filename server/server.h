// File: server/server.h
//
// perennial-server as a library: the gRPC services (Ingest, Inference, Admin), grpc.health.v1,
// server reflection, /metrics, the store and the learner, started in two phases so that health
// can say NOT_SERVING while the model loads:
//
//   absl::StatusOr<std::unique_ptr<PerennialServer>> server = PerennialServer::Start(options);
//   // listening: Ingest and GetStatus work, health is NOT_SERVING, queries are UNAVAILABLE
//   absl::Status loaded = (*server)->LoadModel();  // health SERVING, learner running
//   ...
//   (*server)->Shutdown();  // stop accepting, drain, final checkpoint
//
// Thread-safety: Start/LoadModel/Shutdown are called from one controlling thread.
#ifndef PERENNIAL_SERVER_SERVER_H_
#define PERENNIAL_SERVER_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/checkpoint_scheduler.h"
#include "server/learning_loop.h"
#include "server/limits.h"
#include "server/model_host.h"
#include "server/query_batcher.h"
#include "server/security.h"
#include "storage/store.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace perennial {

struct ServerOptions {
  // gRPC address. Port 0 picks a free port (see port()). Default: 127.0.0.1:50051.
  std::string listen = "127.0.0.1:50051";
  // TLS and bearer tokens on the gRPC listener (security.h). Default: plaintext, no tokens.
  SecurityOptions security;
  // Prometheus /metrics address; empty disables it; port 0 picks a free port.
  // Default: 127.0.0.1:9464.
  std::string metrics_listen = "127.0.0.1:9464";
  // Data directory; the RocksDB store is <data_dir>/db. Default: ./perennial-data.
  std::string data_dir = "./perennial-data";
  // The base model's weight file (resolved: see learner/model/default_model.h). Required.
  std::string model_path;
  // "cpu", "cuda" or "cuda:N". Default: cpu.
  std::string device = "cpu";
  // Compute dtype of the frozen base weights: "fp32", "bf16" (about 2x faster on CPUs with
  // AVX512-BF16 and on GPUs; adapters and optimizer state stay fp32), or "auto": bf16 where
  // the device multiplies it natively (CUDA, AVX512-BF16 CPUs), else fp32. Start() resolves
  // "auto"; options() reports the choice. Default: auto.
  std::string dtype = "auto";
  // Learner method (learner_factory.h): sit+vrlwf, sit, lwf, er, asym-ft or frozen.
  // Default: sit+vrlwf.
  std::string method = "sit+vrlwf";
  // Batching, evaluation and hyper-parameters of the learning methods (learner.method is set
  // from `method`; decoding limits from `limits`).
  LearningLoopOptions learning;
  ServerLimits limits;
  QueryBatcherOptions batching;
  // The label-embedding cache and which label sets a new version embeds before it goes live.
  ModelHostOptions model_host;
  RetentionPolicy retention;
  // When checkpoints are written besides shutdown and AdminService.Checkpoint.
  CheckpointSchedule checkpoints;
  // Synced WAL for every acknowledged sample. Only tests turn this off. Default: true.
  bool sync_writes = true;
  // RocksDB memory caps (StoreOptions): memtables of all families together, and the block cache
  // (data, index and filter blocks). Defaults: 64 MiB and 16 MiB.
  size_t store_memtable_budget_bytes = 64 << 20;
  size_t store_block_cache_bytes = 16 << 20;
  // How long Shutdown() lets in-flight RPCs finish before cancelling them. Default: 10 s.
  absl::Duration drain_timeout = absl::Seconds(10);
  // gRPC handler threads kept waiting for calls (the sync server's MAX_POLLERS). A thread that
  // finishes a call while this many wait exits, and the next burst of calls starts new ones,
  // each with a cold allocator cache and LibTorch's per-thread setup: with gRPC's default of 2,
  // 16 back-to-back Classify clients got ~950 answers/s on the 2-core development machine
  // instead of ~1,400 (bench/README.md, session 16). 0: the query batch size
  // (batching.max_batch_size), at least 8, so that all the replies of one query batch can go
  // back to waiting, but below max_handler_threads. Default: 0.
  int idle_handler_threads = 0;
  // Most gRPC handler threads at once (a gRPC ResourceQuota on the sync server's threads). A
  // call that arrives while all are busy is refused at once with RESOURCE_EXHAUSTED instead of
  // starting another thread: each thread that has run a query holds ~2 MB (allocator caches,
  // LibTorch's per-thread state), and a query past the batcher's queue limit is refused anyway.
  // Must exceed idle_handler_threads and 1 (a resolved idle_handler_threads of 0 stays below
  // it); 0: no limit. Default: 256.
  int max_handler_threads = 256;
};

// ServerOptions::idle_handler_threads with 0 resolved.
int ResolvedIdleHandlerThreads(const ServerOptions& options);

class PerennialServer {
 public:
  // Identifies the model file, opens the store, starts /metrics and the gRPC server with health
  // NOT_SERVING. Errors: NOT_FOUND (model file), FAILED_PRECONDITION (data dir of another base
  // model, or locked by another process), UNAVAILABLE (an address cannot be bound).
  static absl::StatusOr<std::unique_ptr<PerennialServer>> Start(const ServerOptions& options);

  // Loads the model and tokenizer, starts the query batcher and the learner from the newest
  // valid checkpoint, then sets health SERVING. Call once.
  absl::Status LoadModel();

  // Stops accepting calls, lets in-flight ones finish (up to drain_timeout), stops the learner,
  // writes a final checkpoint when the learner moved since the last one, stops the batcher.
  // Returns the final checkpoint's error, if any. Idempotent.
  absl::Status Shutdown();

  ~PerennialServer();

  // The bound gRPC and /metrics ports (0: metrics disabled).
  int port() const;
  int metrics_port() const;
  const ServerOptions& options() const;

 private:
  struct State;
  explicit PerennialServer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace perennial

#endif  // PERENNIAL_SERVER_SERVER_H_
