#include "learner/model/transformer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "learner/model/tiny_clip_for_tests.h"

namespace perennial {
namespace {

// Two pre-LN blocks of TinyClipConfig()'s vision width with random weights.
TransformerWeights RandomTransformer(Activation activation, bool packed) {
  const ClipConfig c = TinyClipConfig();
  const int64_t w = c.vision_width;
  torch::manual_seed(3);
  auto linear = [](int64_t out, int64_t in) {
    return LinearWeights{torch::randn({out, in}) / std::sqrt(in), torch::randn({out}) * 0.1, {}};
  };
  auto norm = [w] {
    return LayerNormWeights{1 + 0.1 * torch::randn({w}), 0.1 * torch::randn({w})};
  };
  TransformerWeights t;
  t.heads = c.vision_heads;
  t.activation = activation;
  for (int i = 0; i < c.vision_layers; ++i) {
    t.blocks.push_back(
        {norm(), linear(3 * w, w), linear(w, w), norm(), linear(4 * w, w), linear(w, 4 * w)});
  }
  if (packed) PackTransformerForOneDnn(t);
  return t;
}

struct Case {
  bool causal;
  Activation activation;
  bool packed;
};

class ReadRowsTest : public ::testing::TestWithParam<Case> {};

// Computing only the read rows in the last block gives those rows of the full output, and the
// same gradients to the input and to every adapter.
TEST_P(ReadRowsTest, MatchesTheFullOutputsRowsAndGradients) {
  const Case param = GetParam();
  const TransformerWeights weights = RandomTransformer(param.activation, param.packed);
  const Adapters adapters = PerturbedAdapters(TinyClipConfig(), 5);
  const PetRuntime rt{&adapters.options(), /*training=*/false};
  const torch::Tensor x0 = torch::randn({3, 7, TinyClipConfig().vision_width});
  const torch::Tensor rows = torch::tensor({6, 0, 3}, torch::kLong);
  const torch::Tensor probe = torch::randn({3, TinyClipConfig().vision_width});

  torch::Tensor outputs[2], x_grads[2];
  std::vector<torch::Tensor> adapter_grads[2];
  for (int read_only = 0; read_only < 2; ++read_only) {
    for (const torch::Tensor& p : adapters.Parameters()) p.mutable_grad().reset();
    const torch::Tensor x = x0.clone().requires_grad_(true);
    torch::Tensor out;
    if (read_only == 1) {
      out = TransformerForward(weights, x, param.causal, &adapters.image_blocks(), rt, rows);
    } else {
      out = TransformerForward(weights, x, param.causal, &adapters.image_blocks(), rt)
                .index({torch::arange(3), rows});
    }
    ASSERT_EQ(out.sizes(), probe.sizes());
    (out * probe).sum().backward();
    outputs[read_only] = out.detach();
    x_grads[read_only] = x.grad();
    adapter_grads[read_only] = DefinedGradients(adapters);  // the image tower's
  }
  EXPECT_TRUE(torch::allclose(outputs[1], outputs[0], 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(x_grads[1], x_grads[0], 1e-4, 1e-5));
  // Under the causal mask the positions after a read row get no gradient at all.
  if (param.causal) {
    EXPECT_EQ(x_grads[1][1].narrow(0, 1, 6).abs().max().item<float>(), 0);
  }
  // Both LoRA matrices of the 4 maps of every block.
  ASSERT_EQ(adapter_grads[0].size(), 8u * weights.blocks.size());
  ExpectGradientsNear(adapter_grads[1], adapter_grads[0], 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Towers, ReadRowsTest,
                         ::testing::Values(Case{false, Activation::kQuickGelu, false},
                                           Case{true, Activation::kGelu, false},
                                           Case{false, Activation::kGelu, true},
                                           Case{true, Activation::kQuickGelu, true}),
                         [](const auto& info) {
                           return std::string(info.param.causal ? "Causal" : "Bidirectional") +
                                  (info.param.activation == Activation::kGelu ? "Gelu"
                                                                              : "QuickGelu") +
                                  (info.param.packed ? "OneDnn" : "Blas");
                         });

// Sequences that share their first positions give the same read rows, and the same gradients
// to the shared positions (summed over the sequences), to each suffix and to the adapters,
// whether the shared positions run once or once per sequence.
TEST(SharedPrefixTest, MatchesTheFullSequencesRowsAndGradients) {
  for (const bool packed : {false, true}) {
    const TransformerWeights weights = RandomTransformer(Activation::kQuickGelu, packed);
    const Adapters adapters = PerturbedAdapters(TinyClipConfig(), 5);
    const PetRuntime rt{&adapters.options(), /*training=*/false};
    const int64_t w = TinyClipConfig().vision_width;
    const torch::Tensor prefix0 = torch::randn({3, w}), suffix0 = torch::randn({4, 5, w});
    const torch::Tensor rows = torch::tensor({4, 0, 2, 3}, torch::kLong);
    const torch::Tensor probe = torch::randn({4, w});

    torch::Tensor outputs[2], prefix_grads[2], suffix_grads[2];
    std::vector<torch::Tensor> adapter_grads[2];
    for (int shared = 0; shared < 2; ++shared) {
      for (const torch::Tensor& p : adapters.Parameters()) p.mutable_grad().reset();
      const torch::Tensor prefix = prefix0.clone().requires_grad_(true);
      const torch::Tensor suffix = suffix0.clone().requires_grad_(true);
      const torch::Tensor out =
          shared == 1
              ? SharedPrefixTransformerForward(weights, prefix, suffix, &adapters.image_blocks(),
                                               rt, rows)
              : TransformerForward(weights, torch::cat({prefix.expand({4, 3, w}), suffix}, 1),
                                   /*causal=*/true, &adapters.image_blocks(), rt, rows + 3);
      ASSERT_EQ(out.sizes(), probe.sizes());
      (out * probe).sum().backward();
      outputs[shared] = out.detach();
      prefix_grads[shared] = prefix.grad();
      suffix_grads[shared] = suffix.grad();
      adapter_grads[shared] = DefinedGradients(adapters);
    }
    EXPECT_TRUE(torch::allclose(outputs[1], outputs[0], 1e-5, 1e-5)) << "packed " << packed;
    EXPECT_TRUE(torch::allclose(prefix_grads[1], prefix_grads[0], 1e-4, 1e-5));
    EXPECT_TRUE(torch::allclose(suffix_grads[1], suffix_grads[0], 1e-4, 1e-5));
    ASSERT_EQ(adapter_grads[1].size(), 8u * weights.blocks.size());
    ExpectGradientsNear(adapter_grads[1], adapter_grads[0], 1e-4);
  }
}

}  // namespace
}  // namespace perennial
