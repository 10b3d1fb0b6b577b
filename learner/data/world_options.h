// File: learner/data/world_options.h
//
// The knobs of the synthetic image-caption world (see synthetic_world.h): image size, which
// attribute combinations may appear, the background curriculum, the scene mix, the caption mix
// and hard-negative batching.
#ifndef PERENNIAL_LEARNER_DATA_WORLD_OPTIONS_H_
#define PERENNIAL_LEARNER_DATA_WORLD_OPTIONS_H_

#include <cstdint>

#include "learner/base/status.h"

namespace perennial {

enum class WorldSplit : uint8_t {
  // Never shows a held-out (shape, colour) or (shape, count) combination (world_attributes.h).
  kTrain,
  // Primary object always has a held-out (shape, colour) pair: for retrieval-style evaluation.
  kHeldOut,
};

struct WorldOptions {
  // Side of the square RGB images in pixels; all geometry scales with it. Valid: 16..1024.
  // Default: 64.
  int resolution = 64;

  // Which combinations may appear. Default: kTrain.
  WorldSplit split = WorldSplit::kTrain;

  // Background curriculum: 0 plain light or dark only; 1 adds gradients and per-pixel noise;
  // 2 adds stripes and checkerboards. Backgrounds are always near-neutral (light or dark), so an
  // object's colour name stays unambiguous. Valid: 0..2. Default: 2.
  int background_level = 2;

  // Largest number of same-kind objects in a group scene. Valid: 1..4 (1 disables groups).
  // Default: 4.
  int max_count = 4;

  // Probability that a scene is a group of 2..max_count objects of one shape, colour and size.
  // Valid: 0..1. Default: 0.3.
  float group_probability = 0.3f;

  // Probability that a scene is two objects of different shapes in a spatial relation ("a red
  // circle left of a blue square"). group_probability + pair_probability <= 1. Default: 0.15.
  float pair_probability = 0.15f;

  // Each object's colour is its named colour shifted by a brightness offset uniform in
  // [-colour_jitter, colour_jitter] (all channels) plus a per-channel offset of up to a third of
  // that, so hues stay true to their names. Valid: 0..40. Default: 12.
  int colour_jitter = 12;

  // Shapes are rotated by up to this many degrees either way (0 keeps them upright). Valid: 0..45.
  // Default: 10.
  float max_rotation_degrees = 10.0f;

  // Relative weights of the caption groups (world_captions.h CaptionFocus) when choosing
  // WorldSample::caption_index. Shape-only captions are weighted up because shape is learned late
  // (prototype finding). Non-negative, not all zero. Defaults: 0.4, 0.3, 0.1, 0.2.
  float shape_and_colour_caption_weight = 0.4f;
  float shape_only_caption_weight = 0.3f;
  float colour_only_caption_weight = 0.1f;
  float other_caption_weight = 0.2f;

  // Fraction of GenerateBatch() batches that are hard-negative batches, which hold one attribute
  // fixed so that only the other one tells captions apart. Valid: 0..1. Default: 0.25.
  float hard_negative_fraction = 0.25f;

  // Among hard-negative batches, the share that fixes the colour (only shapes vary); the rest fix
  // the shape (only colours vary). Valid: 0..1. Default: 0.75.
  float colour_fixed_share = 0.75f;

  // Whether shape-only captions ("a circle.", "three stars.") are chosen only in colour-fixed
  // hard-negative batches. In mixed batches the held-out (shape, colour) pairs give a shape-only
  // caption a colour prior: no red circle is ever its positive while red squares are its
  // negatives, so "a circle." learns "not red", and a zero-shot shape probe on a red circle
  // inherits that. Inside a colour-fixed batch every image has the same colour, so the gradient
  // on a shape-only caption carries shape alone. Default: false (shape-only captions everywhere).
  bool shape_only_captions_need_fixed_colour = false;

  // Fraction of GenerateBatch() batches that are position batches: one object per image, the
  // same shape, colour and size throughout the batch, only the position varies, and every
  // training caption names the position. In mixed batches position is a weak, second-order
  // signal (an additive pool over patches cancels it), so neither tower starts to use it: the
  // shipped model's nine position captions embed identically. Drawn among the batches that are
  // not hard-negative ones. Valid: 0..1 - hard_negative_fraction. Default: 0 (off).
  float position_batch_fraction = 0.0f;
};

// OK, or InvalidArgument naming the first field out of its valid range.
Status ValidateWorldOptions(const WorldOptions& options);

// A copy with every field clamped into its valid range (NaN becomes the default); what the
// generators actually use, so that no option value can crash them.
WorldOptions ClampWorldOptions(const WorldOptions& options);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_DATA_WORLD_OPTIONS_H_
