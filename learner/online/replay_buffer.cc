#include "learner/online/replay_buffer.h"

#include <map>

#include "learner/data/stream.h"
#include "learner/online/derived_seed.h"

namespace perennial {

void ReplayBuffer::Add(const torch::Tensor& pixels, const std::vector<int64_t>& labels) {
  for (size_t i = 0; i < labels.size(); ++i) {
    const int64_t n = seen_++;
    if (capacity_ <= 0) continue;
    if (size() < capacity_) {
      pixels_.push_back(pixels[static_cast<int64_t>(i)].detach().clone());
      labels_.push_back(labels[i]);
      continue;
    }
    StreamRng rng(DerivedSeed(seed_, SeedPurpose::kReservoir, static_cast<uint64_t>(n)));
    const uint64_t j = rng.Uniform(static_cast<uint64_t>(n) + 1);
    if (j < static_cast<uint64_t>(capacity_)) {
      pixels_[j] = pixels[static_cast<int64_t>(i)].detach().clone();
      labels_[j] = labels[i];
    }
  }
}

std::pair<torch::Tensor, std::vector<int64_t>> ReplayBuffer::Sample(int n,
                                                                    uint64_t draw_seed) const {
  const int m = std::min(n, size());
  if (m <= 0) return {torch::Tensor(), {}};
  std::vector<int64_t> order(labels_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  StreamRng rng(draw_seed);
  rng.Shuffle(order);
  std::vector<torch::Tensor> rows;
  std::vector<int64_t> labels;
  for (int i = 0; i < m; ++i) {
    rows.push_back(pixels_[order[i]]);
    labels.push_back(labels_[order[i]]);
  }
  return {torch::stack(rows), labels};
}

void ReplayBuffer::AppendNamedTensors(
    const std::string& prefix, std::vector<std::pair<std::string, torch::Tensor>>* out) const {
  if (!pixels_.empty()) out->emplace_back(prefix + "pixels", torch::stack(pixels_).cpu());
  out->emplace_back(prefix + "labels",
                    torch::tensor(labels_, torch::kLong).reshape({size()}).clone());
  out->emplace_back(prefix + "seen", torch::tensor({seen_}, torch::kLong));
}

Status ReplayBuffer::RestoreFromNamedTensors(
    const std::string& prefix, const std::vector<std::pair<std::string, torch::Tensor>>& in) {
  std::map<std::string, torch::Tensor> by_name;
  for (const auto& [name, t] : in) {
    if (name.compare(0, prefix.size(), prefix) == 0) by_name[name.substr(prefix.size())] = t;
  }
  auto labels = by_name.find("labels");
  auto seen = by_name.find("seen");
  if (labels == by_name.end() || seen == by_name.end()) {
    return InvalidArgumentError("replay buffer state lacks " + prefix + "labels or " + prefix +
                                "seen");
  }
  if (labels->second.scalar_type() != torch::kLong || labels->second.dim() != 1 ||
      seen->second.scalar_type() != torch::kLong || seen->second.numel() != 1) {
    return InvalidArgumentError("replay buffer tensors " + prefix +
                                "labels/seen: wrong dtype or shape");
  }
  const int64_t m = labels->second.size(0);
  if (m > capacity_) {
    return InvalidArgumentError("replay buffer state holds " + std::to_string(m) +
                                " samples, more than the capacity " + std::to_string(capacity_));
  }
  auto pixels = by_name.find("pixels");
  if (m > 0 &&
      (pixels == by_name.end() || pixels->second.dim() != 4 || pixels->second.size(0) != m)) {
    return InvalidArgumentError("replay buffer tensor " + prefix + "pixels missing or misshaped");
  }
  pixels_.clear();
  labels_.clear();
  for (int64_t i = 0; i < m; ++i) {
    pixels_.push_back(pixels->second[i].to(torch::kFloat).clone());
    labels_.push_back(labels->second[i].item<int64_t>());
  }
  seen_ = seen->second.item<int64_t>();
  return OkStatus();
}

}  // namespace perennial
