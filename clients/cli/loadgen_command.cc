#include "clients/cli/loadgen_command.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "clients/cli/backoff.h"
#include "clients/cli/batch_limit.h"
#include "clients/cli/command.h"
#include "clients/cli/connection.h"
#include "clients/cli/ingest_source.h"
#include "clients/cli/progress_line.h"
#include "perennial/v1/inference.grpc.pb.h"
#include "perennial/v1/ingest.grpc.pb.h"

namespace perennial::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct LoadgenFlags {
  Connection connection;
  int ingest_streams = 4;
  double ingest_rate = 0;  // samples/s per stream; 0: as fast as acknowledged
  int ingest_batch = 64;
  int query_clients = 2;
  double query_rate = 0;                   // queries/s per client; 0: back to back
  std::string query_arrivals = "uniform";  // or "poisson"; only with query_rate > 0
  double duration_s = 30;
  std::string key_prefix;  // empty: "loadgen/<unix seconds>"
  std::string data_dir;
  std::string folder;  // class sub-folders of images: ingested and queried instead of the dataset
};

// What every worker adds to; read by the progress line and the report.
struct LoadStats {
  std::atomic<uint64_t> acked{0};          // ACCEPTED + DUPLICATE samples
  std::atomic<uint64_t> backpressured{0};  // samples rejected as retryable
  std::mutex mu;
  std::vector<double> latencies_ms;        // successful Classify calls
  std::map<std::string, uint64_t> errors;  // "<rpc> <code>" -> count

  void AddError(const char* rpc, const grpc::Status& status) {
    std::lock_guard<std::mutex> lock(mu);
    ++errors[std::string(rpc) + " " + std::to_string(static_cast<int>(status.error_code()))];
  }
  void AddLatency(double ms) {
    std::lock_guard<std::mutex> lock(mu);
    latencies_ms.push_back(ms);
  }
};

// Train images to ingest and test images to query, loaded once before the clock starts.
struct Workload {
  std::vector<v1::Sample> samples;
  std::vector<v1::Image> queries;
  std::vector<std::string> labels;
  std::string source;  // what the samples are, for the report
};

// Fashion-MNIST's train images to ingest and test images to query; with --folder its images
// for both (e.g. camera-sized photos, whose decoding the dataset's 28x28 images do not cost).
StatusOr<Workload> LoadWorkload(const LoadgenFlags& f) {
  Workload w;
  IngestSourceOptions o;
  if (f.folder.empty()) {
    o.dataset = "fashion-mnist";
    o.data_dir = f.data_dir;
  } else {
    o.folder = f.folder;
  }
  o.order = "iid";
  o.limit = 4096;
  PERENNIAL_ASSIGN_OR_RETURN(std::unique_ptr<IngestSource> train, IngestSource::Open(o));
  w.source = train->description();
  for (size_t i = 0; i < train->size(); ++i) {
    PERENNIAL_ASSIGN_OR_RETURN(v1::Sample sample, train->Sample(i));
    if (std::find(w.labels.begin(), w.labels.end(), sample.label()) == w.labels.end()) {
      w.labels.push_back(sample.label());
    }
    w.samples.push_back(std::move(sample));
  }
  if (!f.folder.empty()) {
    for (size_t i = 0; i < w.samples.size() && i < 512; ++i) {
      w.queries.push_back(w.samples[i].image());
    }
    return w;
  }
  o.split = "test";
  o.limit = 512;
  PERENNIAL_ASSIGN_OR_RETURN(std::unique_ptr<IngestSource> test, IngestSource::Open(o));
  for (size_t i = 0; i < test->size(); ++i) {
    PERENNIAL_ASSIGN_OR_RETURN(v1::Sample sample, test->Sample(i));
    w.queries.push_back(sample.image());
  }
  return w;
}

// When one client's calls are due, at `rate` calls per second from `start` (rate 0: no
// pacing). Uniform: evenly spaced, client i of n's grid shifted by i / (n x rate), so that
// clients started together do not send in lockstep. Poisson: exponential gaps (independent
// arrivals), seeded by the client's index so a run can be repeated.
class CallSchedule {
 public:
  CallSchedule(double rate, bool poisson, int client, int clients, Clock::time_point start)
      : rate_(rate), poisson_(poisson), rng_(client + 1), start_(start) {
    if (rate_ > 0 && !poisson_) due_s_ = client / (clients * rate_);
  }

  // Sleeps until the next call is due.
  void WaitForNext() {
    if (rate_ <= 0) return;
    if (poisson_) due_s_ += std::exponential_distribution<double>(rate_)(rng_);
    std::this_thread::sleep_until(start_ + std::chrono::duration_cast<Clock::duration>(
                                               std::chrono::duration<double>(due_s_)));
    if (!poisson_) due_s_ += 1 / rate_;
  }

 private:
  double rate_;
  bool poisson_;
  std::mt19937_64 rng_;
  Clock::time_point start_;
  double due_s_ = 0;  // seconds after start_ of the next call (uniform), of the last (Poisson)
};

