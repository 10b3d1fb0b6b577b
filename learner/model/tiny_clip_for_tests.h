// File: learner/model/tiny_clip_for_tests.h
//
// A CLIP small enough for unit tests (16 px images, two layers of width 32 per tower, CLIP's real
// BPE vocabulary), with seeded random weights. Tests only: the model lives until the process ends.
#ifndef PERENNIAL_LEARNER_MODEL_TINY_CLIP_FOR_TESTS_H_
#define PERENNIAL_LEARNER_MODEL_TINY_CLIP_FOR_TESTS_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "learner/model/clip_init.h"
#include "learner/model/clip_model.h"
#include "learner/model/pet.h"
#include "learner/model/tokenizer.h"

namespace perennial {

inline ClipConfig TinyClipConfig() {
  ClipConfig c;
  c.embed_dim = 16;
  c.image_resolution = 16;
  c.vision_patch_size = 8;
  c.vision_width = 32;
  c.vision_layers = 2;
  c.vision_heads = 2;
  c.context_length = 16;
  c.vocab_size = Tokenizer::kVocabSize;  // the real BPE ids
  c.text_width = 32;
  c.text_layers = 2;
  c.text_heads = 2;
  return c;
}

// The TinyClipConfig() model with InitClipTensors(config, seed) weights, built once per seed.
inline const ClipModel& TinyClipModel(uint64_t seed) {
  static auto* models = new std::map<uint64_t, std::unique_ptr<ClipModel>>();
  std::unique_ptr<ClipModel>& model = (*models)[seed];
  if (model == nullptr) {
    const ClipConfig c = TinyClipConfig();
    auto m = ClipModel::FromTensors(InitClipTensors(c, seed), ClipConfigMetadata(c), {});
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    model = std::make_unique<ClipModel>(*std::move(m));
  }
  return *model;
}

// LoRA adapters (default PetOptions) for `config` with non-zero B, so that the delta matters.
inline Adapters PerturbedAdapters(const ClipConfig& config, uint64_t seed) {
  Adapters adapters = *Adapters::Create(config, PetOptions(), seed);
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& p : adapters.Parameters()) p.add_(torch::randn_like(p) * 0.1);
  return adapters;
}

// The gradients of `adapters`' parameters that are defined (e.g. one tower's), cloned.
inline std::vector<torch::Tensor> DefinedGradients(const Adapters& adapters) {
  std::vector<torch::Tensor> grads;
  for (const torch::Tensor& p : adapters.Parameters()) {
    if (p.grad().defined()) grads.push_back(p.grad().clone());
  }
  return grads;
}

// Clears the adapters' gradients, runs `forward` and backpropagates the sum of its squared
// output. Returns that output; `grads` gets the defined gradients (DefinedGradients).
inline torch::Tensor ForwardBackward(const Adapters& adapters,
                                     const std::function<torch::Tensor()>& forward,
                                     std::vector<torch::Tensor>* grads) {
  for (const torch::Tensor& p : adapters.Parameters()) p.mutable_grad().reset();
  torch::Tensor output = forward();
  output.pow(2).sum().backward();
  *grads = DefinedGradients(adapters);
  return output;
}

// Each gradient within `relative` of its reference's norm: two ways of computing the same
// thing sum in different orders (~3e-5 relative in fp32 here); a wrong gradient is off by O(1).
inline void ExpectGradientsNear(const std::vector<torch::Tensor>& got,
                                const std::vector<torch::Tensor>& want, double relative) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t j = 0; j < want.size(); ++j) {
    const double error = (got[j] - want[j]).norm().item<double>();
    EXPECT_LT(error, relative * want[j].norm().item<double>() + 1e-6) << "parameter " << j;
  }
}

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_TINY_CLIP_FOR_TESTS_H_
