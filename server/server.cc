#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "learner/base/cpu_runtime.h"
#include "learner/model/clip_model.h"
#include "learner/model/tokenizer.h"
#include "server/admin_service.h"
#include "server/checkpointer.h"
#include "server/inference_service.h"
#include "server/ingest_service.h"
#include "server/label_sets.h"
#include "server/learner_factory.h"
#include "server/metrics.h"
#include "server/model_host.h"
#include "server/model_identity.h"
#include "server/probes.h"
#include "server/server_core.h"

namespace perennial {

int ResolvedIdleHandlerThreads(const ServerOptions& options) {
  if (options.idle_handler_threads > 0) return options.idle_handler_threads;
  const int idle = std::max(options.batching.max_batch_size, 8);
  // Under a thread cap, at least one more thread than the idle ones may exist.
  return options.max_handler_threads > 0 ? std::min(idle, options.max_handler_threads - 1) : idle;
}

namespace {

// Handler-thread flags that cannot work together.
absl::Status CheckHandlerThreads(const ServerOptions& options) {
  if (options.max_handler_threads == 1 ||
      (options.max_handler_threads > 0 &&
       options.idle_handler_threads >= options.max_handler_threads)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max-handler-threads ", options.max_handler_threads,
                     " must exceed --idle-handler-threads (", options.idle_handler_threads,
                     ") and 1, or be 0 for no limit"));
  }
  return absl::OkStatus();
}

StoreOptions StoreOptionsFor(const ServerOptions& options, const std::string& base_model_id) {
  StoreOptions store_options;
  store_options.dir = (std::filesystem::path(options.data_dir) / "db").string();
  store_options.base_model_id = base_model_id;
  store_options.sync_writes = options.sync_writes;
  store_options.memtable_budget_bytes = options.store_memtable_budget_bytes;
  store_options.block_cache_bytes = options.store_block_cache_bytes;
  return store_options;
}

// The gauges read at scrape time rather than updated as things happen.
LiveGauges ReadLiveGauges(const ServerCore& core, int handler_thread_limit) {
  LiveGauges gauges;
  const uint64_t last = core.store->LastSeq();
  const uint64_t cursor = core.LearnerCursor();
  gauges.backlog_samples = static_cast<double>(last > cursor ? last - cursor : 0);
  gauges.learner_lag_samples = gauges.backlog_samples;
  gauges.backlog_limit_samples = static_cast<double>(core.limits.max_backlog_samples);
  gauges.learner_cursor = static_cast<double>(cursor);
  gauges.checkpoint_version = static_cast<double>(core.store->CurrentVersion());
  const HeapUsage heap = ReadHeapUsage();
  gauges.heap_allocated_bytes = static_cast<double>(heap.allocated_bytes);
  gauges.grpc_handler_threads_limit = static_cast<double>(handler_thread_limit);
  gauges.heap_free_bytes = static_cast<double>(heap.free_bytes);
  const StoreUsage storage = core.store->Usage();
  gauges.storage_memtable_bytes = static_cast<double>(storage.memtable_bytes);
  gauges.storage_table_reader_bytes = static_cast<double>(storage.table_reader_bytes);
  gauges.storage_block_cache_bytes = static_cast<double>(storage.block_cache_bytes);
  gauges.storage_sst_file_bytes = static_cast<double>(storage.sst_file_bytes);
  if (core.is_ready()) {
    gauges.model_version = static_cast<double>(core.host->version());
    gauges.learning_paused = core.learner->Progress().paused ? 1 : 0;
  }
  return gauges;
}

// The gRPC server with `services` on options.listen, or null when it cannot listen. `port` gets
// the bound port (0 on failure).
std::unique_ptr<grpc::Server> BuildGrpcServer(const ServerOptions& options,
                                              std::shared_ptr<grpc::ServerCredentials> credentials,
                                              std::initializer_list<grpc::Service*> services,
                                              int* port) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, std::move(credentials), port);
  builder.SetMaxReceiveMessageSize(options.limits.max_message_bytes);
  builder.SetMaxSendMessageSize(options.limits.max_message_bytes);
  for (grpc::Service* service : services) builder.RegisterService(service);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              ResolvedIdleHandlerThreads(options));
  if (options.max_handler_threads > 0) {
    grpc::ResourceQuota handler_threads("perennial-handler-threads");
    handler_threads.SetMaxThreads(options.max_handler_threads);
    builder.SetResourceQuota(handler_threads);
  }
  return builder.BuildAndStart();
}

