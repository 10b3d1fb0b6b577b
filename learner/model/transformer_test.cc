#include "learner/model/transformer.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
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

// What one forward and backward leave: the rows read, the input's gradient and the adapters'.
struct Pass {
  torch::Tensor out, x_grad;
  std::vector<torch::Tensor> adapter_grads;
};

// A forward and backward over x0 [N, L, W] with `adapters` on the blocks, reading x[n, rows[n]]
// of the output: by the transformer itself when `read_only`, else from its full output.
Pass ReadRows(const TransformerWeights& weights, const Adapters& adapters, const torch::Tensor& x0,
              const torch::Tensor& rows, bool causal, bool read_only) {
  for (const torch::Tensor& p : adapters.Parameters()) p.mutable_grad().reset();
  const PetRuntime rt{&adapters.options(), /*training=*/false};
  const torch::Tensor x = x0.clone().requires_grad_(true);
  const torch::Tensor out =
      read_only ? TransformerForward(weights, x, causal, &adapters.image_blocks(), rt, rows)
                : TransformerForward(weights, x, causal, &adapters.image_blocks(), rt)
                      .index({torch::arange(x0.size(0)), rows});
  EXPECT_EQ(out.sizes().vec(), (std::vector<int64_t>{x0.size(0), x0.size(2)}));
  torch::manual_seed(17);
  (out * torch::randn(out.sizes())).sum().backward();
  return {out.detach(), x.grad(), DefinedGradients(adapters)};  // the image tower's
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
  const torch::Tensor x0 = torch::randn({3, 7, TinyClipConfig().vision_width});
  const torch::Tensor rows = torch::tensor({6, 0, 3}, torch::kLong);
  const Pass full = ReadRows(weights, adapters, x0, rows, param.causal, /*read_only=*/false);
  const Pass read = ReadRows(weights, adapters, x0, rows, param.causal, /*read_only=*/true);
  EXPECT_TRUE(torch::allclose(read.out, full.out, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(read.x_grad, full.x_grad, 1e-4, 1e-5));
  // Under the causal mask the positions after a read row get no gradient at all.
  if (param.causal) {
    EXPECT_EQ(read.x_grad[1].narrow(0, 1, 6).abs().max().item<float>(), 0);
  }
  // Both LoRA matrices of the 4 maps of every block.
  ASSERT_EQ(full.adapter_grads.size(), 8u * weights.blocks.size());
  ExpectGradientsNear(read.adapter_grads, full.adapter_grads, 1e-4);
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

// The fused paths that change how ops are composed, not what they compute, change no output
// and no gradient: over whole sequences and over read rows, with BLAS and with oneDNN weights.
// (On the CPU the LoRA node's SiLU runs ATen's silu and silu_backward.)
TEST(FusedPathsTest, GiveTheSameOutputsAndGradients) {
  const std::pair<const char*, bool FusedKernels::*> switches[] = {
      {"qkv_grads_apart", &FusedKernels::qkv_grads_apart}, {"silu_lora", &FusedKernels::silu_lora}};
  for (const auto& [name, fused_path] : switches) {
    for (const bool packed : {false, true}) {
      for (const bool read_only : {false, true}) {
        SCOPED_TRACE(std::string(name) + (packed ? ", oneDNN" : ", BLAS") +
                     (read_only ? ", read rows" : ""));
        TransformerWeights weights = RandomTransformer(Activation::kQuickGelu, packed);
        const Adapters adapters = PerturbedAdapters(TinyClipConfig(), 5);
        const torch::Tensor x0 = torch::randn({3, 7, TinyClipConfig().vision_width});
        const torch::Tensor rows = torch::tensor({6, 0, 3}, torch::kLong);
        const Pass plain = ReadRows(weights, adapters, x0, rows, read_only, read_only);
        weights.fused.*fused_path = true;
        const Pass fused = ReadRows(weights, adapters, x0, rows, read_only, read_only);
        EXPECT_TRUE(torch::allclose(fused.out, plain.out, 1e-5, 1e-5));
        EXPECT_TRUE(torch::allclose(fused.x_grad, plain.x_grad, 1e-4, 1e-5));
        ASSERT_EQ(fused.adapter_grads.size(), 8u * weights.blocks.size());
        ExpectGradientsNear(fused.adapter_grads, plain.adapter_grads, 1e-4);
      }
    }
  }
}

// Sequences that share their first positions give the same read rows, and the same gradients
// to the shared positions (summed over the sequences), to each suffix and to the adapters,
// whether the shared positions run once or once per sequence. The read rows differ, so the
// shared-prefix path leaves each suffix's positions after its read row out (SuffixRows).
TEST(SharedPrefixTest, MatchesTheFullSequencesRowsAndGradients) {
  const std::vector<int64_t> ragged = {4, 0, 2, 3}, full = {4, 4, 4, 4};
  for (const bool packed : {false, true}) {
    for (const std::vector<int64_t>* read : {&ragged, &full}) {
      SCOPED_TRACE(std::string(packed ? "oneDNN, fused add + LayerNorm" : "BLAS, q/k/v apart") +
                   (read == &full ? ", every position read" : ", ragged"));
      TransformerWeights weights = RandomTransformer(Activation::kQuickGelu, packed);
      weights.fused.qkv_grads_apart = !packed;
      weights.fused.add_layer_norm = packed;
      const Adapters adapters = PerturbedAdapters(TinyClipConfig(), 5);
      const PetRuntime rt{&adapters.options(), /*training=*/false};
      const int64_t w = TinyClipConfig().vision_width;
      const torch::Tensor prefix0 = torch::randn({3, w}), suffix0 = torch::randn({4, 5, w});
      const torch::Tensor rows = torch::tensor(*read, torch::kLong);
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
      EXPECT_TRUE(torch::allclose(outputs[1], outputs[0], 1e-5, 1e-5));
      EXPECT_TRUE(torch::allclose(prefix_grads[1], prefix_grads[0], 1e-4, 1e-5));
      EXPECT_TRUE(torch::allclose(suffix_grads[1], suffix_grads[0], 1e-4, 1e-5));
      ASSERT_EQ(adapter_grads[1].size(), 8u * weights.blocks.size());
      ExpectGradientsNear(adapter_grads[1], adapter_grads[0], 1e-4);
    }
  }
}

TEST(SharedPrefixTest, RejectsReadRowsOutsideTheSuffix) {
  const TransformerWeights weights = RandomTransformer(Activation::kQuickGelu, false);
  const int64_t w = TinyClipConfig().vision_width;
  const torch::Tensor prefix = torch::randn({3, w}), suffix = torch::randn({2, 5, w});
  for (const std::vector<int64_t>& rows :
       {std::vector<int64_t>{5, 0}, std::vector<int64_t>{-1, 0}, std::vector<int64_t>{1}}) {
    EXPECT_THROW(SharedPrefixTransformerForward(weights, prefix, suffix, nullptr, PetRuntime(),
                                                torch::tensor(rows, torch::kLong)),
                 c10::Error);
  }
}

}  // namespace
}  // namespace perennial
