// File: learner/data/synthetic_world.h
//
// The synthetic image-caption world that `perennial pretrain` learns from: coloured shapes of
// several kinds, sizes, positions and counts on plain or textured backgrounds, each image with
// many true captions. Some (shape, colour) and (shape, count) combinations are held out of the
// training split (world_attributes.h) and only appear in the zero-shot probes (world_probes.h).
//
// Everything is a pure function of (seed, index, options): data loaders can generate samples on
// the fly, in parallel, in any order, and resume at any index; the same call returns the same
// bytes on every platform (no std:: distributions, no transcendental functions).
//
// Example:
//   WorldOptions options;              // 64 x 64, training split, all backgrounds
//   for (uint64_t step = 0; ; ++step) {
//     std::vector<WorldSample> batch = GenerateBatch(seed, step, 128, options);
//     // image: batch[i].image, text: batch[i].caption()
//   }
//
// Thread-safe: all functions are pure.
#ifndef PERENNIAL_LEARNER_DATA_SYNTHETIC_WORLD_H_
#define PERENNIAL_LEARNER_DATA_SYNTHETIC_WORLD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "learner/data/world_attributes.h"
#include "learner/data/world_captions.h"
#include "learner/data/world_options.h"
#include "learner/data/world_render.h"
#include "learner/model/image.h"

namespace perennial {

struct WorldSample {
  Image image;  // options.resolution square, RGB uint8 HWC
  Attributes attributes;
  std::vector<PlacedObject> objects;  // geometry and exact colour of each drawn object
  std::vector<Caption> captions;      // every phrasing true of the image; [0] the most complete
  int caption_index = 0;              // the phrasing chosen for training (see WorldOptions)

  // The training caption, captions[caption_index].text.
  const std::string& caption() const { return captions[static_cast<size_t>(caption_index)].text; }
};

// Sample `index` of the world `seed`. Options are clamped into range (ClampWorldOptions); call
// ValidateWorldOptions first to report bad values to a user.
WorldSample Generate(uint64_t seed, uint64_t index, const WorldOptions& options = WorldOptions());

// What a GenerateBatch() batch holds fixed.
enum class HardNegativeMode : uint8_t {
  kNone,            // ordinary batch: sample i is Generate(seed, batch_index * batch_size + i)
  kColourFixed,     // every sample has the same colour; shapes vary; captions name the shape
  kShapeFixed,      // every sample has the same shape; colours vary; captions name the colour
  kPositionVaries,  // single objects of one shape, colour and size; captions name the position
};

// The mode of batch `batch_index`: hard-negative with probability options.hard_negative_fraction,
// colour-fixed with probability colour_fixed_share among those; otherwise a position batch with
// probability position_batch_fraction overall. Batches of a world without position batches keep
// the modes (and bytes) they had before position batches existed.
HardNegativeMode BatchMode(uint64_t seed, uint64_t batch_index, const WorldOptions& options);

// The `batch_size` samples of batch `batch_index` (sample indices batch_index * batch_size + i).
// In a hard-negative batch the fixed colour or shape is drawn per batch, scenes are single objects
// or groups (no pairs, whose second object would reintroduce the other attribute), and each
// training caption mentions the varying attribute; a position batch draws its (shape, colour,
// size) per batch. The split is respected in every mode.
// batch_size <= 0 gives an empty batch.
std::vector<WorldSample> GenerateBatch(uint64_t seed, uint64_t batch_index, int batch_size,
                                       const WorldOptions& options = WorldOptions());

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_DATA_SYNTHETIC_WORLD_H_
