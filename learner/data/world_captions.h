// File: learner/data/world_captions.h
//
// English captions of a synthetic-world scene. Every caption is true of the scene; together they
// cover full descriptions ("a small red circle in the top left."), shape-only ("a photo of a
// circle."), colour-only ("something red."), and position-, size- and count-only phrasings. The
// probe templates in world_probes.h reuse these exact phrasings, so zero-shot prompts match the
// grammar pretraining taught.
//
// Thread-safe (pure functions).
#ifndef PERENNIAL_LEARNER_DATA_WORLD_CAPTIONS_H_
#define PERENNIAL_LEARNER_DATA_WORLD_CAPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "learner/data/world_attributes.h"

namespace perennial {

// Bits of Caption::mentions: which attributes a caption states.
enum CaptionMention : uint32_t {
  kMentionsShape = 1u << 0,
  kMentionsColour = 1u << 1,
  kMentionsSize = 1u << 2,
  kMentionsPosition = 1u << 3,
  kMentionsCount = 1u << 4,
  kMentionsRelation = 1u << 5,
};

struct Caption {
  std::string text;
  uint32_t mentions = 0;  // CaptionMention bits
};

// The caption groups whose mix WorldOptions weighs (by shape/colour mentions).
enum class CaptionFocus : uint8_t { kShapeAndColour, kShapeOnly, kColourOnly, kOther };
inline constexpr int kNumCaptionFocuses = 4;

CaptionFocus FocusOf(uint32_t mentions);

// All phrasings of `attributes`, deterministic and in a fixed order; captions[0] is the most
// complete one. Never empty. Out-of-range attribute indices are clamped into range.
std::vector<Caption> MakeCaptions(const Attributes& attributes);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_DATA_WORLD_CAPTIONS_H_
