// File: learner/model/tiny_clip_for_tests.h
//
// A CLIP small enough for unit tests (16 px images, two layers of width 32 per tower, CLIP's real
// BPE vocabulary), with seeded random weights. Tests only: the model lives until the process ends.
#ifndef PERENNIAL_LEARNER_MODEL_TINY_CLIP_FOR_TESTS_H_
#define PERENNIAL_LEARNER_MODEL_TINY_CLIP_FOR_TESTS_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>

#include "learner/model/clip_init.h"
#include "learner/model/clip_model.h"
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

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_TINY_CLIP_FOR_TESTS_H_
