// File: learner/data/world_probes.h
//
// Zero-shot probe tasks of the synthetic world: K-way classifications ("which colour", "which
// shape", "where", "how many", "how large") whose images show ONLY held-out combinations
// (world_attributes.h), i.e. scenes pretraining never produced. A model is scored by embedding
// every label through the task's templates (mean of normalised text embeddings per label, as in
// CLIP) and picking the label closest to the image embedding.
//
// The templates reuse phrasings that MakeCaptions() puts into pretraining captions
// ("something red.", "a photo of a circle.", "something in the top left.", "two in total."), so
// prompts match the grammar the model was taught.
//
// Thread-safe: all functions are pure.
#ifndef PERENNIAL_LEARNER_DATA_WORLD_PROBES_H_
#define PERENNIAL_LEARNER_DATA_WORLD_PROBES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "learner/data/world_attributes.h"
#include "learner/data/world_options.h"
#include "learner/model/image.h"

namespace perennial {

enum class ProbeKind : uint8_t { kColour, kShape, kPosition, kCount, kSize };

struct ProbeTask {
  ProbeKind kind = ProbeKind::kColour;
  std::string name;                      // "colour", "shape", "position", "count", "size"
  std::vector<std::string> label_texts;  // label i is the attribute value i (e.g. "red")
  std::vector<std::string> templates;    // each holds one "{}" for the label text
};

// The five tasks, in ProbeKind order: colour (K = 10), shape (8), position (9), count (4:
// "one".."four"), size (3).
std::vector<ProbeTask> ProbeTasks();

// `templ` with its first "{}" replaced by `label` (unchanged when it has none).
std::string FillTemplate(const std::string& templ, const std::string& label);

struct LabeledProbeSample {
  Image image;    // options.resolution square, RGB uint8 HWC
  int label = 0;  // index into the task's label_texts
  Attributes attributes;
};

// Which attribute combinations probe images show.
enum class ProbeCombinations : uint8_t {
  kHeldOut,  // never seen in pretraining: measures zero-shot composition (the default)
  kSeen,     // the complement: combinations pretraining showed (separates "not learned" from
             // "learned but bound to the combinations seen")
};

// Probe sample `index` of `task` in probe world `seed`. Labels cycle through 0..K-1 with the index
// (label = index % K), so any K consecutive indices are balanced. The scene always has a held-out
// (shape, colour) pair; in the count task every group (count >= 2) also has a held-out
// (shape, count) pair (with kSeen: never a held-out pair). Colour, shape, position and size tasks
// show one object. Uses options.resolution, background_level, colour_jitter and
// max_rotation_degrees; ignores the split and the scene/caption/batch mix.
LabeledProbeSample GenerateProbeSample(
    const ProbeTask& task, uint64_t seed, uint64_t index,
    const WorldOptions& options = WorldOptions(),
    ProbeCombinations combinations = ProbeCombinations::kHeldOut);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_DATA_WORLD_PROBES_H_