// A client's pause after a failed call. A refused call (RESOURCE_EXHAUSTED from a server at its
// --max-handler-threads, UNAVAILABLE while it restarts) is answered at once: without a pause the
// client would spin, refusals would crowd out the figures, and the load would not be what a real
// client sends.
Backoff FailedCallBackoff() {
  return Backoff(std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
}

// Sleeps for `pause`, or until `end` if that comes first.
void PauseUntil(std::chrono::milliseconds pause, Clock::time_point end) {
  std::this_thread::sleep_for(std::min<Clock::duration>(pause, end - Clock::now()));
}

void IngestStream(const LoadgenFlags& f, const Workload& w, int stream, Clock::time_point end,
                  LoadStats* stats) {
  auto stub = v1::IngestService::NewStub(Channel(f.connection, stream + 1));
  // --ingest-rate counts samples; each call carries a batch of them.
  CallSchedule schedule(f.ingest_rate / f.ingest_batch, /*poisson=*/false, stream, f.ingest_streams,
                        Clock::now());
  uint64_t sent = 0;
  Backoff backoff = FailedCallBackoff();
  const size_t offset = static_cast<size_t>(stream) * 997;
  for (;;) {
    schedule.WaitForNext();
    if (Clock::now() >= end) break;
    // Up to --ingest-batch samples, fewer when they are big (as `perennial ingest` batches).
    v1::IngestRequest request;
    const BatchLimit limit{static_cast<size_t>(f.ingest_batch), kDefaultMaxBatchBytes};
    size_t bytes = 0;
    for (int i = 0; i < f.ingest_batch; ++i) {
      const v1::Sample& next = w.samples[(offset + sent + i) % w.samples.size()];
      const size_t size = next.ByteSizeLong();
      if (!limit.Admits(static_cast<size_t>(i), bytes, size)) break;
      bytes += size;
      v1::Sample* s = request.add_samples();
      *s = next;
      s->set_idempotency_key(f.key_prefix + "/" + std::to_string(stream) + "/" +
                             std::to_string(sent + i));
    }
    grpc::ClientContext context;
    PrepareCall(f.connection, &context);
    v1::IngestResponse response;
    const grpc::Status status = stub->IngestBatch(&context, request, &response);
    if (!status.ok()) {
      stats->AddError("IngestBatch", status);
      PauseUntil(backoff.Next(), end);
      continue;
    }
    backoff.Reset();
    stats->acked += response.accepted() + response.duplicates();
    const uint64_t rejected = request.samples_size() - response.accepted() - response.duplicates();
    stats->backpressured += rejected;
    // Rejected samples are not resent: the next batch carries new keys, and the figure is what
    // the server acknowledged.
    sent += static_cast<uint64_t>(request.samples_size());
    if (response.retry_after_ms() > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(response.retry_after_ms()));
    }
  }
}

void QueryClient(const LoadgenFlags& f, const Workload& w, int client, Clock::time_point end,
                 LoadStats* stats) {
  auto stub = v1::InferenceService::NewStub(Channel(f.connection, 1000 + client));
  CallSchedule schedule(f.query_rate, f.query_arrivals == "poisson", client, f.query_clients,
                        Clock::now());
  Backoff backoff = FailedCallBackoff();
  for (uint64_t n = 0;; ++n) {
    schedule.WaitForNext();
    if (Clock::now() >= end) break;
    v1::ClassifyRequest request;
    *request.mutable_image() = w.queries[(client * 131 + n) % w.queries.size()];
    for (const std::string& label : w.labels) request.add_labels(label);
    request.set_top_k(1);
    grpc::ClientContext context;
    PrepareCall(f.connection, &context);
    v1::ClassifyResponse response;
    const Clock::time_point sent = Clock::now();
    const grpc::Status status = stub->Classify(&context, request, &response);
    if (status.ok()) {
      stats->AddLatency(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
      backoff.Reset();
    } else {
      stats->AddError("Classify", status);
      PauseUntil(backoff.Next(), end);
    }
  }
}

// `sorted` ascending; 0 when empty.
double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(q * (sorted.size() - 1) + 0.5));
  return sorted[i];
}

