#include "learner/model/lora_linear.h"

#include <gtest/gtest.h>

#include <vector>

namespace perennial {
namespace {

struct Case {
  torch::Tensor x, weight, bias, a, b, grad;
};

Case MakeCase(int64_t n, int64_t in, int64_t out, int64_t r, uint64_t seed) {
  torch::manual_seed(seed);
  Case c;
  c.x = torch::randn({n, in});
  c.weight = torch::randn({out, in}) / std::sqrt(static_cast<double>(in));
  c.bias = torch::randn({out});
  c.a = (torch::randn({r, in}) / std::sqrt(static_cast<double>(in))).requires_grad_(true);
  c.b = torch::randn({out, r}).requires_grad_(true);
  c.grad = torch::randn({n, out});
  return c;
}

struct Result {
  torch::Tensor y, dx, da, db;
};

// The same map written as separate LibTorch ops (SiLU of it with `silu`): autograd's own
// gradients are the reference.
Result Reference(const Case& c, double base_scale, double lora_scale, bool silu = false) {
  torch::Tensor x = c.x.clone().requires_grad_(true);
  torch::Tensor a = c.a.detach().clone().requires_grad_(true);
  torch::Tensor b = c.b.detach().clone().requires_grad_(true);
  torch::Tensor y = base_scale * torch::linear(x, c.weight) + c.bias * base_scale +
                    lora_scale * torch::linear(torch::linear(x, a), b);
  if (silu) y = torch::silu(y);
  y.backward(c.grad);
  return {y.detach(), x.grad(), a.grad(), b.grad()};
}

// LoraLinear over c on `device`, its output in `chunks` column blocks (LoraLinearChunks) whose
// gradients are c.grad's blocks; `contiguous_grads` false hands them over as strided views.
// Results on the CPU, y joined.
Result Fused(const Case& c, const LoraLinearBase& base, double lora_scale, torch::Dtype dtype,
             int64_t chunks = 1, torch::Device device = torch::kCPU, bool contiguous_grads = true) {
  // A copy even in fp32: requires_grad_ must not reach the case's x, which Reference() reuses.
  torch::Tensor x =
      c.x.to(device, dtype, /*non_blocking=*/false, /*copy=*/true).requires_grad_(true);
  torch::Tensor a = c.a.detach().to(device, /*non_blocking=*/false, /*copy=*/true);
  torch::Tensor b = c.b.detach().to(device, /*non_blocking=*/false, /*copy=*/true);
  a.requires_grad_(true);
  b.requires_grad_(true);
  const std::vector<torch::Tensor> y =
      LoraLinearChunks(x, base, LoraPair{a, b}, lora_scale, chunks);
  std::vector<torch::Tensor> grads = c.grad.to(device, dtype).chunk(chunks, 1);
  if (contiguous_grads) {
    for (torch::Tensor& g : grads) g = g.contiguous();
  }
  torch::autograd::backward(y, grads);
  return {torch::cat(y, 1).detach().cpu(), x.grad().cpu(), a.grad().cpu(), b.grad().cpu()};
}

void ExpectClose(const torch::Tensor& actual, const torch::Tensor& expected, double tolerance,
                 const char* what) {
  ASSERT_TRUE(actual.defined()) << what;
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const double scale = expected.abs().max().item<double>();
  const double error = (actual.to(torch::kFloat32) - expected).abs().max().item<double>();
  EXPECT_LE(error, tolerance * scale) << what << ": max error " << error << " of " << scale;
}

void ExpectMatches(const Result& fused, const Result& ref, double tolerance) {
  ExpectClose(fused.y, ref.y, tolerance, "y");
  ExpectClose(fused.dx, ref.dx, tolerance, "dx");
  ExpectClose(fused.da, ref.da, tolerance, "dA");
  ExpectClose(fused.db, ref.db, tolerance, "dB");
}

TEST(LoraLinearTest, MatchesSeparateOpsInFp32) {
  const Case c = MakeCase(/*n=*/37, /*in=*/24, /*out=*/40, /*r=*/4, /*seed=*/1);
  const LoraLinearBase base{c.weight, c.bias, PackedLinear(), 1};
  ExpectMatches(Fused(c, base, 2.0, torch::kFloat32), Reference(c, 1, 2.0), 1e-5);
}

TEST(LoraLinearTest, FoldsTheBaseScaleIntoTheProducts) {
  const Case c = MakeCase(29, 16, 48, 8, 2);
  const double s = 1.702;
  const LoraLinearBase base{c.weight, c.bias * s, PackedLinear(), s};
  ExpectMatches(Fused(c, base, 2.0 * s, torch::kFloat32), Reference(c, s, 2.0 * s), 1e-5);
}

TEST(LoraLinearTest, PackedOneDnnWeightsGiveTheSameResult) {
  if (!OneDnnAvailable()) GTEST_SKIP() << "this LibTorch has no oneDNN";
  const Case c = MakeCase(65, 32, 96, 8, 3);
  const LoraLinearBase base{c.weight, c.bias, PackLinear(c.weight, c.bias, /*for_backward=*/true),
                            1};
  ASSERT_TRUE(base.packed.defined());
  ExpectMatches(Fused(c, base, 2.0, torch::kFloat32), Reference(c, 1, 2.0), 1e-5);
}

// Packed weights that carry a folded scale (QuickGELU's, transformer.h) are used with it.
TEST(LoraLinearTest, PackedWeightsCarryTheFoldedScale) {
  if (!OneDnnAvailable()) GTEST_SKIP() << "this LibTorch has no oneDNN";
  const Case c = MakeCase(50, 32, 64, 8, 9);
  const double s = 1.702;
  PackedLinear packed = PackLinear(c.weight * s, c.bias * s, /*for_backward=*/true);
  packed.scale = s;
  const LoraLinearBase base{c.weight, c.bias * s, packed, s};
  ExpectMatches(Fused(c, base, 2.0 * s, torch::kFloat32), Reference(c, s, 2.0 * s), 1e-5);
}

// Weights packed for the forward only: x's gradient then goes through the merged weight.
TEST(LoraLinearTest, ForwardOnlyPackedWeightsMergeTheDeltaForTheBackward) {
  if (!OneDnnAvailable()) GTEST_SKIP() << "this LibTorch has no oneDNN";
  const Case c = MakeCase(40, 32, 24, 4, 8);
  const LoraLinearBase base{c.weight, c.bias, PackLinear(c.weight, c.bias, /*for_backward=*/false),
                            1};
  ASSERT_TRUE(base.packed.defined());
  ASSERT_FALSE(base.packed.weight_t.defined());
  ExpectMatches(Fused(c, base, 2.0, torch::kFloat32), Reference(c, 1, 2.0), 1e-5);
}

// bf16 activations with fp32 adapter masters: the gradients come back fp32, close to the fp32
// reference within bf16's precision.
TEST(LoraLinearTest, LowPrecisionActivationsKeepFp32AdapterGradients) {
  const Case c = MakeCase(33, 32, 64, 8, 4);
  const LoraLinearBase base{c.weight.to(torch::kBFloat16), c.bias.to(torch::kBFloat16),
                            PackedLinear(), 1};
  const Result fused = Fused(c, base, 2.0, torch::kBFloat16);
  EXPECT_EQ(fused.da.scalar_type(), torch::kFloat32);
  EXPECT_EQ(fused.db.scalar_type(), torch::kFloat32);
  EXPECT_EQ(fused.dx.scalar_type(), torch::kBFloat16);
  ExpectMatches(fused, Reference(c, 1, 2.0), 3e-2);
}

// The same with the bf16 weights packed for oneDNN (the CPU bf16 path of a loaded model).
TEST(LoraLinearTest, PackedBf16WeightsKeepFp32AdapterGradients) {
  if (!OneDnnAvailable(torch::kBFloat16)) GTEST_SKIP() << "no bf16 products in this build";
  const Case c = MakeCase(33, 32, 64, 8, 4);
  const torch::Tensor weight = c.weight.to(torch::kBFloat16), bias = c.bias.to(torch::kBFloat16);
  const LoraLinearBase base{weight, bias, PackLinear(weight, bias, /*for_backward=*/true), 1};
  ASSERT_TRUE(base.packed.defined());
  const Result fused = Fused(c, base, 2.0, torch::kBFloat16);
  EXPECT_EQ(fused.y.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(fused.dx.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(fused.da.scalar_type(), torch::kFloat32);
  ExpectMatches(fused, Reference(c, 1, 2.0), 3e-2);
}

// From max(out, in) rows on, the packed path merges the delta and packs W' and W'^T for the
// step: the same results, with a folded scale, in fp32 and in bf16, and without x's gradient.
TEST(LoraLinearTest, LargeBatchesMergeTheDeltaIntoFreshlyPackedWeights) {
  if (!OneDnnAvailable()) GTEST_SKIP() << "this LibTorch has no oneDNN";
  const Case c = MakeCase(/*n=*/200, /*in=*/32, /*out=*/96, /*r=*/8, /*seed=*/11);
  const double s = 1.702;
  PackedLinear packed = PackLinear(c.weight * s, c.bias * s, /*for_backward=*/true);
  packed.scale = s;
  const LoraLinearBase base{c.weight, c.bias * s, packed, s};
  ExpectMatches(Fused(c, base, 2.0 * s, torch::kFloat32), Reference(c, s, 2.0 * s), 1e-5);

  torch::Tensor a = c.a.detach().clone().requires_grad_(true);
  torch::Tensor b = c.b.detach().clone().requires_grad_(true);
  LoraLinear(c.x, base, LoraPair{a, b}, 2.0 * s).backward(c.grad);
  const Result ref = Reference(c, s, 2.0 * s);
  ExpectClose(a.grad(), ref.da, 1e-5, "dA without x's gradient");
  ExpectClose(b.grad(), ref.db, 1e-5, "dB without x's gradient");

  if (!OneDnnAvailable(torch::kBFloat16)) return;
  const torch::Tensor weight = c.weight.to(torch::kBFloat16), bias = c.bias.to(torch::kBFloat16);
  const LoraLinearBase bf16{weight, bias, PackLinear(weight, bias, /*for_backward=*/true), 1};
  ExpectMatches(Fused(c, bf16, 2.0, torch::kBFloat16), Reference(c, 1, 2.0), 3e-2);
}

// The output in column blocks with their gradients apart gives what one output gives: through
// the merged weight tensor (the backward's products per block) and through packed oneDNN
// weights (which join the blocks' gradients first), with the gradients contiguous or strided.
TEST(LoraLinearTest, ChunksGiveTheSameResultsAsOneOutput) {
  const Case c = MakeCase(/*n=*/37, /*in=*/24, /*out=*/48, /*r=*/4, /*seed=*/12);
  const double s = 1.702;
  const LoraLinearBase base{c.weight, c.bias * s, PackedLinear(), s};
  ExpectMatches(Fused(c, base, 2.0 * s, torch::kFloat32, 3), Reference(c, s, 2.0 * s), 1e-5);
  ExpectMatches(Fused(c, base, 2.0 * s, torch::kFloat32, 3, torch::kCPU, false),
                Reference(c, s, 2.0 * s), 1e-5);
  const LoraLinearBase bf16{c.weight.to(torch::kBFloat16), c.bias.to(torch::kBFloat16),
                            PackedLinear(), 1};
  const Result low = Fused(c, bf16, 2.0, torch::kBFloat16, 4);
  EXPECT_EQ(low.db.scalar_type(), torch::kFloat32);
  ExpectMatches(low, Reference(c, 1, 2.0), 3e-2);
  if (!OneDnnAvailable()) return;
  const LoraLinearBase packed{c.weight, c.bias, PackLinear(c.weight, c.bias, true), 1};
  ExpectMatches(Fused(c, packed, 2.0, torch::kFloat32, 3), Reference(c, 1, 2.0), 1e-5);
  const Case large = MakeCase(/*n=*/200, /*in=*/32, /*out=*/96, /*r=*/8, /*seed=*/13);
  const LoraLinearBase repacked{large.weight, large.bias,
                                PackLinear(large.weight, large.bias, true), 1};
  ExpectMatches(Fused(large, repacked, 2.0, torch::kFloat32, 2), Reference(large, 1, 2.0), 1e-5);
}

// On CUDA in bf16 (the ViT-B/16 step's setting), with and without the one-pass kernel for the
// thin products (fused_lora_grad.h), which then runs once per block.
TEST(LoraLinearTest, ChunksOnCudaGiveTheSameResultsAsOneOutput) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const Case c = MakeCase(/*n=*/300, /*in=*/64, /*out=*/192, /*r=*/8, /*seed=*/14);
  const Result ref = Reference(c, 1, 2.0);
  for (const bool fused_kernels : {false, true}) {
    SCOPED_TRACE(fused_kernels ? "fused thin products" : "ATen thin products");
    const LoraLinearBase base{c.weight.to(torch::kCUDA, torch::kBFloat16),
                              c.bias.to(torch::kCUDA, torch::kBFloat16), PackedLinear(), 1,
                              fused_kernels};
    ExpectMatches(Fused(c, base, 2.0, torch::kBFloat16, 1, torch::kCUDA), ref, 3e-2);
    ExpectMatches(Fused(c, base, 2.0, torch::kBFloat16, 3, torch::kCUDA), ref, 3e-2);
  }
}

LoraLinearBase WithSiluOutput(LoraLinearBase base) {
  base.silu_output = true;
  return base;
}

// SiLU on the output (the MLP's first map) gives SiLU of the map and its gradients: through
// the merged weight tensor, in bf16, and through the packed oneDNN paths (which run SiLU's
// backward before their own).
TEST(LoraLinearTest, SiluOutputGivesSiluOfTheMap) {
  const Case c = MakeCase(/*n=*/37, /*in=*/24, /*out=*/48, /*r=*/4, /*seed=*/17);
  const double s = 1.702;
  const LoraLinearBase base = WithSiluOutput({c.weight, c.bias * s, PackedLinear(), s});
  ExpectMatches(Fused(c, base, 2.0 * s, torch::kFloat32), Reference(c, s, 2.0 * s, true), 1e-5);
  const LoraLinearBase bf16 = WithSiluOutput(
      {c.weight.to(torch::kBFloat16), c.bias.to(torch::kBFloat16), PackedLinear(), 1});
  ExpectMatches(Fused(c, bf16, 2.0, torch::kBFloat16), Reference(c, 1, 2.0, true), 3e-2);
  EXPECT_THROW(LoraLinearChunks(c.x, base, LoraPair{c.a, c.b}, 1.0, 2), c10::Error);
  {
    const torch::Tensor want = Reference(c, s, 2.0 * s, true).y;
    torch::NoGradGuard no_grad;
    const torch::Tensor plain = LoraLinear(c.x, base, LoraPair{c.a, c.b}, 2.0 * s);
    EXPECT_TRUE(torch::allclose(plain, want, 1e-5, 1e-5));
  }
  if (!OneDnnAvailable()) return;
  const LoraLinearBase packed =
      WithSiluOutput({c.weight, c.bias, PackLinear(c.weight, c.bias, true), 1});
  ExpectMatches(Fused(c, packed, 2.0, torch::kFloat32), Reference(c, 1, 2.0, true), 1e-5);
  const Case large = MakeCase(/*n=*/200, /*in=*/32, /*out=*/96, /*r=*/8, /*seed=*/18);
  const LoraLinearBase repacked =
      WithSiluOutput({large.weight, large.bias, PackLinear(large.weight, large.bias, true), 1});
  ExpectMatches(Fused(large, repacked, 2.0, torch::kFloat32), Reference(large, 1, 2.0, true), 1e-5);
}

// On CUDA in bf16, with and without the one pass for SiLU's backward and the thin products.
TEST(LoraLinearTest, SiluOutputOnCudaGivesSiluOfTheMap) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const Case c = MakeCase(/*n=*/300, /*in=*/64, /*out=*/256, /*r=*/8, /*seed=*/19);
  const Result ref = Reference(c, 1, 2.0, true);
  for (const bool fused_kernels : {false, true}) {
    SCOPED_TRACE(fused_kernels ? "fused SiLU backward and thin products" : "ATen ops");
    const LoraLinearBase base = WithSiluOutput({c.weight.to(torch::kCUDA, torch::kBFloat16),
                                                c.bias.to(torch::kCUDA, torch::kBFloat16),
                                                PackedLinear(), 1, fused_kernels});
    ExpectMatches(Fused(c, base, 2.0, torch::kBFloat16, 1, torch::kCUDA), ref, 3e-2);
  }
}

// With SiLU on the output and the next map's A (LoraLinearBase::next_a), the node also returns
// t_next = SiLU(y) next_a^T, not differentiable, and its own results do not change: on the CPU
// (one product) and on CUDA with and without the fused pass (FusedSiluThinProduct).
TEST(LoraLinearTest, SiluOutputHandsTheNextMapItsThinProduct) {
  const Case c = MakeCase(/*n=*/300, /*in=*/64, /*out=*/256, /*r=*/8, /*seed=*/21);
  const Result ref = Reference(c, 1, 2.0, true);
  const torch::Tensor next_a = torch::randn({8, 256}) / 16;
  struct Setting {
    torch::Device device;
    torch::ScalarType dtype;
    bool fused_kernels;
    double tolerance;
  };
  std::vector<Setting> settings = {{torch::kCPU, torch::kFloat32, false, 1e-5}};
  if (torch::cuda::is_available()) {
    settings.push_back({torch::kCUDA, torch::kBFloat16, false, 3e-2});
    settings.push_back({torch::kCUDA, torch::kBFloat16, true, 3e-2});
  }
  for (const Setting& s : settings) {
    SCOPED_TRACE(s.device.str() + (s.fused_kernels ? ", fused" : ""));
    LoraLinearBase base =
        WithSiluOutput({c.weight.to(s.device, s.dtype), c.bias.to(s.device, s.dtype),
                        PackedLinear(), 1, s.fused_kernels});
    base.next_a = next_a.to(s.device, s.dtype);
    torch::Tensor x =
        c.x.to(s.device, s.dtype, /*non_blocking=*/false, /*copy=*/true).requires_grad_(true);
    torch::Tensor a = c.a.detach().to(s.device, /*non_blocking=*/false, /*copy=*/true);
    torch::Tensor b = c.b.detach().to(s.device, /*non_blocking=*/false, /*copy=*/true);
    a.requires_grad_(true);
    b.requires_grad_(true);
    const std::vector<torch::Tensor> out = LoraLinearChunks(x, base, LoraPair{a, b}, 2.0, 1);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_FALSE(out[1].requires_grad());
    ExpectClose(out[1].cpu(), torch::mm(ref.y, next_a.t()), s.tolerance, "t_next");
    out[0].backward(c.grad.to(s.device, s.dtype));
    ExpectMatches({out[0].detach().cpu(), x.grad().cpu(), a.grad().cpu(), b.grad().cpu()}, ref,
                  s.tolerance);
    torch::NoGradGuard no_grad;
    EXPECT_EQ(LoraLinearChunks(x, base, LoraPair{a, b}, 2.0, 1).size(), 1u)
        << "t_next only where a backward is recorded";
  }
}

// Given x A^T (a previous node's t_next, LoraLinearBase::t), the node uses it instead of
// computing it: the same results with the right one, and B's gradient (which it serves) off
// with a wrong one.
TEST(LoraLinearTest, TakesTheThinProductFromTheCaller) {
  const Case c = MakeCase(/*n=*/41, /*in=*/24, /*out=*/40, /*r=*/4, /*seed=*/22);
  const Result ref = Reference(c, 1, 2.0);
  LoraLinearBase base{c.weight, c.bias, PackedLinear(), 1};
  base.t = torch::mm(c.x, c.a.detach().t());
  ExpectMatches(Fused(c, base, 2.0, torch::kFloat32), ref, 1e-5);
  base.t = torch::zeros_like(base.t);
  const Result wrong = Fused(c, base, 2.0, torch::kFloat32);
  ExpectClose(wrong.dx, ref.dx, 1e-5, "dx");
  EXPECT_EQ(wrong.db.abs().max().item<double>(), 0.0);
  if (!OneDnnAvailable()) return;
  // The packed path adds t B^T to y itself for batches below max(out, in) rows.
  const Case small = MakeCase(/*n=*/9, /*in=*/24, /*out=*/40, /*r=*/4, /*seed=*/23);
  LoraLinearBase packed{small.weight, small.bias,
                        PackLinear(small.weight, small.bias, /*for_backward=*/true), 1};
  packed.t = torch::mm(small.x, small.a.detach().t());
  ExpectMatches(Fused(small, packed, 2.0, torch::kFloat32), Reference(small, 1, 2.0), 1e-5);
}

TEST(LoraLinearTest, NoGradChunksAreViewsOfTheRecordedOutput) {
  const Case c = MakeCase(21, 16, 24, 4, 15);
  const LoraLinearBase base{c.weight, c.bias, PackedLinear(), 1};
  const torch::Tensor recorded = LoraLinear(c.x, base, LoraPair{c.a, c.b}, 2.0);
  torch::NoGradGuard no_grad;
  const std::vector<torch::Tensor> parts = LoraLinearChunks(c.x, base, LoraPair{c.a, c.b}, 2.0, 3);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[1].sizes().vec(), (std::vector<int64_t>{21, 8}));
  EXPECT_TRUE(torch::equal(torch::cat(parts, 1), recorded.detach()));
}

TEST(LoraLinearTest, RejectsChunksThatDoNotDivideTheOutput) {
  const Case c = MakeCase(4, 8, 10, 2, 16);
  const LoraLinearBase base{c.weight, c.bias, PackedLinear(), 1};
  EXPECT_THROW(LoraLinearChunks(c.x, base, LoraPair{c.a, c.b}, 1.0, 3), c10::Error);
  EXPECT_THROW(LoraLinearChunks(c.x, base, LoraPair{c.a, c.b}, 1.0, 0), c10::Error);
}

TEST(LoraLinearTest, InputWithoutGradStillTrainsTheAdapters) {
  const Case c = MakeCase(17, 8, 12, 2, 5);
  const LoraLinearBase base{c.weight, c.bias, PackedLinear(), 1};
  torch::Tensor a = c.a.detach().clone().requires_grad_(true);
  torch::Tensor b = c.b.detach().clone().requires_grad_(true);
  LoraLinear(c.x, base, LoraPair{a, b}, 2.0).backward(c.grad);
  const Result ref = Reference(c, 1, 2.0);
  ExpectClose(a.grad(), ref.da, 1e-5, "dA");
  ExpectClose(b.grad(), ref.db, 1e-5, "dB");
}

TEST(LoraLinearTest, NoGradForwardEqualsTheRecordedOne) {
  const Case c = MakeCase(21, 16, 16, 4, 6);
  const LoraLinearBase base{c.weight, c.bias, PackedLinear(), 1};
  torch::Tensor recorded = LoraLinear(c.x, base, LoraPair{c.a, c.b}, 2.0);
  EXPECT_TRUE(recorded.requires_grad());
  torch::NoGradGuard no_grad;
  torch::Tensor plain = LoraLinear(c.x, base, LoraPair{c.a, c.b}, 2.0);
  EXPECT_FALSE(plain.requires_grad());
  EXPECT_TRUE(torch::equal(plain, recorded.detach()));
}

TEST(LoraLinearTest, RejectsNon2dInput) {
  const Case c = MakeCase(4, 8, 8, 2, 7);
  const LoraLinearBase base{c.weight, c.bias, PackedLinear(), 1};
  EXPECT_THROW(LoraLinear(c.x.view({2, 2, 8}), base, LoraPair{c.a, c.b}, 1.0), c10::Error);
}

}  // namespace
}  // namespace perennial
