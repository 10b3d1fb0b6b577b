// File: bench/clip_flops.h
//
// FLOP counts of the CLIP work the benchmarks time, for throughput in TFLOP/s and model FLOP
// utilisation (MFU). Conventions, so that a reader can check the figure:
//   - a multiply-add is 2 FLOPs; only matrix products are counted (patch embedding, q/k/v/out
//     projections, MLP, attention scores and weighted values, LoRA's thin products, the final
//     projections); LayerNorm, softmax, activations and the loss are not;
//   - the frozen weights get no gradient, so the backward pass of a frozen linear map is one
//     product (the gradient to its input), not two: a SIT step is about 2x the forward, not the
//     3x of full training. Counting 3x would inflate the MFU by half;
//   - attention's backward is counted as 2x its forward (no recomputation);
//   - the patch embedding needs no backward (pixels need no gradient);
//   - the last block of each tower runs its query, out-projection and MLP for the one row per
//     sequence the tower reads (transformer.h), so it is counted that way: a ViT-B/16 image
//     forward is 16.5 G multiply-adds here, not the 17.6 G published for every row.
#ifndef PERENNIAL_BENCH_CLIP_FLOPS_H_
#define PERENNIAL_BENCH_CLIP_FLOPS_H_

#include <cstdint>

#include "learner/model/clip_config.h"

namespace perennial::bench {

struct ClipWork {
  int64_t images = 0;
  int64_t texts = 0;
  // Positions the text tower runs (the longest EOT + 1: the model truncates there).
  int64_t text_tokens = 0;
  // LoRA rank on the four linear maps of every block of both towers; 0 = no adapters.
  int64_t lora_rank = 0;
};

// FLOPs of one forward pass (image and text towers) over `work`.
double ForwardFlops(const ClipConfig& config, const ClipWork& work);

// FLOPs of one SIT step over `work`: forward, backward to the adapters, adapter weight gradients.
double SitStepFlops(const ClipConfig& config, const ClipWork& work);

}  // namespace perennial::bench

#endif  // PERENNIAL_BENCH_CLIP_FLOPS_H_
