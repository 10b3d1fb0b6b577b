#include "clients/cli/admin_view.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "proto/timestamp.h"

namespace perennial::cli {
namespace {

using Metrics = google::protobuf::Map<std::string, double>;

constexpr char kProbeAccuracy[] = "zs_acc/";

void AppendLine(std::string* out, const char* name, const std::string& value) {
  absl::StrAppendFormat(out, "%-12s %s\n", name, value);
}

// "name 0.681" for each of `names` that `metrics` holds, two spaces apart.
std::string Figures(const Metrics& metrics,
                    const std::vector<std::pair<const char*, const char*>>& names) {
  std::vector<std::string> parts;
  for (const auto& [key, shown] : names) {
    auto it = metrics.find(key);
    if (it != metrics.end()) parts.push_back(absl::StrFormat("%s %.3f", shown, it->second));
  }
  return absl::StrJoin(parts, "  ");
}

double Lookup(const Metrics& metrics, const std::string& key, double fallback) {
  auto it = metrics.find(key);
  return it == metrics.end() ? fallback : it->second;
}

std::string HealthText(const v1::GetStatusResponse& s) {
  std::string health = v1::GetStatusResponse::Health_Name(s.health());
  if (s.learning_paused()) absl::StrAppend(&health, " (learning paused)");
  return health;
}

std::string CheckpointText(const v1::GetStatusResponse& s, absl::Time now) {
  if (s.checkpoint_version() == 0) return "none yet";
  return absl::StrCat("version ", s.checkpoint_version(), ", ",
                      FormatAge(now - FromProtoTimestamp(s.checkpoint_time())), " ago");
}

std::string LogText(const v1::GetStatusResponse& s) {
  return absl::StrFormat("cursor %d of %d logged; lag %d samples, %.1f s; backlog %d of %d",
                         s.cursor(), s.last_seq(), s.lag_samples(), s.lag_seconds(), s.backlog(),
                         s.backlog_limit());
}

// One line per probe: "fmnist4: 0.450 (base 0.400, retention 1.125)".
std::vector<std::string> ProbeLines(const Metrics& metrics) {
  std::map<std::string, double> accuracies;  // sorted by probe name
  for (const auto& [key, value] : metrics) {
    if (absl::StartsWith(key, kProbeAccuracy))
      accuracies[key.substr(sizeof(kProbeAccuracy) - 1)] = value;
  }
  std::vector<std::string> lines;
  for (const auto& [probe, accuracy] : accuracies) {
    std::string line = absl::StrFormat("%s: %.3f", probe, accuracy);
    const double base = Lookup(metrics, "zs_base_acc/" + probe, -1);
    const double retention = Lookup(metrics, "zs_retention/" + probe, -1);
    if (base >= 0 && retention >= 0) {
      absl::StrAppendFormat(&line, " (base %.3f, retention %.3f)", base, retention);
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

// Stored bytes as "512.0 KiB" or "2.5 MiB".
std::string Size(uint64_t bytes) {
  const double kib = static_cast<double>(bytes) / 1024;
  return kib < 1024 ? absl::StrFormat("%.1f KiB", kib) : absl::StrFormat("%.1f MiB", kib / 1024);
}

}  // namespace

std::string FormatAge(absl::Duration age) {
  const int64_t s = absl::ToInt64Seconds(age < absl::ZeroDuration() ? absl::ZeroDuration() : age);
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrCat(s / 60, "m ", s % 60, "s");
  if (s < 86400) return absl::StrCat(s / 3600, "h ", s / 60 % 60, "m");
  return absl::StrCat(s / 86400, "d ", s / 3600 % 24, "h");
}

std::string FormatStatus(const v1::GetStatusResponse& s, absl::Time now) {
  const Metrics& metrics = s.metrics();
  std::string out;
  AppendLine(&out, "health", HealthText(s));
  if (!s.alarms().empty()) AppendLine(&out, "alarms", absl::StrJoin(s.alarms(), "; "));
  AppendLine(&out, "model",
             absl::StrCat("version ", s.model_version(), " (", s.method(), " on ", s.device(), ", ",
                          s.dtype(), ")"));
  AppendLine(&out, "checkpoint", CheckpointText(s, now));
  AppendLine(&out, "log", LogText(s));
  std::string learning =
      absl::StrFormat("%d samples trained in %d steps; %d skipped", s.samples_trained(), s.steps(),
                      static_cast<int64_t>(Lookup(metrics, "skipped_samples", 0)));
  // The loss of the last step; 0 until this server process has taken one.
  if (const double loss = Lookup(metrics, "loss", 0); loss > 0) {
    absl::StrAppendFormat(&learning, "; loss %.4f", loss);
  }
  AppendLine(&out, "learning", learning);
  const std::string accuracy = Figures(metrics, {{"anytime_acc", "anytime"},
                                                 {"a_auc", "A_auc"},
                                                 {"a_last", "A_last"},
                                                 {"forgetting", "forgetting"},
                                                 {"prequential_acc", "prequential"}});
  if (!accuracy.empty()) {
    AppendLine(&out, "accuracy",
               absl::StrFormat("%s  (%d held-out samples, %d labels seen)", accuracy,
                               static_cast<int64_t>(Lookup(metrics, "eval_samples", 0)),
                               static_cast<int64_t>(Lookup(metrics, "labels_seen", 0))));
  }
  const char* name = "zero-shot";
  for (const std::string& line : ProbeLines(metrics)) {
    AppendLine(&out, name, line);
    name = "";
  }
  AppendLine(
      &out, "server",
      absl::StrCat(s.server_version(), ", up ", FormatAge(now - FromProtoTimestamp(s.start_time())),
                   "; base model ", s.base_model_id()));
  return out;
}

std::string FormatCheckpointWritten(const v1::CheckpointResponse& response) {
  const v1::CheckpointInfo& c = response.checkpoint();
  std::string line =
      absl::StrFormat("checkpoint %d written (from %d; cursor %d, %d samples trained, %s)",
                      c.version(), c.parent_version(), c.cursor(), c.samples_trained(),
                      Size(c.adapter_size_bytes() + c.optimizer_size_bytes()));
  if (!c.tags().empty()) absl::StrAppend(&line, ", tags ", absl::StrJoin(c.tags(), ","));
  return line + "\n";
}

std::string FormatPaused(const v1::PauseLearningResponse& response) {
  return absl::StrFormat("learning paused at cursor %d; model version %d keeps serving\n",
                         response.cursor(), response.model_version());
}

std::string FormatResumed(const v1::ResumeLearningResponse& response) {
  return absl::StrFormat("learning resumed from cursor %d (model version %d)\n", response.cursor(),
                         response.model_version());
}

std::string FormatRollback(const v1::RollbackResponse& response) {
  return absl::StrFormat(
      "model version %d is live: checkpoint %d's adapters%s; the learner continues after "
      "cursor %d\n",
      response.model_version(), response.restored_version(),
      response.restored_version() == 0 ? " (the base model)" : "", response.cursor());
}

std::string FormatVocabularyAdded(const v1::AddVocabularyResponse& response) {
  return absl::StrFormat("%d %s added; the replayed vocabulary holds %d\n", response.added(),
                         response.added() == 1 ? "word" : "words", response.total());
}

std::string FormatLabelSetStored(const std::string& name, const v1::SetLabelSetResponse& response) {
  return absl::StrFormat("label set '%s' stored: %d labels\n", name, response.label_count());
}

std::string FormatProbesSet(const v1::SetProbesResponse& response) {
  const std::map<std::string, double> sorted(response.base_accuracy().begin(),
                                             response.base_accuracy().end());
  std::string out;
  for (const auto& [probe, accuracy] : sorted) {
    absl::StrAppendFormat(&out, "probe %s set: base-model accuracy %.3f\n", probe, accuracy);
  }
  return out;
}

std::string FormatPredictions(const std::string& image, const v1::ClassifyResponse& response) {
  std::string out = absl::StrFormat("%s (model version %d)\n", image, response.model_version());
  for (const v1::Prediction& p : response.predictions()) {
    absl::StrAppendFormat(&out, "  %.3f  %s\n", p.probability(), p.label());
  }
  return out;
}

std::string FormatCheckpoints(const v1::ListCheckpointsResponse& list, absl::Time now) {
  std::string out =
      list.checkpoints().empty()
          ? "no checkpoints yet\n"
          : absl::StrFormat("%7s %7s  %-19s  %8s %9s %9s %7s %9s %6s %10s  %s\n", "version",
                            "parent", "created (UTC)", "age", "cursor", "samples", "steps", "size",
                            "A_auc", "forgetting", "tags");
  for (const v1::CheckpointInfo& c : list.checkpoints()) {
    const absl::Time created = FromProtoTimestamp(c.created_time());
    const double a_auc = Lookup(c.metrics(), "a_auc", -1);
    const double forgetting = Lookup(c.metrics(), "forgetting", -1);
    const std::string row = absl::StrFormat(
        "%7d %7d  %-19s  %8s %9d %9d %7d %9s %6s %10s  %s", c.version(), c.parent_version(),
        absl::FormatTime("%Y-%m-%d %H:%M:%S", created, absl::UTCTimeZone()),
        FormatAge(now - created), c.cursor(), c.samples_trained(), c.steps(),
        Size(c.adapter_size_bytes() + c.optimizer_size_bytes()),
        a_auc < 0 ? "-" : absl::StrFormat("%.3f", a_auc),
        forgetting < 0 ? "-" : absl::StrFormat("%.3f", forgetting), absl::StrJoin(c.tags(), ","));
    absl::StrAppend(&out, absl::StripTrailingAsciiWhitespace(row), "\n");
  }
  absl::StrAppend(&out, "current: ", list.current_version(),
                  list.current_version() == 0 ? " (the base model)" : "", "\n");
  if (!list.corrupt_versions().empty()) {
    absl::StrAppend(&out, "corrupt (failed their integrity check): ",
                    absl::StrJoin(list.corrupt_versions(), ", "), "\n");
  }
  return out;
}

}  // namespace perennial::cli
