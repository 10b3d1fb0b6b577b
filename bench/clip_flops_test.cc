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
TEST(ClipFlopsTest, ImageForwardMatchesPublishedMultiplyAdds) {
  EXPECT_NEAR(ForwardFlops(Named("ViT-B/16"), {1, 0, 0, 0}) / 2e9, 17.6, 0.1);
  EXPECT_NEAR(ForwardFlops(Named("ViT-B/32"), {1, 0, 0, 0}) / 2e9, 4.4, 0.05);
}

TEST(ClipFlopsTest, ForwardScalesWithImagesAndTexts) {
  const ClipConfig c = Named("ViT-B/16");
  EXPECT_DOUBLE_EQ(ForwardFlops(c, {8, 0, 0, 0}), 8 * ForwardFlops(c, {1, 0, 0, 0}));
  const double one_text = ForwardFlops(c, {0, 1, 77, 0});
  EXPECT_DOUBLE_EQ(ForwardFlops(c, {0, 5, 77, 0}), 5 * one_text);
  // Text tower, 77 positions, width 512, 12 layers: 2.9 GMACs per text plus 0.07 of attention.
  EXPECT_NEAR(one_text / 2e9, 2.98, 0.03);
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
  const double lora_forward = 2.0 * c.vision_layers * rows * 8 * 16 * c.vision_width;
  EXPECT_NEAR(ForwardFlops(c, adapted) - ForwardFlops(c, base), lora_forward, 1.0);
  EXPECT_NEAR(SitStepFlops(c, adapted) - SitStepFlops(c, base), 3 * lora_forward, 1.0);
}

}  // namespace
}  // namespace perennial::bench
