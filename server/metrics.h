// File: server/metrics.h
//
// The server's Prometheus metrics (prometheus-cpp registry and text format), served on
// http://<listen>/metrics by HttpExposer (see http_exposer.h for why not prometheus::Exposer).
// All names start with perennial_, carry their unit, and counters end in _total:
//   perennial_ingest_samples_total{result="accepted"|"duplicate"|"rejected"}  counter
//   perennial_ingest_bytes_total                       counter  (serialized samples received)
//   perennial_query_latency_seconds{method="classify"|"embed_image"|"embed_text"}  histogram
//   perennial_query_batch_size                         histogram (images per forward pass)
//   perennial_backlog_samples, perennial_backlog_limit_samples   gauges, read at scrape time
//   perennial_learner_lag_samples, perennial_learner_cursor      gauges, read at scrape time
//   perennial_model_version, perennial_checkpoint_version        gauges, read at scrape time
//   perennial_learning_paused                                    gauge (0/1), read at scrape time
//   perennial_process_resident_memory_bytes                      gauge, read at scrape time
//   perennial_process_heap_bytes{state="allocated"|"free"}       gauge, read at scrape time
//   perennial_storage_memory_bytes{kind="memtables"|"table_readers"|"block_cache"}  gauge, ditto
//   perennial_storage_sst_file_bytes                             gauge, read at scrape time
//   perennial_grpc_handler_threads, perennial_grpc_handler_threads_limit  gauges, ditto
// and the learner's series (learner_metrics.h), pushed by the learner thread.
//
// Thread-safety: every method may be called from any thread.
#ifndef PERENNIAL_SERVER_METRICS_H_
#define PERENNIAL_SERVER_METRICS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/http_exposer.h"
#include "server/learner_metrics.h"
#include "server/prometheus_fwd.h"

namespace perennial {

// Values sampled when /metrics is scraped.
struct LiveGauges {
  double backlog_samples = 0;
  double backlog_limit_samples = 0;
  double learner_lag_samples = 0;
  double learner_cursor = 0;
  double model_version = 0;
  double checkpoint_version = 0;
  double learning_paused = 0;
  // malloc's statistics (learner/base/cpu_runtime.h, HeapUsage).
  double heap_allocated_bytes = 0;
  double heap_free_bytes = 0;
  // The store's RocksDB (storage/store.h, StoreUsage).
  double storage_memtable_bytes = 0;
  double storage_table_reader_bytes = 0;
  double storage_block_cache_bytes = 0;
  double storage_sst_file_bytes = 0;
  // ServerOptions::max_handler_threads (0: no limit).
  double grpc_handler_threads_limit = 0;
};

class ServerMetrics {
 public:
  // Serves /metrics on `listen` ("127.0.0.1:9464"; port 0 picks a free port). Empty `listen`:
  // metrics are recorded but not served. UNAVAILABLE if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<ServerMetrics>> Create(const std::string& listen);
  ~ServerMetrics();

  // The text page Prometheus scrapes (registry plus live gauges).
  std::string Scrape() const;
  // The bound HTTP port (0 when not serving).
  int port() const { return port_; }
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // The function read at every scrape for the gauges above. Replaces the previous one.
  void SetLiveGauges(std::function<LiveGauges()> source);

  void CountIngest(uint64_t accepted, uint64_t duplicates, uint64_t rejected, uint64_t bytes);
  // `method`: "classify", "embed_image" or "embed_text".
  void ObserveQuery(absl::string_view method, absl::Duration latency);
  void ObserveBatch(int batch_size);

  // A checkpoint attempt: perennial_checkpoints_total{result}, and on success the duration
  // histogram, perennial_checkpoint_size_bytes and the last-success timestamp.
  void ObserveCheckpoint(bool ok, absl::Duration duration, uint64_t size_bytes);
  // perennial_build_info{version,method,base_model_id,device,dtype} 1 and
  // perennial_start_time_seconds.
  void SetBuildInfo(const std::string& method, const std::string& base_model_id,
                    const std::string& device, const std::string& dtype);

  // The learner's series, in the same registry.
  LearnerMetrics* learner() { return learner_.get(); }

 private:
  class LiveCollectable;
  ServerMetrics();

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<LiveCollectable> live_;
  std::unique_ptr<LearnerMetrics> learner_;
  std::unique_ptr<HttpExposer> exposer_;
  int port_ = 0;
  prometheus::Counter* accepted_ = nullptr;
  prometheus::Counter* duplicates_ = nullptr;
  prometheus::Counter* rejected_ = nullptr;
  prometheus::Counter* bytes_ = nullptr;
  prometheus::Histogram* classify_latency_ = nullptr;
  prometheus::Histogram* embed_image_latency_ = nullptr;
  prometheus::Histogram* embed_text_latency_ = nullptr;
  prometheus::Histogram* batch_size_ = nullptr;
  prometheus::Counter* checkpoints_ok_ = nullptr;
  prometheus::Counter* checkpoints_error_ = nullptr;
  prometheus::Histogram* checkpoint_duration_ = nullptr;
  prometheus::Family<prometheus::Gauge>* checkpoint_size_ = nullptr;
  prometheus::Family<prometheus::Gauge>* checkpoint_success_time_ = nullptr;
  prometheus::Family<prometheus::Gauge>* build_info_ = nullptr;
};

// Resident set size of this process in bytes (from /proc/self/statm; 0 where unavailable).
double ProcessResidentMemoryBytes();

// Thread ids of this process's threads that gRPC's sync server runs handlers on, idle or busy
// (named "grpcpp_sync_server" by gRPC; read from /proc/self/task; empty where unavailable).
std::set<std::string> GrpcHandlerThreadIds();

}  // namespace perennial

#endif  // PERENNIAL_SERVER_METRICS_H_
