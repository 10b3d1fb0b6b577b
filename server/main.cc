// perennial-server: the service on one machine. With no arguments it serves the embedded
// default model on 127.0.0.1:50051 (gRPC) and 127.0.0.1:9464 (/metrics), with its data in
// ./perennial-data. SIGTERM or SIGINT: stop accepting, drain, final checkpoint, exit 0.
#include <CLI/CLI.hpp>
#include <pthread.h>
#include <signal.h>
#include <torch/torch.h>

#include <cstdint>
#include <algorithm>
#include <iostream>
#include <string>
#include <thread>

#include "learner/model/default_model.h"
#include "server/server.h"

namespace {

std::string WithPort(const std::string& address, int port) {
  const size_t colon = address.rfind(':');
  return (colon == std::string::npos ? address : address.substr(0, colon)) + ":" +
         std::to_string(port);
}

void AddFlags(CLI::App& app, perennial::ServerOptions* o, int* threads, int64_t* delay_us) {
  app.add_option("--listen", o->listen, "gRPC address")->capture_default_str();
  app.add_option("--metrics-listen", o->metrics_listen,
                 "Prometheus /metrics address (empty: off)")->capture_default_str();
  app.add_option("--data-dir", o->data_dir, "data directory (RocksDB store in <dir>/db)")
      ->capture_default_str();
  app.add_option("--model", o->model_path,
                 "CLIP weights (safetensors or OpenAI .pt); default: $PERENNIAL_MODEL, else the "
                 "embedded model");
  app.add_option("--device", o->device, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--threads", *threads, "LibTorch CPU threads (0: one per core)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--method", o->method, "learner method (frozen; the online methods follow)")
      ->capture_default_str();
  perennial::ServerLimits& l = o->limits;
  app.add_option("--max-message-bytes", l.max_message_bytes, "largest gRPC message")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-image-bytes", l.max_encoded_image_bytes, "largest encoded image")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-pixels", l.max_pixels, "largest image width*height")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-label-bytes", l.max_label_bytes, "longest label")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-batch-samples", l.max_batch_samples, "samples per IngestRequest")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-labels", l.max_labels_per_classify, "labels per Classify / label set")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-key-bytes", l.max_key_bytes, "longest idempotency key")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-backlog", l.max_backlog_samples,
                 "untrained samples above which Ingest answers RESOURCE_EXHAUSTED")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--retry-after-ms", l.backpressure_retry_ms, "retry hint sent on backpressure")
      ->capture_default_str();
  app.add_option("--max-batch-size", o->batching.max_batch_size, "images per query forward pass")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--max-queue-delay-us", *delay_us,
                 "longest wait of a query image for its batch to fill, in microseconds")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--keep-checkpoints", o->retention.keep_last, "newest checkpoints kept")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.set_config("--config", "", "read flags from this TOML/INI file (same names, no dashes)");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"perennial-server: keeps a CLIP model learning from a stream while serving it"};
  perennial::ServerOptions options;
  int threads = 0;
  int64_t delay_us = absl::ToInt64Microseconds(options.batching.max_queue_delay);
  AddFlags(app, &options, &threads, &delay_us);
  CLI11_PARSE(app, argc, argv);
  options.batching.max_queue_delay = absl::Microseconds(delay_us);
  torch::set_num_threads(threads > 0 ? threads
                                     : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));

  absl::StatusOr<std::string> model = perennial::ResolveModelPath(options.model_path);
  if (!model.ok()) {
    std::cerr << "error: " << model.status().message() << std::endl;
    return 1;
  }
  options.model_path = *model;

  // Every thread started from here on inherits the blocked signals; main receives them in
  // sigwait below and shuts down in order.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<perennial::PerennialServer>> server =
      perennial::PerennialServer::Start(options);
  if (!server.ok()) {
    std::cerr << "error: " << server.status().message() << std::endl;
    return 1;
  }
  std::cout << "perennial-server: gRPC on " << WithPort(options.listen, (*server)->port());
  if ((*server)->metrics_port() != 0) {
    std::cout << ", metrics on http://" << WithPort(options.metrics_listen, (*server)->metrics_port())
              << "/metrics";
  }
  std::cout << ", data in " << options.data_dir << std::endl;
  std::cout << "loading model " << options.model_path << " on " << options.device << " ..."
            << std::endl;
  absl::Status loaded = (*server)->LoadModel();
  if (!loaded.ok()) {
    std::cerr << "error: " << loaded.message() << std::endl;
    (*server)->Shutdown().IgnoreError();
    return 1;
  }
  std::cout << "serving (method " << options.method << "); SIGTERM or Ctrl-C stops" << std::endl;

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::cout << "received signal " << signal_number << ": draining and checkpointing" << std::endl;
  absl::Status stopped = (*server)->Shutdown();
  if (!stopped.ok()) {
    std::cerr << "error: final checkpoint failed: " << stopped.message() << std::endl;
    return 1;
  }
  std::cout << "stopped cleanly" << std::endl;
  return 0;
}
