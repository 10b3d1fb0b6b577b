#include "learner/data/world_options.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace perennial {
namespace {

bool InRange(float v, float lo, float hi) { return v >= lo && v <= hi; }  // false for NaN

Status OutOfRange(const std::string& field, const std::string& range) {
  return InvalidArgumentError("WorldOptions." + field + " must be in " + range);
}

float ClampOr(float v, float lo, float hi, float fallback) {
  return std::isnan(v) ? fallback : std::min(std::max(v, lo), hi);
}

}  // namespace

Status ValidateWorldOptions(const WorldOptions& o) {
  if (o.resolution < 16 || o.resolution > 1024) return OutOfRange("resolution", "[16, 1024]");
  if (o.split != WorldSplit::kTrain && o.split != WorldSplit::kHeldOut) {
    return OutOfRange("split", "{kTrain, kHeldOut}");
  }
  if (o.background_level < 0 || o.background_level > 2) {
    return OutOfRange("background_level", "[0, 2]");
  }
  if (o.max_count < 1 || o.max_count > 4) return OutOfRange("max_count", "[1, 4]");
  if (!InRange(o.group_probability, 0, 1)) return OutOfRange("group_probability", "[0, 1]");
  if (!InRange(o.pair_probability, 0, 1)) return OutOfRange("pair_probability", "[0, 1]");
  if (!(o.group_probability + o.pair_probability <= 1.0f)) {
    return InvalidArgumentError(
        "WorldOptions.group_probability + pair_probability must be at most 1");
  }
  if (o.colour_jitter < 0 || o.colour_jitter > 40) return OutOfRange("colour_jitter", "[0, 40]");
  if (!InRange(o.max_rotation_degrees, 0, 45)) {
    return OutOfRange("max_rotation_degrees", "[0, 45]");
  }
  const float weights[] = {o.shape_and_colour_caption_weight, o.shape_only_caption_weight,
                           o.colour_only_caption_weight, o.other_caption_weight};
  float sum = 0;
  for (float w : weights) {
    if (!InRange(w, 0, 1e6f)) {
      return InvalidArgumentError("WorldOptions caption weights must be non-negative and finite");
    }
    sum += w;
  }
  if (!(sum > 0)) return InvalidArgumentError("WorldOptions caption weights must not all be 0");
  if (!InRange(o.hard_negative_fraction, 0, 1)) {
    return OutOfRange("hard_negative_fraction", "[0, 1]");
  }
  if (!InRange(o.colour_fixed_share, 0, 1)) return OutOfRange("colour_fixed_share", "[0, 1]");
  if (!InRange(o.position_batch_fraction, 0, 1 - o.hard_negative_fraction)) {
    return OutOfRange("position_batch_fraction", "[0, 1 - hard_negative_fraction]");
  }
  return OkStatus();
}

WorldOptions ClampWorldOptions(const WorldOptions& o) {
  const WorldOptions d;
  WorldOptions c = o;
  c.resolution = std::clamp(o.resolution, 16, 1024);
  if (o.split != WorldSplit::kTrain && o.split != WorldSplit::kHeldOut) c.split = d.split;
  c.background_level = std::clamp(o.background_level, 0, 2);
  c.max_count = std::clamp(o.max_count, 1, 4);
  c.group_probability = ClampOr(o.group_probability, 0, 1, d.group_probability);
  c.pair_probability = ClampOr(o.pair_probability, 0, 1 - c.group_probability,
                               std::min(d.pair_probability, 1 - c.group_probability));
  c.colour_jitter = std::clamp(o.colour_jitter, 0, 40);
  c.max_rotation_degrees = ClampOr(o.max_rotation_degrees, 0, 45, d.max_rotation_degrees);
  c.shape_and_colour_caption_weight =
      ClampOr(o.shape_and_colour_caption_weight, 0, 1e6f, d.shape_and_colour_caption_weight);
  c.shape_only_caption_weight =
      ClampOr(o.shape_only_caption_weight, 0, 1e6f, d.shape_only_caption_weight);
  c.colour_only_caption_weight =
      ClampOr(o.colour_only_caption_weight, 0, 1e6f, d.colour_only_caption_weight);
  c.other_caption_weight = ClampOr(o.other_caption_weight, 0, 1e6f, d.other_caption_weight);
  if (!(c.shape_and_colour_caption_weight + c.shape_only_caption_weight +
            c.colour_only_caption_weight + c.other_caption_weight >
        0)) {
    c.shape_and_colour_caption_weight = d.shape_and_colour_caption_weight;
    c.shape_only_caption_weight = d.shape_only_caption_weight;
    c.colour_only_caption_weight = d.colour_only_caption_weight;
    c.other_caption_weight = d.other_caption_weight;
  }
  c.hard_negative_fraction = ClampOr(o.hard_negative_fraction, 0, 1, d.hard_negative_fraction);
  c.colour_fixed_share = ClampOr(o.colour_fixed_share, 0, 1, d.colour_fixed_share);
  c.position_batch_fraction =
      ClampOr(o.position_batch_fraction, 0, 1 - c.hard_negative_fraction, 0.0f);
  return c;
}

}  // namespace perennial
