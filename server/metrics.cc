#include "server/metrics.h"

#include <unistd.h>

#include <fstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
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
    auto add = [&families](const char* name, const char* help, double value) {
      prometheus::MetricFamily family;
      family.name = name;
      family.help = help;
      family.type = prometheus::MetricType::Gauge;
      prometheus::ClientMetric metric;
      metric.gauge.value = value;
      family.metric.push_back(std::move(metric));
      families.push_back(std::move(family));
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

void ServerMetrics::ObserveBatch(int batch_size) {
  batch_size_->Observe(static_cast<double>(batch_size));
}

}  // namespace perennial
