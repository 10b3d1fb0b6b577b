#include "server/metrics.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace perennial {

// Gauges whose values are read from a callback at scrape time, so they are never stale and no
// thread has to refresh them.
class ServerMetrics::LiveCollectable : public prometheus::Collectable {
 public:
  void SetSource(std::function<LiveGauges()> source) {
    absl::MutexLock lock(&mu_);
    source_ = std::move(source);
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    LiveGauges gauges;
    {
      absl::MutexLock lock(&mu_);
      if (source_) gauges = source_();
    }
    std::vector<prometheus::MetricFamily> families;
    // One gauge family; `values` pairs a value of `label` with its gauge (label unused for one
    // unlabelled gauge).
    auto add_labelled = [&families](const char* name, const char* help, const char* label,
                                    std::vector<std::pair<const char*, double>> values) {
      prometheus::MetricFamily family;
      family.name = name;
      family.help = help;
      family.type = prometheus::MetricType::Gauge;
      for (const auto& [label_value, value] : values) {
        prometheus::ClientMetric metric;
        if (label != nullptr) metric.label.push_back({label, label_value});
        metric.gauge.value = value;
        family.metric.push_back(std::move(metric));
      }
      families.push_back(std::move(family));
    };
    auto add = [&add_labelled](const char* name, const char* help, double value) {
      add_labelled(name, help, nullptr, {{"", value}});
    };
    add("perennial_backlog_samples", "Logged samples the learner has not consumed yet.",
        gauges.backlog_samples);
    add("perennial_backlog_limit_samples", "Backlog above which ingestion is refused.",
        gauges.backlog_limit_samples);
    add("perennial_learner_lag_samples", "Last logged sequence number minus the learner cursor.",
        gauges.learner_lag_samples);
    add("perennial_learner_cursor", "Last sample sequence number consumed by the learner.",
        gauges.learner_cursor);
    add("perennial_model_version", "Version of the live (published) model snapshot.",
        gauges.model_version);
    add("perennial_checkpoint_version", "Version of the current durable checkpoint (0: none).",
        gauges.checkpoint_version);
    add("perennial_learning_paused", "1 while learning is paused by an operator.",
        gauges.learning_paused);
    add("perennial_process_resident_memory_bytes", "Resident memory of the server process.",
        ProcessResidentMemoryBytes());
    add_labelled("perennial_process_heap_bytes",
                 "malloc's heap: bytes in use, and bytes freed but kept mapped for reuse.", "state",
                 {{"allocated", gauges.heap_allocated_bytes}, {"free", gauges.heap_free_bytes}});
    add_labelled("perennial_storage_memory_bytes",
                 "Memory the RocksDB store holds, by kind (RocksDB's estimates).", "kind",
                 {{"memtables", gauges.storage_memtable_bytes},
                  {"table_readers", gauges.storage_table_reader_bytes},
                  {"block_cache", gauges.storage_block_cache_bytes}});
    add("perennial_storage_sst_file_bytes", "Bytes of the store's live RocksDB table files.",
        gauges.storage_sst_file_bytes);
    add("perennial_grpc_handler_threads",
        "Threads gRPC runs calls on now, idle or busy; at the limit, calls are refused.",
        static_cast<double>(GrpcHandlerThreadIds().size()));
    add("perennial_grpc_handler_threads_limit",
        "Most gRPC handler threads (--max-handler-threads; 0: no limit).",
        gauges.grpc_handler_threads_limit);
    return families;
  }

 private:
  mutable absl::Mutex mu_;
  std::function<LiveGauges()> source_;
};

double ProcessResidentMemoryBytes() {
  std::ifstream statm("/proc/self/statm");
  double size_pages = 0, resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return 0;
  return resident_pages * static_cast<double>(sysconf(_SC_PAGESIZE));
}

std::set<std::string> GrpcHandlerThreadIds() {
  std::set<std::string> ids;
  std::error_code error;
  std::filesystem::directory_iterator tasks("/proc/self/task", error);
  if (error) return ids;
  for (const std::filesystem::directory_entry& task : tasks) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    // The kernel keeps 15 characters of a thread's name.
    if (std::getline(comm, name) && name.rfind("grpcpp_sync_ser", 0) == 0) {
      ids.insert(task.path().filename().string());
    }
  }
  return ids;
}

