// OnlineLearner::SaveState / RestoreState: the learner's full state as one safetensors image.
//
// Tensors: "adapters.<name>", "snapshot.<name>" (the published adapters), "optimizer.<name>.*"
// (adamw_state.h), "replay.*" (replay_buffer.h), "labels.bytes"/"labels.lengths" (the label set,
// UTF-8 bytes concatenated). Metadata: format tag, method, counters. Random state needs no entry:
// every draw is seeded from (seed, counter) (derived_seed.h).
#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "learner/base/torch_status.h"
#include "learner/model/safetensors.h"
#include "learner/online/adamw_state.h"
#include "learner/online/online_learner.h"

namespace perennial {
namespace {

constexpr char kFormat[] = "perennial-online-learner-v1";

NamedTensorList Prefixed(const std::string& prefix, const NamedTensorList& tensors) {
  NamedTensorList out;
  for (const auto& [name, t] : tensors) out.emplace_back(prefix + name, t.detach().cpu());
  return out;
}

void AppendStrings(const std::string& prefix, const std::vector<std::string>& strings,
                   NamedTensorList* out) {
  std::string bytes;
  std::vector<int64_t> lengths;
  for (const std::string& s : strings) {
    bytes += s;
    lengths.push_back(static_cast<int64_t>(s.size()));
  }
  torch::Tensor b = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  if (!bytes.empty()) std::memcpy(b.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  out->emplace_back(prefix + "bytes", b);
  out->emplace_back(
      prefix + "lengths",
      torch::tensor(lengths, torch::kLong).reshape({static_cast<int64_t>(lengths.size())}).clone());
}

StatusOr<std::vector<std::string>> ReadStrings(const std::string& prefix,
                                               const std::map<std::string, torch::Tensor>& in) {
  auto b = in.find(prefix + "bytes");
  auto l = in.find(prefix + "lengths");
  if (b == in.end() || l == in.end() || b->second.scalar_type() != torch::kUInt8 ||
      l->second.scalar_type() != torch::kLong || b->second.dim() != 1 || l->second.dim() != 1) {
    return InvalidArgumentError("learner state: " + prefix + "bytes/lengths missing or malformed");
  }
  const uint8_t* data = b->second.data_ptr<uint8_t>();
  const int64_t total = b->second.numel();
  std::vector<std::string> out;
  int64_t offset = 0;
  for (int64_t i = 0; i < l->second.numel(); ++i) {
    const int64_t n = l->second[i].item<int64_t>();
    if (n < 0 || offset + n > total) {
      return InvalidArgumentError("learner state: " + prefix + "lengths overrun the bytes");
    }
    out.emplace_back(reinterpret_cast<const char*>(data + offset), static_cast<size_t>(n));
    offset += n;
  }
  if (offset != total) return InvalidArgumentError("learner state: " + prefix + "bytes too long");
  return out;
}

StatusOr<int64_t> ReadCounter(const std::map<std::string, std::string>& metadata,
                              const std::string& key) {
  auto it = metadata.find(key);
  if (it == metadata.end()) return InvalidArgumentError("learner state lacks metadata " + key);
  try {
    size_t used = 0;
    const long long v = std::stoll(it->second, &used);
    if (used != it->second.size() || v < 0) throw std::invalid_argument(key);
    return static_cast<int64_t>(v);
  } catch (const std::exception&) {
    return InvalidArgumentError("learner state metadata " + key + " is not a count");
  }
}

// The counters SaveState writes into the metadata.
struct Counters {
  int64_t step = 0;
  int64_t samples_seen = 0;
  int64_t next_version = 0;
  int64_t snapshot_version = 0;
  int64_t snapshot_step = 0;
  int64_t snapshot_samples_seen = 0;
  int64_t snapshot_labels = 0;
};

StatusOr<Counters> ReadCounters(const std::map<std::string, std::string>& md) {
  Counters c;
  PERENNIAL_ASSIGN_OR_RETURN(c.step, ReadCounter(md, "step"));
  PERENNIAL_ASSIGN_OR_RETURN(c.samples_seen, ReadCounter(md, "samples_seen"));
  PERENNIAL_ASSIGN_OR_RETURN(c.next_version, ReadCounter(md, "next_version"));
  PERENNIAL_ASSIGN_OR_RETURN(c.snapshot_version, ReadCounter(md, "snapshot.version"));
  PERENNIAL_ASSIGN_OR_RETURN(c.snapshot_step, ReadCounter(md, "snapshot.step"));
  PERENNIAL_ASSIGN_OR_RETURN(c.snapshot_samples_seen, ReadCounter(md, "snapshot.samples_seen"));
  PERENNIAL_ASSIGN_OR_RETURN(c.snapshot_labels, ReadCounter(md, "snapshot.num_labels"));
  return c;
}

// A state saved in this format by a learner of `method`.
Status CheckFormat(const std::map<std::string, std::string>& md, const std::string& method) {
  auto format = md.find("format");
  if (format == md.end() || format->second != kFormat) {
    return InvalidArgumentError(std::string("learner state: not a ") + kFormat + " image");
  }
  auto saved_by = md.find("method");
  if (saved_by == md.end() || saved_by->second != method) {
    return InvalidArgumentError("learner state was saved by method " +
                                (saved_by == md.end() ? std::string("?") : saved_by->second) +
                                ", this learner runs " + method);
  }
  return OkStatus();
}

// The tensors named "<prefix><name>", as <name>.
NamedTensorList WithoutPrefix(const std::string& prefix, const NamedTensorList& tensors) {
  NamedTensorList out;
  for (const auto& [name, t] : tensors) {
    if (name.compare(0, prefix.size(), prefix) == 0)
      out.emplace_back(name.substr(prefix.size()), t);
  }
  return out;
}

}  // namespace

StatusOr<std::string> OnlineLearner::SaveState() const {
  return CatchTorch("saving the learner state", [&]() -> StatusOr<std::string> {
    const std::shared_ptr<const ModelSnapshot> published = snapshot();
    NamedTensorList tensors = Prefixed("adapters.", adapters_.NamedTensors());
    for (auto& entry : Prefixed("snapshot.", published->adapters.NamedTensors())) {
      tensors.push_back(std::move(entry));
    }
    AppendAdamWState(*optimizer_, adapters_.NamedTensors(), "optimizer.", &tensors);
    if (recipe_.replay) replay_.AppendNamedTensors("replay.", &tensors);
    AppendStrings("labels.", labels_, &tensors);
    std::map<std::string, std::string> metadata = {
        {"format", kFormat},
        {"method", OnlineMethodName(options_.method)},
        {"step", std::to_string(step_)},
        {"samples_seen", std::to_string(samples_seen_)},
        {"next_version", std::to_string(version_)},
        {"snapshot.version", std::to_string(published->version)},
        {"snapshot.step", std::to_string(published->step)},
        {"snapshot.samples_seen", std::to_string(published->samples_seen)},
        {"snapshot.num_labels", std::to_string(published->labels.size())},
    };
    return SerializeSafetensors(tensors, metadata);
  });
}

Status OnlineLearner::RestoreState(const std::string& bytes) {
  PERENNIAL_ASSIGN_OR_RETURN(TensorFile file, ParseSafetensors(bytes, "learner state"));
  PERENNIAL_RETURN_IF_ERROR(CheckFormat(file.metadata, OnlineMethodName(options_.method)));
  PERENNIAL_ASSIGN_OR_RETURN(const Counters counters, ReadCounters(file.metadata));
  std::map<std::string, torch::Tensor> by_name(file.tensors.begin(), file.tensors.end());
  PERENNIAL_ASSIGN_OR_RETURN(std::vector<std::string> labels, ReadStrings("labels.", by_name));
  if (counters.snapshot_labels > static_cast<int64_t>(labels.size())) {
    return InvalidArgumentError("learner state: snapshot has more labels than the learner");
  }
  // Parse everything before changing anything.
  PERENNIAL_ASSIGN_OR_RETURN(Adapters saved,
                             Adapters::FromNamedTensors(model_->config(), options_.pet,
                                                        WithoutPrefix("adapters.", file.tensors)));
  PERENNIAL_ASSIGN_OR_RETURN(Adapters published,
                             Adapters::FromNamedTensors(model_->config(), options_.pet,
                                                        WithoutPrefix("snapshot.", file.tensors)));
  ReplayBuffer replay(replay_.capacity(), options_.seed);
  if (recipe_.replay) {
    PERENNIAL_RETURN_IF_ERROR(replay.RestoreFromNamedTensors("replay.", file.tensors));
  }

  return CatchTorch("restoring the learner state", [&]() -> Status {
    {
      torch::NoGradGuard no_grad;
      const NamedTensorList current = adapters_.NamedTensors();
      const NamedTensorList values = saved.NamedTensors();
      for (size_t i = 0; i < current.size(); ++i) current[i].second.copy_(values[i].second);
    }
    ResetOptimizer();
    PERENNIAL_RETURN_IF_ERROR(
        RestoreAdamWState(*optimizer_, adapters_.NamedTensors(), "optimizer.", file.tensors));
    replay_ = std::move(replay);
    labels_ = labels;
    label_ids_.clear();
    for (size_t i = 0; i < labels_.size(); ++i) label_ids_[labels_[i]] = static_cast<int64_t>(i);
    step_ = counters.step;
    samples_seen_ = counters.samples_seen;
    version_ = counters.next_version;
    auto s = std::make_shared<ModelSnapshot>();
    s->version = counters.snapshot_version;
    s->step = counters.snapshot_step;
    s->samples_seen = counters.snapshot_samples_seen;
    s->adapters = SnapshotAdapters(published.To(model_->device()));
    s->labels.assign(labels.begin(), labels.begin() + counters.snapshot_labels);
    std::atomic_store(&snapshot_, std::shared_ptr<const ModelSnapshot>(std::move(s)));
    return OkStatus();
  });
}

}  // namespace perennial
