// perennial-server: the service on one machine. With no arguments it serves the embedded
// default model on 127.0.0.1:50051 (gRPC) and 127.0.0.1:9464 (/metrics), with its data in
// ./perennial-data. SIGTERM or SIGINT: stop accepting, drain, final checkpoint, exit 0.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "learner/base/cpu_runtime.h"
#include "learner/model/default_model.h"
#include "server/server.h"

namespace {

// Seconds since this process was started (exec), from /proc: the dynamic linker and
// LibTorch's static initialisers run before main() and take most of an empty start-up.
// nullopt where /proc does not say.
std::optional<double> ProcessAgeSeconds() {
  std::ifstream stat("/proc/self/stat");
  std::ifstream uptime("/proc/uptime");
  std::string line;
  double since_boot = 0;
  if (!std::getline(stat, line) || !(uptime >> since_boot)) return std::nullopt;
  // Fields after the parenthesised command name, which may hold spaces: state is field 3,
  // starttime (clock ticks after boot) field 22.
  std::istringstream fields(line.substr(line.rfind(')') + 1));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 22) return since_boot - std::stod(field) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  return std::nullopt;
}

std::string WithPort(const std::string& address, int port) {
  const size_t colon = address.rfind(':');
  return (colon == std::string::npos ? address : address.substr(0, colon)) + ":" +
         std::to_string(port);
}

// A request limit (server/limits.h): positive, its default shown in --help.
template <typename T>
void AddLimitFlag(CLI::App& app, const char* name, T* limit, const char* description) {
  app.add_option(name, *limit, description)->capture_default_str()->check(CLI::PositiveNumber);
}

void AddSecurityFlags(CLI::App& app, perennial::SecurityOptions* s) {
  app.add_option("--tls-cert", s->tls_cert_file, "PEM certificate chain: serve gRPC over TLS")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", s->tls_key_file, "PEM private key of --tls-cert")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-client-ca", s->tls_client_ca_file,
                 "PEM CA bundle: require client certificates it signed (mutual TLS)")
      ->check(CLI::ExistingFile);
  app.add_option("--auth-token-file", s->auth_token_file,
                 "require 'authorization: Bearer <token>' on every call; the file lists accepted "
                 "tokens, one per line (health checks stay open)")
      ->check(CLI::ExistingFile);
}

// Loopback addresses, where plaintext tokens do not cross the network.
bool IsLoopback(const std::string& address) {
  return address.rfind("127.", 0) == 0 || address.rfind("localhost:", 0) == 0 ||
         address.rfind("[::1]:", 0) == 0;
}

