#include "bench/clip_flops.h"

namespace perennial::bench {
namespace {

// Multiply-adds of one tower over `sequences` sequences of `tokens` positions, split into the
// parts whose backward costs differ.
struct TowerMacs {
  double linear = 0;     // q/k/v/out/fc/proj of every block: backward = 1x (input gradient)
  double attention = 0;  // Q K^T and P V: backward = 2x
  double lora = 0;       // x A^T and h B^T: backward = 2x (input and weight gradients)
};

TowerMacs BlockStackMacs(int64_t sequences, int64_t tokens, int64_t width, int64_t layers,
                         int64_t lora_rank) {
  const double rows = static_cast<double>(sequences) * tokens;
  TowerMacs m;
  // qkv 3w^2, out w^2, fc 4w^2, proj 4w^2 per row.
  m.linear = layers * rows * 12.0 * width * width;
  m.attention = layers * 2.0 * sequences * tokens * tokens * width;
  // Per map, r (in + out): qkv r(w + 3w), out r(2w), fc r(w + 4w), proj r(4w + w).
  m.lora = layers * rows * lora_rank * 16.0 * width;
  return m;
}

// The two towers of `work`.
struct ClipMacs {
  TowerMacs image, text;
};

ClipMacs MacsOf(const ClipConfig& c, const ClipWork& work) {
  const int64_t patches = static_cast<int64_t>(c.vision_grid()) * c.vision_grid();
  return {BlockStackMacs(work.images, patches + 1, c.vision_width, c.vision_layers,
                         work.lora_rank),
          BlockStackMacs(work.texts, work.text_tokens, c.text_width, c.text_layers,
                         work.lora_rank)};
}

}  // namespace

double ForwardFlops(const ClipConfig& c, const ClipWork& work) {
  const ClipMacs m = MacsOf(c, work);
  const int64_t patches = static_cast<int64_t>(c.vision_grid()) * c.vision_grid();
  const double patch_embed = static_cast<double>(work.images) * patches * 3.0 *
                             c.vision_patch_size * c.vision_patch_size * c.vision_width;
  const double projections = static_cast<double>(work.images) * c.vision_width * c.embed_dim +
                             static_cast<double>(work.texts) * c.text_width * c.embed_dim;
  const double macs = m.image.linear + m.image.attention + m.image.lora + m.text.linear +
                      m.text.attention + m.text.lora + patch_embed + projections;
  return 2.0 * macs;
}

double SitStepFlops(const ClipConfig& c, const ClipWork& work) {
  const ClipMacs m = MacsOf(c, work);
  double backward_macs = 0;
  for (const TowerMacs& t : {m.image, m.text}) {
    backward_macs += t.linear + 2 * t.attention + 2 * t.lora;
  }
  return ForwardFlops(c, work) + 2.0 * backward_macs;
}

}  // namespace perennial::bench
