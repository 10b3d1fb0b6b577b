#include "learner/data/world_probes.h"

#include <tuple>
#include <utility>

#include "learner/data/world_random.h"
#include "learner/data/world_render.h"

namespace perennial {
namespace {

// Keeps probe worlds apart from training worlds built with the same seed.
constexpr uint64_t kProbeSalt = 0x7072'6F62'6521'0001ULL;
constexpr uint64_t kProbeAttributeStream = 16;
constexpr uint64_t kProbeRenderStream = 32;

int NumLabels(ProbeKind kind) {
  switch (kind) {
    case ProbeKind::kColour: return kNumColours;
    case ProbeKind::kShape: return kNumShapes;
    case ProbeKind::kPosition: return kNumPositions;
    case ProbeKind::kCount: return kMaxCount;
    case ProbeKind::kSize: return kNumSizes;
  }
  return 1;
}

// A uniformly chosen (shape, colour) pair that is held out (or, with held_out false, seen) with
// the given shape/colour when >= 0.
std::pair<int, int> PickPair(int shape, int colour, bool held_out, WorldRng* rng) {
  std::pair<int, int> candidates[kNumShapes * kNumColours];
  int n = 0;
  for (int s = 0; s < kNumShapes; ++s) {
    for (int c = 0; c < kNumColours; ++c) {
      if (IsHeldOutShapeColour(s, c) != held_out) continue;
      if ((shape < 0 || s == shape) && (colour < 0 || c == colour)) candidates[n++] = {s, c};
    }
  }
  if (n == 0) return {0, 1};  // unreachable: every value has held-out and seen partners
  return candidates[rng->Below(static_cast<uint32_t>(n))];
}

// A shape whose (shape, count) pair is held out (or seen).
int PickShapeForCount(int count, bool held_out, WorldRng* rng) {
  int shapes[kNumShapes];
  int n = 0;
  for (int s = 0; s < kNumShapes; ++s) {
    if (IsHeldOutShapeCount(s, count) == held_out) shapes[n++] = s;
  }
  if (n == 0) return 0;  // unreachable for counts 2..4
  return shapes[rng->Below(static_cast<uint32_t>(n))];
}

Attributes ProbeAttributes(ProbeKind kind, int label, int background_level, bool held_out,
                           WorldRng* rng) {
  auto pick_pair = [held_out](int shape, int colour, WorldRng* r) {
    return PickPair(shape, colour, held_out, r);
  };
  Attributes a;
  a.background = static_cast<BackgroundKind>(rng->Below(2 + 2 * background_level));
  a.size = static_cast<int>(rng->Below(kNumSizes));
  a.position = static_cast<int>(rng->Below(kNumPositions));
  switch (kind) {
    case ProbeKind::kColour: std::tie(a.shape, a.colour) = pick_pair(-1, label, rng); break;
    case ProbeKind::kShape: std::tie(a.shape, a.colour) = pick_pair(label, -1, rng); break;
    case ProbeKind::kPosition:
      std::tie(a.shape, a.colour) = pick_pair(-1, -1, rng);
      a.position = label;
      break;
    case ProbeKind::kSize:
      std::tie(a.shape, a.colour) = pick_pair(-1, -1, rng);
      a.size = label;
      break;
    case ProbeKind::kCount:
      a.count = label + 1;
      if (a.count == 1) {
        std::tie(a.shape, a.colour) = pick_pair(-1, -1, rng);
      } else {
        const int shape = PickShapeForCount(a.count, held_out, rng);
        std::tie(a.shape, a.colour) = pick_pair(shape, -1, rng);
        a.position = -1;
      }
      break;
  }
  return a;
}

}  // namespace

std::vector<ProbeTask> ProbeTasks() {
  return {
      {ProbeKind::kColour,
       "colour",
       ColourNames(),
       {"something {}.", "the shape is {}.", "a photo of something {}."}},
      {ProbeKind::kShape, "shape", ShapeNames(), {"a photo of a {}.", "a {}."}},
      {ProbeKind::kPosition,
       "position",
       PositionNames(),
       {"something in the {}.", "a shape in the {}."}},
      {ProbeKind::kCount, "count", CountNames(), {"{} in total.", "the number of objects is {}."}},
      {ProbeKind::kSize, "size", SizeNames(), {"something {}.", "the shape is {}."}},
  };
}

std::string FillTemplate(const std::string& templ, const std::string& label) {
  const size_t at = templ.find("{}");
  if (at == std::string::npos) return templ;
  return templ.substr(0, at) + label + templ.substr(at + 2);
}

LabeledProbeSample GenerateProbeSample(const ProbeTask& task, uint64_t seed, uint64_t index,
                                       const WorldOptions& options,
                                       ProbeCombinations combinations) {
  const WorldOptions o = ClampWorldOptions(options);
  const int num_labels = NumLabels(task.kind);
  const uint64_t probe_seed = seed ^ kProbeSalt;
  const auto kind_id = static_cast<uint64_t>(task.kind);
  LabeledProbeSample sample;
  sample.label = static_cast<int>(index % static_cast<uint64_t>(num_labels));
  WorldRng rng(probe_seed, index, kProbeAttributeStream + kind_id);
  sample.attributes = ProbeAttributes(task.kind, sample.label, o.background_level,
                                      combinations == ProbeCombinations::kHeldOut, &rng);
  sample.image = std::move(
      RenderScene(sample.attributes, o, Hash3(probe_seed, index, kProbeRenderStream + kind_id))
          .image);
  return sample;
}

}  // namespace perennial
