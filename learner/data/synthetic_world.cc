#include "learner/data/synthetic_world.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "learner/data/world_random.h"

namespace perennial {
namespace {

// Independent random streams of one sample, so that e.g. a caption-weight change does not move
// any pixel.
constexpr uint64_t kAttributeStream = 1;
constexpr uint64_t kRenderStream = 2;
constexpr uint64_t kCaptionStream = 3;
constexpr uint64_t kBatchStream = 4;
// Position-batch draws have their own stream so that worlds without them keep their batches.
constexpr uint64_t kPositionBatchStream = 5;

// What a hard-negative batch imposes on each of its samples.
struct Constraint {
  HardNegativeMode mode = HardNegativeMode::kNone;
  int fixed_shape = -1;
  int fixed_colour = -1;
  int fixed_size = -1;
};

bool ShapeColourInSplit(int shape, int colour, WorldSplit split) {
  return IsHeldOutShapeColour(shape, colour) == (split == WorldSplit::kHeldOut);
}

// A (shape, colour) pair drawn uniformly from those allowed: in `split` when `use_split`, with the
// fixed shape/colour when >= 0, and with a shape other than `exclude_shape`.
std::pair<int, int> PickShapeColour(WorldSplit split, bool use_split, int fixed_shape,
                                    int fixed_colour, int exclude_shape, WorldRng* rng) {
  int candidates[kNumShapes * kNumColours];
  int n = 0;
  for (int s = 0; s < kNumShapes; ++s) {
    if (s == exclude_shape || (fixed_shape >= 0 && s != fixed_shape)) continue;
    for (int c = 0; c < kNumColours; ++c) {
      if (fixed_colour >= 0 && c != fixed_colour) continue;
      if (use_split && !ShapeColourInSplit(s, c, split)) continue;
      candidates[n++] = s * kNumColours + c;
    }
  }
  if (n == 0) {  // unreachable with the built-in tables; keeps the split honest if they change
    return PickShapeColour(split, use_split, -1, -1, exclude_shape, rng);
  }
  const int pick = candidates[rng->Below(static_cast<uint32_t>(n))];
  return {pick / kNumColours, pick % kNumColours};
}

// A group size in 2..max_count allowed for `shape` in the split; 1 when there is none.
int PickGroupCount(int shape, int max_count, WorldSplit split, WorldRng* rng) {
  int counts[kMaxCount];
  int n = 0;
  for (int c = 2; c <= max_count; ++c) {
    if (split == WorldSplit::kTrain && IsHeldOutShapeCount(shape, c)) continue;
    counts[n++] = c;
  }
  return n == 0 ? 1 : counts[rng->Below(static_cast<uint32_t>(n))];
}

Attributes SampleAttributes(const WorldOptions& o, const Constraint& constraint, WorldRng* rng) {
  Attributes a;
  a.background = static_cast<BackgroundKind>(rng->Below(2 + 2 * o.background_level));
  const float u = rng->Unit();
  const bool allow_pairs = constraint.mode == HardNegativeMode::kNone;
  const bool pair = allow_pairs && u < o.pair_probability;
  const bool group = !pair && constraint.mode != HardNegativeMode::kPositionVaries &&
                     u >= o.pair_probability && u < o.pair_probability + o.group_probability &&
                     o.max_count >= 2;
  std::tie(a.shape, a.colour) = PickShapeColour(o.split, /*use_split=*/true, constraint.fixed_shape,
                                                constraint.fixed_colour, -1, rng);
  a.size = static_cast<int>(rng->Below(kNumSizes));
  if (constraint.fixed_size >= 0) a.size = constraint.fixed_size;
  if (pair) {
    a.has_second = true;
    // The held-out split only promises a held-out primary; the partner may be anything.
    std::tie(a.second_shape, a.second_colour) =
        PickShapeColour(o.split, o.split == WorldSplit::kTrain, -1, -1, a.shape, rng);
    a.second_size = static_cast<int>(rng->Below(kNumSizes));
    a.relation = static_cast<Relation>(1 + rng->Below(4));
    return a;
  }
  if (group) a.count = PickGroupCount(a.shape, o.max_count, o.split, rng);
  if (a.count == 1) a.position = static_cast<int>(rng->Below(kNumPositions));
  return a;
}

float FocusWeight(CaptionFocus focus, const WorldOptions& o, HardNegativeMode mode) {
  switch (focus) {
    case CaptionFocus::kShapeAndColour: return o.shape_and_colour_caption_weight;
    case CaptionFocus::kShapeOnly:
      if (mode == HardNegativeMode::kShapeFixed) return 0.0f;
      if (o.shape_only_captions_need_fixed_colour && mode != HardNegativeMode::kColourFixed) {
        return 0.0f;
      }
      return o.shape_only_caption_weight;
    case CaptionFocus::kColourOnly:
      return mode == HardNegativeMode::kColourFixed ? 0.0f : o.colour_only_caption_weight;
    case CaptionFocus::kOther:
      return mode == HardNegativeMode::kNone ? o.other_caption_weight : 0.0f;
  }
  return 0.0f;
}

// Picks a caption group by its weight (among groups present), then a caption uniformly in it.
// Uniformly among the captions that name the position; 0 when none does.
int ChoosePositionCaption(const std::vector<Caption>& captions, WorldRng* rng) {
  std::vector<int> naming;
  for (size_t i = 0; i < captions.size(); ++i) {
    if (captions[i].mentions & kMentionsPosition) naming.push_back(static_cast<int>(i));
  }
  if (naming.empty()) return 0;
  return naming[rng->Below(static_cast<uint32_t>(naming.size()))];
}

int ChooseCaption(const std::vector<Caption>& captions, const WorldOptions& o,
                  HardNegativeMode mode, WorldRng* rng) {
  if (mode == HardNegativeMode::kPositionVaries) return ChoosePositionCaption(captions, rng);
  int in_focus[kNumCaptionFocuses] = {0, 0, 0, 0};
  for (const Caption& caption : captions) ++in_focus[static_cast<int>(FocusOf(caption.mentions))];
  float weights[kNumCaptionFocuses];
  float total = 0;
  for (int f = 0; f < kNumCaptionFocuses; ++f) {
    weights[f] = in_focus[f] > 0 ? FocusWeight(static_cast<CaptionFocus>(f), o, mode) : 0.0f;
    total += weights[f];
  }
  if (!(total > 0)) return 0;
  float r = rng->Unit() * total;
  int focus = kNumCaptionFocuses - 1;
  for (int f = 0; f < kNumCaptionFocuses; ++f) {
    if (weights[f] > 0 && r < weights[f]) {
      focus = f;
      break;
    }
    r -= weights[f];
  }
  while (weights[focus] <= 0) --focus;  // float round-off fell past the last non-zero group
  int k = static_cast<int>(rng->Below(static_cast<uint32_t>(in_focus[focus])));
  for (size_t i = 0; i < captions.size(); ++i) {
    if (static_cast<int>(FocusOf(captions[i].mentions)) == focus && k-- == 0) {
      return static_cast<int>(i);
    }
  }
  return 0;
}

WorldSample GenerateConstrained(uint64_t seed, uint64_t index, const WorldOptions& o,
                                const Constraint& constraint) {
  WorldRng attribute_rng(seed, index, kAttributeStream);
  WorldSample sample;
  sample.attributes = SampleAttributes(o, constraint, &attribute_rng);
  RenderedScene scene = RenderScene(sample.attributes, o, Hash3(seed, index, kRenderStream));
  sample.image = std::move(scene.image);
  sample.objects = std::move(scene.objects);
  sample.captions = MakeCaptions(sample.attributes);
  WorldRng caption_rng(seed, index, kCaptionStream);
  sample.caption_index = ChooseCaption(sample.captions, o, constraint.mode, &caption_rng);
  return sample;
}

}  // namespace

WorldSample Generate(uint64_t seed, uint64_t index, const WorldOptions& options) {
  return GenerateConstrained(seed, index, ClampWorldOptions(options), Constraint());
}

HardNegativeMode BatchMode(uint64_t seed, uint64_t batch_index, const WorldOptions& options) {
  const WorldOptions o = ClampWorldOptions(options);
  WorldRng rng(seed, batch_index, kBatchStream);
  if (rng.Bernoulli(o.hard_negative_fraction)) {
    return rng.Bernoulli(o.colour_fixed_share) ? HardNegativeMode::kColourFixed
                                               : HardNegativeMode::kShapeFixed;
  }
  if (o.position_batch_fraction > 0) {
    WorldRng position_rng(seed, batch_index, kPositionBatchStream);
    if (position_rng.Bernoulli(o.position_batch_fraction / (1 - o.hard_negative_fraction))) {
      return HardNegativeMode::kPositionVaries;
    }
  }
  return HardNegativeMode::kNone;
}

std::vector<WorldSample> GenerateBatch(uint64_t seed, uint64_t batch_index, int batch_size,
                                       const WorldOptions& options) {
  std::vector<WorldSample> batch;
  if (batch_size <= 0) return batch;
  const WorldOptions o = ClampWorldOptions(options);
  Constraint constraint;
  constraint.mode = BatchMode(seed, batch_index, o);
  // The fixed value comes from the same per-batch stream, after the two mode draws.
  WorldRng rng(seed, batch_index, kBatchStream);
  rng.NextU64();
  rng.NextU64();
  if (constraint.mode == HardNegativeMode::kColourFixed) {
    constraint.fixed_colour = static_cast<int>(rng.Below(kNumColours));
  } else if (constraint.mode == HardNegativeMode::kShapeFixed) {
    constraint.fixed_shape = static_cast<int>(rng.Below(kNumShapes));
  } else if (constraint.mode == HardNegativeMode::kPositionVaries) {
    WorldRng position_rng(seed, batch_index, kPositionBatchStream);
    position_rng.NextU64();  // the draw that made this a position batch
    std::tie(constraint.fixed_shape, constraint.fixed_colour) =
        PickShapeColour(o.split, /*use_split=*/true, -1, -1, -1, &position_rng);
    constraint.fixed_size = static_cast<int>(position_rng.Below(kNumSizes));
  }
  batch.reserve(static_cast<size_t>(batch_size));
  const uint64_t first = batch_index * static_cast<uint64_t>(batch_size);
  for (int i = 0; i < batch_size; ++i) {
    batch.push_back(GenerateConstrained(seed, first + i, o, constraint));
  }
  return batch;
}

}  // namespace perennial
