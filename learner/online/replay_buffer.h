// File: learner/online/replay_buffer.h
//
// A reservoir-sampling replay buffer (Vitter's algorithm R) of preprocessed images and label ids:
// after n samples were offered, each of them is in the buffer with probability capacity / n.
// All randomness is counter-based (derived_seed.h), so the buffer is a pure function of the
// seed and the samples offered, and its saved form (ToNamedTensors) restores it exactly.
//
// Memory: capacity x 3 x R x R floats (the pixels are kept as given, fp32 for bit-exact replay).
// Thread-safety: none; owned by the learner thread.
#ifndef PERENNIAL_LEARNER_ONLINE_REPLAY_BUFFER_H_
#define PERENNIAL_LEARNER_ONLINE_REPLAY_BUFFER_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "learner/base/status.h"

namespace perennial {

class ReplayBuffer {
 public:
  ReplayBuffer(int capacity, uint64_t seed) : capacity_(capacity), seed_(seed) {}

  int capacity() const { return capacity_; }
  int size() const { return static_cast<int>(labels_.size()); }
  // Samples offered so far.
  int64_t seen() const { return seen_; }

  // Offers each row of `pixels` [N, 3, R, R] with labels[i]. Rows are copied. Precondition:
  // labels.size() == N.
  void Add(const torch::Tensor& pixels, const std::vector<int64_t>& labels);

  // `n` distinct stored samples (min(n, size()) of them), chosen by a generator seeded with
  // `draw_seed`: pixels [n, 3, R, R] and their labels. Empty pixels when the buffer is empty.
  std::pair<torch::Tensor, std::vector<int64_t>> Sample(int n, uint64_t draw_seed) const;

  // Saved form: "<prefix>pixels" [M, 3, R, R] (absent when empty), "<prefix>labels" int64 [M],
  // "<prefix>seen" int64 [1]. FromNamedTensors reads the same names back (errors name them).
  void AppendNamedTensors(const std::string& prefix,
                          std::vector<std::pair<std::string, torch::Tensor>>* out) const;
  Status RestoreFromNamedTensors(const std::string& prefix,
                                 const std::vector<std::pair<std::string, torch::Tensor>>& in);

 private:
  int capacity_;
  uint64_t seed_;
  int64_t seen_ = 0;
  std::vector<torch::Tensor> pixels_;  // each [3, R, R]
  std::vector<int64_t> labels_;
};

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_ONLINE_REPLAY_BUFFER_H_
