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

// Multiply-adds of one block, per row, of the maps that run for every row (q/k/v: 3w^2) and of
// those that run only for the rows the next block or the caller reads (out w^2, fc and proj
// 4w^2 each); LoRA's thin products r (in + out) likewise: qkv r(w + 3w), the others 12 r w.
struct BlockRowMacs {
  double every_row = 0, read_rows = 0;
};

BlockRowMacs LinearMacsPerRow(int64_t width) { return {3.0 * width * width, 9.0 * width * width}; }

BlockRowMacs LoraMacsPerRow(int64_t width, int64_t lora_rank) {
  return {4.0 * lora_rank * width, 12.0 * lora_rank * width};
}

// The last block computes its query, out-projection and MLP only for the one row per sequence
// that the tower reads (the class or EOT token: transformer.h), the blocks before it for all.
TowerMacs BlockStackMacs(int64_t sequences, int64_t tokens, int64_t width, int64_t layers,
                         int64_t lora_rank) {
  if (layers == 0) return {};
  const double rows = static_cast<double>(sequences) * tokens;
  const double read = static_cast<double>(sequences);
  const BlockRowMacs linear = LinearMacsPerRow(width), lora = LoraMacsPerRow(width, lora_rank);
  TowerMacs m;
  m.linear = (layers - 1) * rows * (linear.every_row + linear.read_rows) + rows * linear.every_row +
             read * linear.read_rows;
  m.lora = (layers - 1) * rows * (lora.every_row + lora.read_rows) + rows * lora.every_row +
           read * lora.read_rows;
  // Q K^T and P V: tokens x tokens x width per sequence, one query row in the last block.
  m.attention = 2.0 * sequences * tokens * width * ((layers - 1) * tokens + 1);
  return m;
}

// The two towers of `work`.
struct ClipMacs {
  TowerMacs image, text;
};

ClipMacs MacsOf(const ClipConfig& c, const ClipWork& work) {
  const int64_t patches = static_cast<int64_t>(c.vision_grid()) * c.vision_grid();
  return {
      BlockStackMacs(work.images, patches + 1, c.vision_width, c.vision_layers, work.lora_rank),
      BlockStackMacs(work.texts, work.text_tokens, c.text_width, c.text_layers, work.lora_rank)};
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