ServerMetrics::ServerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      live_(std::make_shared<LiveCollectable>()) {
  auto& ingest = prometheus::BuildCounter()
                     .Name("perennial_ingest_samples_total")
                     .Help("Samples received by Ingest, by outcome.")
                     .Register(*registry_);
  accepted_ = &ingest.Add({{"result", "accepted"}});
  duplicates_ = &ingest.Add({{"result", "duplicate"}});
  rejected_ = &ingest.Add({{"result", "rejected"}});
  bytes_ = &prometheus::BuildCounter()
                .Name("perennial_ingest_bytes_total")
                .Help("Serialized bytes of samples received by Ingest.")
                .Register(*registry_)
                .Add({});
  // 0.5 ms .. ~16 s, doubling.
  prometheus::Histogram::BucketBoundaries latency_buckets;
  for (double b = 0.0005; b < 20; b *= 2) latency_buckets.push_back(b);
  auto& latency = prometheus::BuildHistogram()
                      .Name("perennial_query_latency_seconds")
                      .Help("Query latency from request to response, by method.")
                      .Register(*registry_);
  classify_latency_ = &latency.Add({{"method", "classify"}}, latency_buckets);
  embed_image_latency_ = &latency.Add({{"method", "embed_image"}}, latency_buckets);
  embed_text_latency_ = &latency.Add({{"method", "embed_text"}}, latency_buckets);
  batch_size_ = &prometheus::BuildHistogram()
                     .Name("perennial_query_batch_size")
                     .Help("Images per query forward pass (dynamic batching).")
                     .Register(*registry_)
                     .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128});
  auto& checkpoints = prometheus::BuildCounter()
                          .Name("perennial_checkpoints_total")
                          .Help("Checkpoint attempts by outcome.")
                          .Register(*registry_);
  checkpoints_ok_ = &checkpoints.Add({{"result", "ok"}});
  checkpoints_error_ = &checkpoints.Add({{"result", "error"}});
  prometheus::Histogram::BucketBoundaries checkpoint_buckets;
  for (double b = 0.001; b < 70; b *= 2) checkpoint_buckets.push_back(b);
  checkpoint_duration_ = &prometheus::BuildHistogram()
                              .Name("perennial_checkpoint_duration_seconds")
                              .Help("Time to capture and write one checkpoint.")
                              .Register(*registry_)
                              .Add({}, checkpoint_buckets);
  // Absent until the first checkpoint of this process.
  checkpoint_size_ = &prometheus::BuildGauge()
                          .Name("perennial_checkpoint_size_bytes")
                          .Help("Stored size (adapter + learner state) of the newest checkpoint.")
                          .Register(*registry_);
  checkpoint_success_time_ = &prometheus::BuildGauge()
                                  .Name("perennial_checkpoint_last_success_timestamp_seconds")
                                  .Help("Unix time the newest durable checkpoint was written.")
                                  .Register(*registry_);
  build_info_ = &prometheus::BuildGauge()
                     .Name("perennial_build_info")
                     .Help("Always 1; labels describe the server and its learner.")
                     .Register(*registry_);
  prometheus::BuildGauge()
      .Name("perennial_start_time_seconds")
      .Help("Unix time the server process started.")
      .Register(*registry_)
      .Add({})
      .Set(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
  learner_ = std::make_unique<LearnerMetrics>(*registry_);
}

ServerMetrics::~ServerMetrics() = default;

absl::StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Create(const std::string& listen) {
  std::unique_ptr<ServerMetrics> metrics(new ServerMetrics());
  if (listen.empty()) return metrics;
  ServerMetrics* raw = metrics.get();
  absl::StatusOr<std::unique_ptr<HttpExposer>> exposer =
      HttpExposer::Start(listen, "/metrics", "text/plain; version=0.0.4; charset=utf-8",
                         [raw] { return raw->Scrape(); });
  if (!exposer.ok()) return exposer.status();
  metrics->exposer_ = *std::move(exposer);
  metrics->port_ = metrics->exposer_->port();
  return metrics;
}

std::string ServerMetrics::Scrape() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (prometheus::MetricFamily& family : live_->Collect()) families.push_back(std::move(family));
  return prometheus::TextSerializer().Serialize(families);
}

void ServerMetrics::SetLiveGauges(std::function<LiveGauges()> source) {
  live_->SetSource(std::move(source));
}

void ServerMetrics::CountIngest(uint64_t accepted, uint64_t duplicates, uint64_t rejected,
                                uint64_t bytes) {
  accepted_->Increment(static_cast<double>(accepted));
  duplicates_->Increment(static_cast<double>(duplicates));
  rejected_->Increment(static_cast<double>(rejected));
  bytes_->Increment(static_cast<double>(bytes));
}

void ServerMetrics::ObserveQuery(absl::string_view method, absl::Duration latency) {
  prometheus::Histogram* histogram = method == "classify"      ? classify_latency_
                                     : method == "embed_image" ? embed_image_latency_
                                                               : embed_text_latency_;
  histogram->Observe(absl::ToDoubleSeconds(latency));
}

void ServerMetrics::ObserveCheckpoint(bool ok, absl::Duration duration, uint64_t size_bytes) {
  if (!ok) {
    checkpoints_error_->Increment();
    return;
  }
  checkpoints_ok_->Increment();
  checkpoint_duration_->Observe(absl::ToDoubleSeconds(duration));
  checkpoint_size_->Add({}).Set(static_cast<double>(size_bytes));
  checkpoint_success_time_->Add({}).Set(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
}

void ServerMetrics::SetBuildInfo(const std::string& method, const std::string& base_model_id,
                                 const std::string& device, const std::string& dtype) {
  build_info_
      ->Add({{"version", PERENNIAL_VERSION_STRING},
             {"method", method},
             {"base_model_id", base_model_id},
             {"device", device},
             {"dtype", dtype}})
      .Set(1);
}

void ServerMetrics::ObserveBatch(int batch_size) {
  batch_size_->Observe(static_cast<double>(batch_size));
}

}  // namespace perennial
