#include "bench/clip_flops.h"

#include <gtest/gtest.h>

#include "learner/model/clip_init.h"

namespace perennial::bench {
namespace {

ClipConfig Named(const std::string& name) {
  StatusOr<ClipConfig> config = NamedClipConfig(name);
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  return *config;
}

// timm's model table lists vit_base_patch16_224 at 17.6 GMACs and vit_base_patch32_224 at 4.4:
// the image towers of CLIP ViT-B/16 and ViT-B/32 are those networks (plus a 768x512 projection).
// The published counts (17.6 and 4.4 G multiply-adds) are for every row of every block; the
// last block's out-projection (w^2) and MLP (8 w^2) run for the class token only, and its
// attention for one query: (tokens - 1) (9 w^2 + 2 tokens w) fewer.
TEST(ClipFlopsTest, ImageForwardIsThePublishedCountLessTheLastBlocksUnreadRows) {
  const auto skipped = [](double tokens, double w) {
    return (tokens - 1) * (9 * w * w + 2 * tokens * w) / 1e9;
  };
  EXPECT_NEAR(ForwardFlops(Named("ViT-B/16"), {1, 0, 0, 0}) / 2e9, 17.6 - skipped(197, 768), 0.1);
  EXPECT_NEAR(ForwardFlops(Named("ViT-B/32"), {1, 0, 0, 0}) / 2e9, 4.4 - skipped(50, 768), 0.05);
}

TEST(ClipFlopsTest, ForwardScalesWithImagesAndTexts) {
  const ClipConfig c = Named("ViT-B/16");
  EXPECT_DOUBLE_EQ(ForwardFlops(c, {8, 0, 0, 0}), 8 * ForwardFlops(c, {1, 0, 0, 0}));
  const double one_text = ForwardFlops(c, {0, 1, 77, 0});
  EXPECT_DOUBLE_EQ(ForwardFlops(c, {0, 5, 77, 0}), 5 * one_text);
  // Text tower, 77 positions, width 512, 12 layers: 2.9 GMACs per text plus 0.07 of attention,
  // less the last block's 76 unread rows (0.18 + 0.006).
  EXPECT_NEAR(one_text / 2e9, 2.98 - 0.185, 0.03);
  EXPECT_LT(ForwardFlops(c, {0, 1, 10, 0}), one_text / 7);  // truncation to the EOT counts
}

// Frozen weights need only the input gradient, so a SIT step is ~2x the forward, not 3x.
TEST(ClipFlopsTest, SitStepIsAboutTwiceTheForwardWithoutWeightGradients) {
  const ClipConfig c = Named("ViT-B/16");
  const double ratio = SitStepFlops(c, {64, 5, 12, 0}) / ForwardFlops(c, {64, 5, 12, 0});
  EXPECT_GT(ratio, 1.98);
  EXPECT_LT(ratio, 2.06);
}

// LoRA's thin products cost 3x their forward (forward, input gradient, weight gradient):
// r (in + out) per map, 16 r w per block for qkv, out, fc and proj.
TEST(ClipFlopsTest, LoraAddsThreeTimesItsThinProducts) {
  const ClipConfig c = Named("ViT-B/32");
  const ClipWork base{16, 0, 0, 0};
  ClipWork adapted = base;
  adapted.lora_rank = 8;
  const double rows = 16.0 * 50;  // 7x7 patches + class token
  // The last block runs qkv's (4 r w) for every row and the other maps' (12 r w) for 16.
  const double lora_forward =
      2.0 * 8 * c.vision_width * ((c.vision_layers - 1) * rows * 16 + rows * 4 + 16 * 12);
  EXPECT_NEAR(ForwardFlops(c, adapted) - ForwardFlops(c, base), lora_forward, 1.0);
  EXPECT_NEAR(SitStepFlops(c, adapted) - SitStepFlops(c, base), 3 * lora_forward, 1.0);
}

}  // namespace
}  // namespace perennial::bench