// The model's device and dtype from the flags, checked (`dtype` resolved from "auto" already).
absl::StatusOr<ModelOptions> ModelOptionsFor(const ServerOptions& options) {
  ModelOptions model_options;
  absl::StatusOr<torch::Device> device = ParseDevice(options.device);
  if (!device.ok()) {
    return absl::Status(device.status().code(),
                        absl::StrCat("--device: ", device.status().message()));
  }
  model_options.device = *device;
  absl::StatusOr<torch::ScalarType> dtype = ParseComputeDtype(options.dtype);
  if (!dtype.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--dtype: ", dtype.status().message()));
  }
  model_options.dtype = *dtype;
  return model_options;
}

// Starts `learner` from the store's newest intact checkpoint (none: the base model) and the
// cursor saved with it.
absl::Status ResumeLearner(Store& store, LearnerControl& learner) {
  absl::StatusOr<std::optional<v1::CheckpointRecord>> start = store.LatestValidCheckpoint();
  if (!start.ok()) return start.status();
  uint64_t cursor = store.Cursor();
  if (start->has_value() && (*start)->info().version() != store.CurrentVersion()) {
    // The current checkpoint is corrupt or missing: continue from its newest intact ancestor.
    absl::Status status = store.SetCurrentVersion((*start)->info().version());
    if (!status.ok()) return status;
    cursor = (*start)->info().cursor();
  }
  return learner.Start(*start, cursor);
}

}  // namespace

// Declaration order is destruction order reversed: services and the gRPC server go first, the
// store last.
struct PerennialServer::State {
  ServerOptions options;
  std::unique_ptr<Store> store;
  std::unique_ptr<ServerMetrics> metrics;
  std::unique_ptr<LabelSets> label_sets;
  std::unique_ptr<ModelHost> host;
  std::unique_ptr<QueryBatcher> batcher;
  std::unique_ptr<LearnerControl> learner;
  std::unique_ptr<Checkpointer> checkpointer;
  std::unique_ptr<CheckpointScheduler> checkpoint_scheduler;
  TokenAuthenticator auth;
  ServerCore core;
  std::unique_ptr<IngestServiceImpl> ingest;
  std::unique_ptr<InferenceServiceImpl> inference;
  std::unique_ptr<AdminServiceImpl> admin;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  bool loaded = false;
  bool shut_down = false;
};

PerennialServer::PerennialServer(std::unique_ptr<State> state) : state_(std::move(state)) {}

PerennialServer::~PerennialServer() { Shutdown().IgnoreError(); }

int PerennialServer::port() const { return state_->port; }
int PerennialServer::metrics_port() const { return state_->metrics->port(); }
const ServerOptions& PerennialServer::options() const { return state_->options; }

absl::StatusOr<std::unique_ptr<PerennialServer>> PerennialServer::Start(
    const ServerOptions& options) {
  auto state = std::make_unique<State>();
  state->options = options;
  state->options.dtype = ResolveAutoDtype(options.dtype, options.device);
  // Flag mistakes (a device that is not there included) fail here, before the store is opened
  // or a port is bound; LoadModel checks them again when it uses them.
  if (absl::StatusOr<ModelOptions> model = ModelOptionsFor(state->options); !model.ok()) {
    return model.status();
  }
  if (absl::Status threads = CheckHandlerThreads(options); !threads.ok()) return threads;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(options.security);
  if (!credentials.ok()) return credentials.status();
  if (!options.security.auth_token_file.empty()) {
    absl::StatusOr<TokenAuthenticator> auth =
        TokenAuthenticator::FromFile(options.security.auth_token_file);
    if (!auth.ok()) return auth.status();
    state->auth = *std::move(auth);
  }
  absl::StatusOr<std::string> model_id = ModelFileIdentity(options.model_path);
  if (!model_id.ok()) return model_id.status();

  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(StoreOptionsFor(options, *model_id));
  if (!store.ok()) return store.status();
  state->store = *std::move(store);

  absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics =
      ServerMetrics::Create(options.metrics_listen);
  if (!metrics.ok()) return metrics.status();
  state->metrics = *std::move(metrics);
  state->label_sets = std::make_unique<LabelSets>(state->store.get());

  ServerCore& core = state->core;
  core.limits = options.limits;
  core.store = state->store.get();
  core.metrics = state->metrics.get();
  core.label_sets = state->label_sets.get();
  core.start_time = absl::Now();
  core.auth = &state->auth;
  core.device = options.device;
  core.dtype = state->options.dtype;
  core.method = options.method;
  core.handler_intra_op_threads = options.batching.intra_op_threads;
  state->metrics->SetLiveGauges([&core, thread_limit = options.max_handler_threads] {
    return ReadLiveGauges(core, thread_limit);
  });

  state->ingest = std::make_unique<IngestServiceImpl>(&core);
  state->inference = std::make_unique<InferenceServiceImpl>(&core);
  state->admin = std::make_unique<AdminServiceImpl>(&core);
  state->server = BuildGrpcServer(options, *credentials,
                                  {state->ingest.get(), state->inference.get(), state->admin.get()},
                                  &state->port);
  if (state->server == nullptr || state->port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for gRPC on ", options.listen));
  }
  // The default health service starts SERVING; nothing is served until the model is loaded.
  state->server->GetHealthCheckService()->SetServingStatus(false);
  return std::unique_ptr<PerennialServer>(new PerennialServer(std::move(state)));
}