void Report(const LoadgenFlags& f, const Workload& w, LoadStats& stats, double seconds) {
  std::lock_guard<std::mutex> lock(stats.mu);
  std::vector<double>& l = stats.latencies_ms;
  std::sort(l.begin(), l.end());
  const double max_ms = l.empty() ? 0.0 : l.back();
  const double acked_per_s = stats.acked / seconds;
  nlohmann::json errors = nlohmann::json::object();
  uint64_t error_count = 0;
  for (const auto& [what, count] : stats.errors) {
    errors[what] = count;
    error_count += count;
  }
  if (f.connection.json) {
    PrintJson({{"seconds", seconds},
               {"source", w.source},
               {"ingest_streams", f.ingest_streams},
               {"ingest_batch", f.ingest_batch},
               {"acked_samples", stats.acked.load()},
               {"acked_samples_per_s", acked_per_s},
               {"backpressured_samples", stats.backpressured.load()},
               {"query_clients", f.query_clients},
               {"query_arrivals", f.query_rate > 0 ? f.query_arrivals : "back to back"},
               {"queries", l.size()},
               {"queries_per_s", l.size() / seconds},
               {"query_p50_ms", Percentile(l, 0.50)},
               {"query_p95_ms", Percentile(l, 0.95)},
               {"query_p99_ms", Percentile(l, 0.99)},
               {"query_max_ms", max_ms},
               {"errors", errors}});
    return;
  }
  std::printf("%.1f s against %s (%s)\n", seconds, f.connection.server.c_str(), w.source.c_str());
  std::printf(
      "ingest: %d streams x batch %d: %llu samples acknowledged, %.0f/s; %llu "
      "backpressured\n",
      f.ingest_streams, f.ingest_batch, static_cast<unsigned long long>(stats.acked), acked_per_s,
      static_cast<unsigned long long>(stats.backpressured));
  std::printf(
      "classify: %d clients: %zu queries, %.1f/s; latency p50 %.1f ms, p95 %.1f ms, "
      "p99 %.1f ms, max %.1f ms\n",
      f.query_clients, l.size(), l.size() / seconds, Percentile(l, 0.50), Percentile(l, 0.95),
      Percentile(l, 0.99), max_ms);
  std::printf("errors: %llu%s\n", static_cast<unsigned long long>(error_count),
              error_count > 0 ? (" " + errors.dump()).c_str() : "");
}

Status RunLoadgen(LoadgenFlags f) {
  if (f.ingest_streams == 0 && f.query_clients == 0) {
    return InvalidArgumentError("nothing to do: --ingest-streams and --query-clients are both 0");
  }
  if (f.key_prefix.empty()) {
    f.key_prefix =
        "loadgen/" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
  }
  PERENNIAL_ASSIGN_OR_RETURN(Workload workload, LoadWorkload(f));
  std::fprintf(stderr, "loadgen: %d ingest streams, %d query clients for %.0f s against %s\n",
               f.ingest_streams, f.query_clients, f.duration_s, f.connection.server.c_str());
  LoadStats stats;
  const Clock::time_point start = Clock::now();
  const Clock::time_point end = start + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(f.duration_s));
  std::vector<std::thread> workers;
  for (int i = 0; i < f.ingest_streams; ++i) {
    workers.emplace_back(IngestStream, std::cref(f), std::cref(workload), i, end, &stats);
  }
  for (int i = 0; i < f.query_clients; ++i) {
    workers.emplace_back(QueryClient, std::cref(f), std::cref(workload), i, end, &stats);
  }
  ProgressLine progress;
  while (Clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const double t = std::chrono::duration<double>(Clock::now() - start).count();
    size_t queries = 0;
    {
      std::lock_guard<std::mutex> lock(stats.mu);
      queries = stats.latencies_ms.size();
    }
    char text[160];
    std::snprintf(text, sizeof(text), "%4.0fs  acked %llu (%.0f/s)  queries %zu (%.1f/s)", t,
                  static_cast<unsigned long long>(stats.acked), stats.acked / t, queries,
                  queries / t);
    progress.Update(text);
  }
  for (std::thread& w : workers) w.join();
  progress.Finish();
  Report(f, workload, stats, std::chrono::duration<double>(Clock::now() - start).count());
  return OkStatus();
}

}  // namespace

void AddLoadgenCommand(CLI::App& app) {
  auto f = std::make_shared<LoadgenFlags>();
  CLI::App* sub = app.add_subcommand(
      "loadgen",
      "Load a running server for a bounded time: concurrent ingest streams of Fashion-MNIST\n"
      "train images or --folder's (fresh keys) and Classify clients on test images; prints\n"
      "acknowledged samples/s, query latency percentiles and errors.");
  AddConnectionFlags(sub, &f->connection);
  sub->add_option("--ingest-streams", f->ingest_streams, "concurrent IngestBatch streams")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  sub->add_option("--ingest-rate", f->ingest_rate, "samples/s per stream (0: unthrottled)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--ingest-batch", f->ingest_batch,
                  "samples per IngestBatch call (fewer where they pass 4 MiB together)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  sub->add_option("--query-clients", f->query_clients, "concurrent Classify clients")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  sub->add_option("--query-rate", f->query_rate, "queries/s per client (0: back to back)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--query-arrivals", f->query_arrivals,
                  "with --query-rate: uniform (evenly spaced, clients out of step) or poisson "
                  "(exponential gaps)")
      ->capture_default_str()
      ->check(CLI::IsMember({"uniform", "poisson"}));
  sub->add_option("--duration", f->duration_s, "seconds of load")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  sub->add_option("--key-prefix", f->key_prefix,
                  "idempotency key prefix (default: loadgen/<unix time>)");
  sub->add_option("--data-dir", f->data_dir, "Fashion-MNIST location (default: Debian's)");
  sub->add_option("--folder", f->folder,
                  "ingest and query the PNG/JPEG files of this folder's class sub-folders "
                  "instead of Fashion-MNIST (e.g. camera-sized photos)")
      ->check(CLI::ExistingDirectory);
  SetCommand(sub, [f]() -> Status { return RunLoadgen(*f); });
}

}  // namespace perennial::cli