void AddFlags(CLI::App& app, perennial::ServerOptions* o, int* threads, int64_t* delay_us) {
  app.add_option("--listen", o->listen, "gRPC address")->capture_default_str();
  app.add_option("--metrics-listen", o->metrics_listen, "Prometheus /metrics address (empty: off)")
      ->capture_default_str();
  app.add_option("--data-dir", o->data_dir, "data directory (RocksDB store in <dir>/db)")
      ->capture_default_str();
  app.add_option("--model", o->model_path,
                 "CLIP weights (safetensors or OpenAI .pt); default: $PERENNIAL_MODEL, else the "
                 "embedded model");
  app.add_option("--device", o->device, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--dtype", o->dtype,
                 "compute dtype of the base weights: fp32, bf16 (~2x faster with AVX512-BF16 "
                 "or on GPUs; adapters stay fp32), or auto (bf16 where the hardware multiplies "
                 "it natively, else fp32)")
      ->capture_default_str();
  app.add_option("--threads", *threads, "LibTorch CPU threads (0: one per core)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  AddSecurityFlags(app, &o->security);
  perennial::ServerLimits& l = o->limits;
  AddLimitFlag(app, "--max-message-bytes", &l.max_message_bytes, "largest gRPC message");
  AddLimitFlag(app, "--max-image-bytes", &l.max_encoded_image_bytes, "largest encoded image");
  AddLimitFlag(app, "--max-pixels", &l.max_pixels, "largest image width*height");
  AddLimitFlag(app, "--max-image-side", &l.max_image_side, "largest raw image side");
  AddLimitFlag(app, "--max-label-bytes", &l.max_label_bytes, "longest label");
  AddLimitFlag(app, "--max-batch-samples", &l.max_batch_samples, "samples per IngestRequest");
  AddLimitFlag(app, "--max-labels", &l.max_labels_per_classify, "labels per Classify / label set");
  AddLimitFlag(app, "--max-templates", &l.max_templates,
               "prompt templates per Classify / label set");
  AddLimitFlag(app, "--max-template-bytes", &l.max_template_bytes, "longest prompt template");
  AddLimitFlag(app, "--max-key-bytes", &l.max_key_bytes, "longest idempotency key");
  AddLimitFlag(app, "--max-embed-images", &l.max_embed_images, "images per EmbedImage call");
  AddLimitFlag(app, "--max-embed-texts", &l.max_embed_texts, "texts per EmbedText call");
  AddLimitFlag(app, "--max-text-bytes", &l.max_text_bytes, "longest EmbedText text");
  app.add_option("--max-backlog", l.max_backlog_samples,
                 "untrained samples above which Ingest answers RESOURCE_EXHAUSTED")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--retry-after-ms", l.backpressure_retry_ms, "retry hint sent on backpressure")
      ->capture_default_str();
  app.add_option("--query-threads", o->batching.intra_op_threads,
                 "LibTorch threads of each query forward pass (0: a quarter of --threads, at "
                 "least 1)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  app.add_option("--learner-threads", o->learning.intra_op_threads,
                 "LibTorch threads of the training steps (0: --threads minus --query-threads, at "
                 "least 1)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  app.add_option("--max-batch-size", o->batching.max_batch_size, "images per query forward pass")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--idle-handler-threads", o->idle_handler_threads,
                 "gRPC handler threads kept waiting for calls between bursts; beyond it a "
                 "thread exits after its call and a burst pays for starting new ones (0: "
                 "--max-batch-size, at least 8)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  app.add_option(
         "--max-handler-threads", o->max_handler_threads,
         "most gRPC handler threads at once; a call arriving while all are busy is "
         "refused with RESOURCE_EXHAUSTED (0: no limit; must exceed --idle-handler-threads)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65536));
  app.add_option("--warm-label-sets", o->model_host.warm_label_sets,
                 "label sets queried in the last minute that a new model version embeds before "
                 "it goes live, most recent first (0: none; queries then pay a text forward "
                 "after each publication)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--jpeg-draft", o->model_host.jpeg_draft,
                 "decode JPEGs of at least 4x the model's input side at 1/2, 1/4 or 1/8 scale "
                 "(at least 2x kept, as Pillow's Image.draft) for queries, training and probes: "
                 "less CPU per camera photo, model inputs within a few pixel levels of the full "
                 "decode")
      ->capture_default_str();
  app.add_option("--max-queue-delay-us", *delay_us,
                 "longest wait of a query image for its batch to fill, in microseconds")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--keep-checkpoints", o->retention.keep_last, "newest checkpoints kept")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.set_config("--config", "", "read flags from this TOML/INI file (same names, no dashes)");
}

// The store's memory caps, in MiB on the command line; defaults from ServerOptions.
struct StoreFlagValues {
  explicit StoreFlagValues(const perennial::ServerOptions& defaults)
      : memtable_mb(static_cast<int64_t>(defaults.store_memtable_budget_bytes >> 20)),
        block_cache_mb(static_cast<int64_t>(defaults.store_block_cache_bytes >> 20)) {}
  int64_t memtable_mb;
  int64_t block_cache_mb;
};

void AddStoreFlags(CLI::App& app, StoreFlagValues* v) {
  app.add_option("--store-memtable-mb", v->memtable_mb,
                 "MiB of RocksDB memtables (unflushed writes) of all column families together; "
                 "above it the largest is flushed (0: no cap, up to 2 x 32 MiB per family)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--store-block-cache-mb", v->block_cache_mb,
                 "MiB of RocksDB block cache (read data, index and filter blocks of every family)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

// Flags whose option type differs from the command line's (durations, enums).
struct LearnerFlagValues {
  int64_t batch_wait_ms = 200;
  int64_t max_pause_ms = 250;
  int64_t checkpoint_interval_s = 60;
  std::string pet = "lora";
  std::string towers = "both";
  std::string parallel_teacher = "auto";  // resolved once the core count is known
};

void AddLearnerFlags(CLI::App& app, perennial::ServerOptions* o, LearnerFlagValues* v) {
  perennial::LearningLoopOptions& l = o->learning;
  perennial::OnlineLearnerOptions& m = l.learner;
  app.add_option("--method", o->method,
                 "sit+vrlwf (SIT + replayed-vocabulary distillation), sit, lwf, er, asym-ft, or "
                 "frozen (never updates: the zero-shot baseline)")
      ->capture_default_str();
  app.add_option("--learner-batch", l.batch_size, "training samples per step")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--batch-wait-ms", v->batch_wait_ms,
                 "how long a step waits for a full batch before training a partial one")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--learner-max-pause-ms", v->max_pause_ms,
                 "longest total pause of one training step while queries run (the step waits "
                 "at transformer blocks; 0: queries wait for the running step)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--learner-nice", l.learner_nice,
                 "added to the learner thread's nice value so that queries and ingest preempt "
                 "training (0: same priority)")
      ->capture_default_str()
      ->check(CLI::Range(0, 19));
  app.add_option("--learner-prefetch", l.prefetch_batches,
                 "decode and preprocess the next batch on a reader thread while a step trains, "
                 "when the log already holds it (pays with large images)")
      ->capture_default_str();
  app.add_option("--learner-decode-threads", l.decode_threads,
                 "threads that decode and preprocess one batch's images together (0: one per "
                 "4 cores, at most 4; pays beside a fast learner, e.g. on a GPU)")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  app.add_option("--learner-image-parts", m.image_parts,
                 "split each step's image-tower work into this many parts on threads of their "
                 "own, each with --learner-threads/N LibTorch threads (small models on CPU)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--parallel-teacher", v->parallel_teacher,
                 "sit+vrlwf on CPU: run the teacher's image forward on a helper thread beside the "
                 "student's, on a core the learner does not use; it yields to queries like the "
                 "learner (auto: on with 2 or more cores)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "true", "false"}));
  app.add_option("--online-iters", m.online_iters, "optimizer steps per batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--lr", m.learning_rate, "AdamW learning rate of the adapters")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--pet", v->pet, "lora or adapter")->capture_default_str();
  app.add_option("--towers", v->towers, "image, text or both")->capture_default_str();
  app.add_option("--lora-rank", m.pet.lora_rank, "LoRA rank")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--publish-every", m.publish_every_k_steps,
                 "publish a new model version every k optimizer steps (and when caught up)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--vrlwf-k", m.vrlwf_num_pseudo_classes,
                 "sit+vrlwf: pseudo-classes drawn from the replayed vocabulary per step")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--kd-weight", m.kd_weight, "weight of the distillation term")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--learner-seed", m.seed, "seed of adapters, replay and vocabulary draws")
      ->capture_default_str();
  app.add_option("--eval-every", l.evaluation.eval_every_samples,
                 "trained samples between anytime evaluations on EVAL samples (0: never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-eval-samples", l.evaluation.max_eval_samples,
                 "EVAL samples kept for anytime evaluation")
      ->capture_default_str();
  app.add_option("--checkpoint-every-steps", o->checkpoints.every_steps,
                 "optimizer steps between periodic checkpoints (0: off)")
      ->capture_default_str();
  app.add_option("--checkpoint-interval-s", v->checkpoint_interval_s,
                 "longest time a learner change stays without a checkpoint (0: off)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

// Converts the raw flag values; false (after printing why) when one is invalid.
bool ApplyLearnerFlags(const LearnerFlagValues& v, perennial::ServerOptions* o) {
  o->learning.batch_wait = absl::Milliseconds(v.batch_wait_ms);
  o->learning.max_pause_per_step = absl::Milliseconds(v.max_pause_ms);
  o->checkpoints.interval = absl::Seconds(v.checkpoint_interval_s);
  perennial::StatusOr<perennial::PetKind> pet = perennial::ParsePetKind(v.pet);
  perennial::StatusOr<perennial::TowerSelection> towers = perennial::ParseTowerSelection(v.towers);
  if (!pet.ok() || !towers.ok()) {
    std::cerr << "error: " << (pet.ok() ? towers.status() : pet.status()).message() << std::endl;
    return false;
  }
  o->learning.learner.pet.kind = *pet;
  o->learning.learner.pet.towers = *towers;
  return true;
}

// Fills in the thread counts left at 0 (auto) for `threads` cores (0: all of this machine's).
void ApplyThreadDefaults(int threads, const std::string& parallel_teacher,
                         perennial::ServerOptions* options) {
  const int cores =
      threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // The main thread's count (model loading, weight packing); every thread that runs LibTorch
  // work sets its own. Not torch::set_num_threads: with a process-wide count set, ATen's first op
  // on each new thread (a gRPC handler thread's first query) rebuilds LibTorch's process-wide
  // thread pool under a lock, ~8 ms here instead of ~20 us (bench/README.md, session 16).
  perennial::SetCallingThreadIntraOpThreads(cores);
  // Queries and training run at the same time; together their OpenMP teams get no more threads
  // than `cores`. On 2 cores, 2 + 2 threads made a one-image query ~10x slower beside training
  // and training slower too (bench/README.md).
  int& query_threads = options->batching.intra_op_threads;
  int& learner_threads = options->learning.intra_op_threads;
  if (query_threads == 0) query_threads = std::max(1, cores / 4);
  if (learner_threads == 0) learner_threads = std::max(1, cores - query_threads);
  int& decode_threads = options->learning.decode_threads;
  if (decode_threads == 0) decode_threads = std::clamp(cores / 4, 1, 4);
  // ~13% more learner throughput on 2 cores (bench/README.md); nothing to gain on one.
  options->learning.learner.parallel_teacher =
      parallel_teacher == "true" || (parallel_teacher == "auto" && cores >= 2);
}

// Where the server listens and what it runs, with warnings about risky or slow settings.
void PrintStartup(const perennial::PerennialServer& server,
                  const perennial::ServerOptions& options) {
  std::cout << "perennial-server: gRPC on " << WithPort(options.listen, server.port());
  if (server.metrics_port() != 0) {
    std::cout << ", metrics on http://" << WithPort(options.metrics_listen, server.metrics_port())
              << "/metrics";
  }
  std::cout << ", data in " << options.data_dir << " ("
            << perennial::DescribeSecurity(options.security) << ")" << std::endl;
  if (!options.security.auth_token_file.empty() && options.security.tls_cert_file.empty() &&
      !IsLoopback(options.listen)) {
    std::cout << "warning: bearer tokens travel in plaintext to " << options.listen
              << "; add --tls-cert/--tls-key or listen on loopback behind a TLS proxy" << std::endl;
  }
  const std::string& dtype = server.options().dtype;  // "auto" resolved by Start()
  std::cout << "loading model " << options.model_path << " on " << options.device << " (" << dtype
            << (options.dtype == "auto" ? " from --dtype auto" : "") << "; "
            << perennial::CpuRuntimeSummary() << "; threads: learner "
            << options.learning.intra_op_threads << ", queries "
            << options.batching.intra_op_threads
            << (options.learning.learner.parallel_teacher ? ", teacher 1" : "") << ") ..."
            << std::endl;
  if (dtype == "fp32" && options.device == "cpu" && perennial::CpuHasBf16Dot()) {
    std::cout << "note: this CPU has AVX512-BF16; --dtype bf16 (or auto, the default) runs "
                 "queries and learning about 1.5-2x faster (bench/README.md)"
              << std::endl;
  }
  const int image_parts = options.learning.learner.image_parts;
  if (image_parts > options.learning.intra_op_threads && options.device == "cpu") {
    std::cout << "note: --learner-image-parts " << image_parts << " runs the learner on "
              << image_parts << " threads, more than --learner-threads "
              << options.learning.intra_op_threads
              << "; training then competes with queries for the cores" << std::endl;
  }
}

// Parses the command line into `options`. Returns an exit status when the server must not start
// (--help, a bad flag), nullopt to go on.
std::optional<int> ParseCommandLine(int argc, char** argv, perennial::ServerOptions* options) {
  CLI::App app{"perennial-server: keeps a CLIP model learning from a stream while serving it"};
  int threads = 0;
  int64_t delay_us = absl::ToInt64Microseconds(options->batching.max_queue_delay);
  LearnerFlagValues learner_flags;
  StoreFlagValues store_flags(*options);
  options->learning.decode_threads = 0;  // --learner-decode-threads' default: by core count
  AddFlags(app, options, &threads, &delay_us);
  AddStoreFlags(app, &store_flags);
  AddLearnerFlags(app, options, &learner_flags);
  CLI11_PARSE(app, argc, argv);
  options->store_memtable_budget_bytes = static_cast<size_t>(store_flags.memtable_mb) << 20;
  options->store_block_cache_bytes = static_cast<size_t>(store_flags.block_cache_mb) << 20;
  options->batching.max_queue_delay = absl::Microseconds(delay_us);
  if (!ApplyLearnerFlags(learner_flags, options)) return 1;
  ApplyThreadDefaults(threads, learner_flags.parallel_teacher, options);
  return std::nullopt;
}

// Starts the server, serves until SIGINT or SIGTERM, then drains and checkpoints. Returns the
// process's exit status.
int Serve(perennial::ServerOptions options, absl::Time main_entered) {
  absl::StatusOr<std::string> model = perennial::ResolveModelPath(options.model_path);
  if (!model.ok()) {
    std::cerr << "error: " << model.status().message() << std::endl;
    return 1;
  }
  options.model_path = *model;

  // Every thread started from here on inherits the blocked signals; this thread receives them
  // in sigwait below and shuts down in order.
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
  PrintStartup(**server, options);
  absl::Status loaded = (*server)->LoadModel();
  if (!loaded.ok()) {
    std::cerr << "error: " << loaded.message() << std::endl;
    (*server)->Shutdown().IgnoreError();
    return 1;
  }
  const double ready_s =
      ProcessAgeSeconds().value_or(absl::ToDoubleSeconds(absl::Now() - main_entered));
  std::cout << "serving (method " << options.method << "; ready "
            << absl::StrFormat("%.1f", ready_s) << " s after start); SIGTERM or Ctrl-C stops"
            << std::endl;

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

}  // namespace

int main(int argc, char** argv) {
  const absl::Time main_entered = absl::Now();  // start-up time where /proc is not there
  perennial::TuneCpuRuntime();
  // Debian's Abseil is built in debug mode, where every Mutex lock feeds a lock-order graph:
  // ~2% of the server's CPU under 16 back-to-back query clients (perf). The tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  perennial::ServerOptions options;
  if (std::optional<int> exit_status = ParseCommandLine(argc, argv, &options)) return *exit_status;
  return Serve(std::move(options), main_entered);
}