absl::Status PerennialServer::LoadModel() {
  State& s = *state_;
  if (s.loaded) return absl::FailedPreconditionError("the model is already loaded");
  absl::StatusOr<ModelOptions> model_options = ModelOptionsFor(s.options);
  if (!model_options.ok()) return model_options.status();
  absl::StatusOr<ClipModel> model = ClipModel::Load(s.options.model_path, *model_options);
  if (!model.ok()) return model.status();
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::LoadDefault();
  if (!tokenizer.ok()) return tokenizer.status();
  s.host = std::make_unique<ModelHost>(*std::move(model), *std::move(tokenizer),
                                       s.store->base_model_id(), s.options.model_host);
  ServerMetrics* metrics = s.metrics.get();
  s.batcher = std::make_unique<QueryBatcher>(
      s.host.get(), s.options.batching,
      [metrics](int batch_size, absl::Duration) { metrics->ObserveBatch(batch_size); });

  LearnerEnv env{s.store.get(), s.host.get(), s.batcher.get(), s.metrics->learner()};
  LearningLoopOptions learning = s.options.learning;
  learning.limits = s.options.limits;
  absl::StatusOr<std::unique_ptr<LearnerControl>> learner =
      CreateLearner(s.options.method, std::move(learning), env);
  if (!learner.ok()) return learner.status();
  s.learner = *std::move(learner);
  if (absl::Status resumed = ResumeLearner(*s.store, *s.learner); !resumed.ok()) return resumed;
  s.checkpointer = std::make_unique<Checkpointer>(s.store.get(), s.host.get(), s.learner.get(),
                                                  s.options.retention, s.metrics.get());
  s.checkpoint_scheduler = std::make_unique<CheckpointScheduler>(
      s.checkpointer.get(), s.learner.get(), s.options.checkpoints);
  s.core.host = s.host.get();
  s.core.batcher = s.batcher.get();
  s.core.learner = s.learner.get();
  s.core.checkpointer = s.checkpointer.get();
  s.core.method = s.learner->method();
  s.metrics->SetBuildInfo(s.core.method, s.store->base_model_id(), s.options.device,
                          s.options.dtype);
  s.core.ready.store(true, std::memory_order_release);
  s.loaded = true;
  // A probe set that no longer loads (e.g. limits were lowered) must not keep the server down.
  absl::Status probes = RestoreProbes(s.core);
  if (!probes.ok()) std::cerr << "warning: stored probes not restored: " << probes << std::endl;
  s.server->GetHealthCheckService()->SetServingStatus(true);
  return absl::OkStatus();
}

absl::Status PerennialServer::Shutdown() {
  State& s = *state_;
  if (s.shut_down) return absl::OkStatus();
  s.shut_down = true;
  if (s.server != nullptr) {
    s.server->GetHealthCheckService()->SetServingStatus(false);
    s.server->Shutdown(absl::ToChronoTime(absl::Now() + s.options.drain_timeout));
    s.server->Wait();
  }
  absl::Status status;
  if (s.learner != nullptr) {
    s.checkpoint_scheduler.reset();
    s.learner->Stop();
    status = s.checkpointer->CheckpointIfChanged();
  }
  if (s.batcher != nullptr) s.batcher->Stop();
  s.metrics->SetLiveGauges({});
  return status;
}

}  // namespace perennial
