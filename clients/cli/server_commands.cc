#include "clients/cli/server_commands.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "clients/cli/admin_view.h"
#include "clients/cli/backoff.h"
#include "clients/cli/batch_limit.h"
#include "clients/cli/command.h"
#include "clients/cli/connection.h"
#include "clients/cli/ingest_source.h"
#include "clients/cli/progress_line.h"
#include "perennial/v1/admin.grpc.pb.h"
#include "perennial/v1/ingest.grpc.pb.h"

namespace perennial::cli {
namespace {

// How a command shows its response to a person; null: the message's text format. --json
// always prints the message.
template <typename Response>
using TextView = std::function<std::string(const Response&)>;

// Unary admin call: request -> response printed.
template <typename Request, typename Response, typename Method>
Status AdminCall(const Connection& c, const char* rpc, Method method, const Request& request,
                 const TextView<Response>& view) {
  auto stub = v1::AdminService::NewStub(Channel(c));
  grpc::ClientContext context;
  PrepareCall(c, &context);
  Response response;
  PERENNIAL_RETURN_IF_ERROR(CallStatus(c, rpc, ((*stub).*method)(&context, request, &response)));
  if (view != nullptr && !c.json) {
    std::fputs(view(response).c_str(), stdout);
  } else {
    PrintMessage(c, response);
  }
  return OkStatus();
}

// Non-deduced: lets AddAdminCommand take a lambda where it wants a std::function.
template <typename T>
struct NonDeduced {
  using type = T;
};

// Adds subcommand `name` (with the connection flags) that sends `rpc` the request
// `make_request` builds once the command line is parsed, and prints the response (through
// `view` unless --json).
template <typename Request, typename Response>
CLI::App* AddAdminCommand(
    CLI::App& app, const std::shared_ptr<Connection>& c, const std::string& name,
    const std::string& help, const char* rpc,
    grpc::Status (v1::AdminService::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
    typename NonDeduced<std::function<Request()>>::type make_request = [] { return Request(); },
    typename NonDeduced<TextView<Response>>::type view = nullptr) {
  CLI::App* sub = app.add_subcommand(name, help);
  AddConnectionFlags(sub, c.get());
  SetCommand(sub, [c, rpc, method, make_request, view]() -> Status {
    return AdminCall<Request, Response>(*c, rpc, method, make_request(), view);
  });
  return sub;
}

void AddAdminCommands(CLI::App& app) {
  using Stub = v1::AdminService::Stub;
  auto c = std::make_shared<Connection>();
  AddAdminCommand(
      app, c, "status",
      "A running server's health, versions, cursor, lag and learning metrics (GetStatus); "
      "--json for every field.",
      "GetStatus", &Stub::GetStatus, [] { return v1::GetStatusRequest(); },
      [](const v1::GetStatusResponse& status) { return FormatStatus(status, absl::Now()); });

  auto tags = std::make_shared<std::vector<std::string>>();
  AddAdminCommand(
      app, c, "checkpoint", "Write a checkpoint now (tagged checkpoints survive retention).",
      "Checkpoint", &Stub::Checkpoint,
      [tags] {
        v1::CheckpointRequest request;
        for (const std::string& tag : *tags) request.add_tags(tag);
        return request;
      },
      FormatCheckpointWritten)
      ->add_option("--tag", *tags, "tag (repeatable), e.g. before-rollout");

  AddAdminCommand(
      app, c, "checkpoints", "List stored checkpoints, oldest first; --json for their metrics.",
      "ListCheckpoints", &Stub::ListCheckpoints, [] { return v1::ListCheckpointsRequest(); },
      [](const v1::ListCheckpointsResponse& list) { return FormatCheckpoints(list, absl::Now()); });

  auto version = std::make_shared<uint64_t>(0);
  auto from_head = std::make_shared<bool>(false);
  CLI::App* roll = AddAdminCommand(
      app, c, "rollback",
      "Make checkpoint VERSION (0: the base model) live again, under a new version.", "Rollback",
      &Stub::Rollback,
      [version, from_head] {
        v1::RollbackRequest request;
        request.set_version(*version);
        request.set_resume_from_head(*from_head);
        return request;
      },
      FormatRollback);
  roll->add_option("version", *version, "checkpoint version")->required();
  roll->add_flag("--from-head", *from_head,
                 "keep the cursor at the log's head (do not re-train the samples after it)");

  AddAdminCommand(
      app, c, "pause", "Pause learning (ingest and queries go on).", "PauseLearning",
      &Stub::PauseLearning, [] { return v1::PauseLearningRequest(); }, FormatPaused);
  AddAdminCommand(
      app, c, "resume", "Resume learning.", "ResumeLearning", &Stub::ResumeLearning,
      [] { return v1::ResumeLearningRequest(); }, FormatResumed);

  auto words = std::make_shared<std::vector<std::string>>();
  AddAdminCommand(
      app, c, "vocab-add",
      "Add words to the replayed vocabulary (sit+vrlwf; used after a restart).", "AddVocabulary",
      &Stub::AddVocabulary,
      [words] {
        v1::AddVocabularyRequest request;
        for (const std::string& w : *words) request.add_words(w);
        return request;
      },
      FormatVocabularyAdded)
      ->add_option("words", *words, "words")
      ->required();

  auto labels = std::make_shared<std::vector<std::string>>();
  auto templates = std::make_shared<std::vector<std::string>>();
  auto name = std::make_shared<std::string>();
  CLI::App* set = AddAdminCommand(
      app, c, "labels-set", "Store a named label set that Classify can use by name (label_set).",
      "SetLabelSet", &Stub::SetLabelSet,
      [name, labels, templates] {
        v1::SetLabelSetRequest request;
        request.set_name(*name);
        for (const std::string& l : *labels) request.add_labels(l);
        for (const std::string& t : *templates) request.add_templates(t);
        return request;
      },
      [name](const v1::SetLabelSetResponse& response) {
        return FormatLabelSetStored(*name, response);
      });
  set->add_option("name", *name, "label set name")->required();
  set->add_option("--labels", *labels, "comma-separated labels")->delimiter(',')->required();
  set->add_option("--template", *templates, "prompt template with {} (repeatable)");
}

struct IngestFlags {
  Connection connection;
  IngestSourceOptions source;
  int batch = 64;
  size_t batch_bytes = kDefaultMaxBatchBytes;  // at most, per IngestBatch call
  double rate = 0;  // samples/s; 0: as fast as the server takes them
  int max_retries = 30;
};

// Totals over the whole ingest.
struct IngestTotals {
  uint64_t accepted = 0, duplicates = 0, rejected = 0, retries = 0, last_seq = 0;
};

// Sends one batch, resending the samples the server rejected as retryable (backpressure) or the
// whole batch on UNAVAILABLE / RESOURCE_EXHAUSTED, with the server's retry hint or exponential
// backoff. Rejections that are not retryable are counted and reported.
Status SendBatch(const IngestFlags& f, v1::IngestService::Stub* stub, std::vector<v1::Sample> batch,
                 IngestTotals* totals, ProgressLine* progress) {
  Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(5000));
  for (int attempt = 0; !batch.empty(); ++attempt) {
    v1::IngestRequest request;
    for (v1::Sample& s : batch) *request.add_samples() = s;
    grpc::ClientContext context;
    PrepareCall(f.connection, &context);
    v1::IngestResponse response;
    const grpc::Status status = stub->IngestBatch(&context, request, &response);
    const bool transient = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
    if (!status.ok() && !(transient && attempt < f.max_retries)) {
      return CallStatus(f.connection, "IngestBatch", status);
    }
    std::vector<v1::Sample> retry;
    if (!status.ok()) {
      retry = std::move(batch);
    } else {
      totals->accepted += response.accepted();
      totals->duplicates += response.duplicates();
      totals->last_seq = std::max<uint64_t>(totals->last_seq, response.last_seq());
      for (const v1::SampleResult& r : response.results()) {
        if (r.outcome() != v1::SampleResult::REJECTED) continue;
        if (r.retryable() && attempt < f.max_retries) {
          retry.push_back(batch[r.index()]);
          continue;
        }
        ++totals->rejected;
        progress->Message("rejected " + batch[r.index()].idempotency_key() + ": " + r.reason());
      }
    }
    if (retry.empty()) break;
    totals->retries += retry.size();
    const std::chrono::milliseconds pause = backoff.Next();
    std::this_thread::sleep_for(response.retry_after_ms() > 0
                                    ? std::chrono::milliseconds(response.retry_after_ms())
                                    : pause);
    batch = std::move(retry);
  }
  return OkStatus();
}

std::string IngestProgressText(size_t sent, size_t total, const IngestTotals& t, double seconds) {
  const double rate = seconds > 0 ? static_cast<double>(sent) / seconds : 0;
  const double eta = rate > 0 ? static_cast<double>(total - sent) / rate : 0;
  char text[256];
  std::snprintf(text, sizeof(text),
                "%zu/%zu sent  %.0f samples/s  accepted %llu  duplicate %llu  rejected %llu  "
                "retried %llu  eta %.0fs",
                sent, total, rate, static_cast<unsigned long long>(t.accepted),
                static_cast<unsigned long long>(t.duplicates),
                static_cast<unsigned long long>(t.rejected),
                static_cast<unsigned long long>(t.retries), eta);
  return text;
}

Status RunIngest(const IngestFlags& f) {
  PERENNIAL_ASSIGN_OR_RETURN(std::unique_ptr<IngestSource> source, IngestSource::Open(f.source));
  auto stub = v1::IngestService::NewStub(Channel(f.connection));
  const size_t total = source->size();
  std::fprintf(stderr, "ingesting %zu samples (%s) into %s\n", total, source->description().c_str(),
               f.connection.server.c_str());
  IngestTotals totals;
  ProgressLine progress;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  SampleBatcher batcher(source.get(), BatchLimit{static_cast<size_t>(f.batch), f.batch_bytes});
  for (size_t sent = 0; sent < total;) {
    PERENNIAL_ASSIGN_OR_RETURN(std::vector<v1::Sample> batch, batcher.Next());
    const size_t n = batch.size();
    PERENNIAL_RETURN_IF_ERROR(SendBatch(f, stub.get(), std::move(batch), &totals, &progress));
    sent += n;
    if (f.rate > 0) {
      const double ahead = static_cast<double>(sent) / f.rate - elapsed();
      if (ahead > 0) std::this_thread::sleep_for(std::chrono::duration<double>(ahead));
    }
    progress.Update(IngestProgressText(sent, total, totals, elapsed()), sent == total);
  }
  progress.Finish();
  const double seconds = elapsed();
  if (f.connection.json) {
    PrintJson({{"sent", total},
               {"accepted", totals.accepted},
               {"duplicates", totals.duplicates},
               {"rejected", totals.rejected},
               {"retries", totals.retries},
               {"last_seq", totals.last_seq},
               {"seconds", seconds}});
  } else {
    std::printf("sent %zu in %.1f s: accepted %llu, duplicate %llu, rejected %llu; last seq %llu\n",
                total, seconds, static_cast<unsigned long long>(totals.accepted),
                static_cast<unsigned long long>(totals.duplicates),
                static_cast<unsigned long long>(totals.rejected),
                static_cast<unsigned long long>(totals.last_seq));
  }
  if (totals.rejected > 0) {
    return FailedPreconditionError(std::to_string(totals.rejected) + " samples were rejected");
  }
  return OkStatus();
}

// Where the samples of `ingest` and `probes-set` come from: a built-in dataset, a folder of class
// sub-folders, or files with one label.
void AddSourceFlags(CLI::App* sub, IngestSourceOptions* s) {
  sub->add_option("--dataset", s->dataset, "fashion-mnist");
  sub->add_option("--data-dir", s->data_dir, "dataset location (default: Debian's)");
  sub->add_option("--split", s->split, "train or test")->capture_default_str();
  sub->add_option("--seed", s->seed, "order seed")->capture_default_str();
  sub->add_option("--limit", s->limit, "only the first N samples of the order (0: all)")
      ->capture_default_str();
  sub->add_option("--folder", s->folder, "a folder of class sub-folders of PNG/JPEG files");
  sub->add_option("--label", s->label, "the label of the image files given as arguments");
  sub->add_option("files", s->files, "PNG/JPEG files (with --label)");
}

struct ProbesSetFlags {
  Connection connection;
  std::string name;
  std::vector<std::string> labels;
  IngestSourceOptions source;
};

Status RunProbesSet(const ProbesSetFlags& f) {
  PERENNIAL_ASSIGN_OR_RETURN(std::unique_ptr<IngestSource> source, IngestSource::Open(f.source));
  v1::SetProbesRequest request;
  v1::Probe* probe = request.add_probes();
  probe->set_name(f.name);
  for (const std::string& label : f.labels) probe->add_labels(label);
  for (size_t i = 0; i < source->size(); ++i) {
    PERENNIAL_ASSIGN_OR_RETURN(v1::Sample sample, source->Sample(i));
    *probe->add_samples() = std::move(sample);
  }
  const Status set = AdminCall<v1::SetProbesRequest, v1::SetProbesResponse>(
      f.connection, "SetProbes", &v1::AdminService::Stub::SetProbes, request,
      TextView<v1::SetProbesResponse>(FormatProbesSet));
  // A probe set travels in one message: say what to change when it is too big for one.
  if (IsMessageTooLarge(set)) {
    return Status(set.code(),
                  absl::StrFormat("%s. The probe set (%zu images, %.1f MiB) is one "
                                  "message: use fewer images (--limit) or smaller ones",
                                  set.message(), source->size(),
                                  static_cast<double>(request.ByteSizeLong()) / (1 << 20)));
  }
  return set;
}

void AddProbesSetCommand(CLI::App& app) {
  auto f = std::make_shared<ProbesSetFlags>();
  f->source.split = "test";
  f->source.order = "iid";
  f->source.limit = 200;
  CLI::App* sub = app.add_subcommand(
      "probes-set",
      "Make a labeled image set the server's zero-shot probe (SetProbes; replaces the current\n"
      "probes): the learner measures the live model on it and exports accuracy and retention\n"
      "(zs_acc/<name>, zs_retention/<name>). Prints the base model's accuracy on it:\n"
      "  perennial probes-set fmnist --dataset fashion-mnist --limit 200");
  AddConnectionFlags(sub, &f->connection);
  sub->add_option("name", f->name, "probe name, [A-Za-z0-9_.-] (names the metric series)")
      ->required();
  sub->add_option("--labels", f->labels, "candidate class names (default: the samples' labels)")
      ->delimiter(',');
  AddSourceFlags(sub, &f->source);
  SetCommand(sub, [f]() -> Status { return RunProbesSet(*f); });
}

void AddIngestCommand(CLI::App& app) {
  auto f = std::make_shared<IngestFlags>();
  IngestSourceOptions& s = f->source;
  CLI::App* sub = app.add_subcommand(
      "ingest",
      "Stream labeled images into a running server: a built-in dataset in a stream order\n"
      "(--dataset fashion-mnist --order si-blurry), a folder of class sub-folders (--folder),\n"
      "or image files with one --label. Idempotency keys make a rerun send nothing twice.\n"
      "Retries with backoff when the server applies backpressure.");
  AddConnectionFlags(sub, &f->connection);
  AddSourceFlags(sub, &s);
  sub->add_option("--order", s.order, "si-blurry, class-incremental or iid")->capture_default_str();
  sub->add_option("--tasks", s.tasks, "tasks of the stream order")->capture_default_str();
  sub->add_option("--n", s.n_percent, "Si-Blurry: percent of disjoint classes")
      ->capture_default_str();
  sub->add_option("--m", s.m_percent, "Si-Blurry: percent of blurry samples moved")
      ->capture_default_str();
  sub->add_option("--eval-every", s.eval_every,
                  "mark every K-th sample as EVAL (held out for anytime accuracy; 0: none)")
      ->capture_default_str();
  sub->add_option("--batch", f->batch, "samples per IngestBatch call, at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  sub->add_option("--batch-bytes", f->batch_bytes,
                  "bytes of samples per IngestBatch call, at most (a bigger image goes alone); "
                  "keep it under the server's --max-message-bytes")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--rate", f->rate, "samples per second (0: as fast as accepted)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--max-retries", f->max_retries, "retries of a backpressured batch")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  SetCommand(sub, [f]() -> Status { return RunIngest(*f); });
}

}  // namespace

void AddServerCommands(CLI::App& app) {
  AddIngestCommand(app);
  AddProbesSetCommand(app);
  AddAdminCommands(app);
}

}  // namespace perennial::cli
