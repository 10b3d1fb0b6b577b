#include "learner/model/cpu_thin_products.h"

#include <gtest/gtest.h>

#include <tuple>

namespace perennial {
namespace {

// The LoRA scale: not a power of two, so that a missing or doubled scale shows.
constexpr double kScale = 1.5;

// max |got - want| over max |want|.
double RelativeError(const torch::Tensor& got, const torch::Tensor& want) {
  const torch::Tensor w = want.to(torch::kFloat64);
  return ((got.to(torch::kFloat64) - w).abs().max() / w.abs().max().clamp_min(1e-12))
      .item<double>();
}

// Whether this CPU runs the kernel at all: a CPU without AVX-512 declines everything.
bool KernelRuns() {
  return CpuThinPass(torch::ones({8, 16}), torch::ones({16, 8}), torch::Tensor(), 1.0).has_value();
}

// rows x cols: one row, blocks of 8 rows with a ragged tail, and ViT-B/32's image rows; two
// columns, the default model's width, and ViT-B/32's widest map.
class CpuThinPassTest : public ::testing::TestWithParam<std::tuple<int64_t, int64_t>> {};

TEST_P(CpuThinPassTest, MatchesBothProductsInDoublePrecision) {
  if (!KernelRuns()) GTEST_SKIP() << "no AVX-512 on this CPU";
  const auto [rows, cols] = GetParam();
  torch::manual_seed(rows * 7919 + cols);
  const torch::Tensor m = torch::randn({rows, cols});
  const torch::Tensor b = torch::randn({cols, 8}), t = torch::randn({rows, 8});
  const std::optional<CpuThinProducts> pass = CpuThinPass(m, b, t, kScale);
  ASSERT_TRUE(pass.has_value());
  const torch::Tensor m64 = m.to(torch::kFloat64);
  const torch::Tensor want_mb = m64.mm(b.to(torch::kFloat64)) * kScale;
  const torch::Tensor want_mt = m64.t().mm(t.to(torch::kFloat64)) * kScale;
  ASSERT_EQ(pass->mb.sizes(), want_mb.sizes());
  ASSERT_EQ(pass->mt.sizes(), want_mt.sizes());
  EXPECT_EQ(pass->mb.scalar_type(), torch::kFloat32);
  EXPECT_EQ(pass->mt.scalar_type(), torch::kFloat32);
  // fp32 sums of up to 3,072 products, in another order than double's.
  EXPECT_LT(RelativeError(pass->mb, want_mb), 1e-5);
  EXPECT_LT(RelativeError(pass->mt, want_mt), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CpuThinPassTest,
                         ::testing::Combine(::testing::Values(1, 37, 800),
                                            ::testing::Values(2, 128, 3072)));

// bf16 m (AVX-512 BF16 dot products): rows one, odd (a pair without its second row), many;
// columns one vector of 16, the default model's width, ViT-B/32's widest map.
class CpuThinPassBf16Test : public ::testing::TestWithParam<std::tuple<int64_t, int64_t>> {};

// Whether this CPU runs the bf16 kernels.
bool Bf16KernelRuns() {
  return CpuThinPass(torch::ones({8, 16}, torch::kBFloat16), torch::ones({16, 8}), torch::Tensor(),
                     1.0)
      .has_value();
}

TEST_P(CpuThinPassBf16Test, MatchesBothProductsOfTheBf16ValuesInDoublePrecision) {
  if (!Bf16KernelRuns()) GTEST_SKIP() << "no bf16 pass on this CPU (AMD with AVX-512 BF16)";
  const auto [rows, cols] = GetParam();
  torch::manual_seed(rows * 7919 + cols);
  const torch::Tensor m = torch::randn({rows, cols}).to(torch::kBFloat16);
  const torch::Tensor b = torch::randn({cols, 8}).to(torch::kBFloat16);
  const torch::Tensor t = torch::randn({rows, 8}).to(torch::kBFloat16);
  const std::optional<CpuThinProducts> pass = CpuThinPass(m, b, t, kScale);
  ASSERT_TRUE(pass.has_value());
  const torch::Tensor m64 = m.to(torch::kFloat64);
  const torch::Tensor want_mb = m64.mm(b.to(torch::kFloat64)) * kScale;
  const torch::Tensor want_mt = m64.t().mm(t.to(torch::kFloat64)) * kScale;
  EXPECT_EQ(pass->mb.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(pass->mt.scalar_type(), torch::kFloat32);
  // The products of bf16 values are exact in fp32; mb is rounded once to bf16 (8 significant
  // bits), mt stays fp32.
  EXPECT_LT(RelativeError(pass->mb, want_mb), 4e-3);
  EXPECT_LT(RelativeError(pass->mt, want_mt), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CpuThinPassBf16Test,
                         ::testing::Combine(::testing::Values(1, 37, 800),
                                            ::testing::Values(16, 128, 3072)));

TEST(CpuThinPass, Bf16RowsWithAStrideAndThreadsAgree) {
  if (!Bf16KernelRuns()) GTEST_SKIP() << "no bf16 pass on this CPU (AMD with AVX-512 BF16)";
  torch::manual_seed(4);
  const torch::Tensor wide = torch::randn({999, 192}).to(torch::kBFloat16);
  const torch::Tensor m = wide.narrow(1, 64, 64), a = torch::randn({8, 64});
  const torch::Tensor t = torch::randn({8, 999}).t().to(torch::kBFloat16);
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  const CpuThinProducts one = *CpuThinPass(m, a.t(), t, 1.0);
  torch::set_num_threads(2);
  const CpuThinProducts two = *CpuThinPass(m, a.t(), t, 1.0);
  torch::set_num_threads(threads);
  const torch::Tensor m64 = m.to(torch::kFloat64);
  EXPECT_LT(RelativeError(one.mb, m64.mm(a.t().to(torch::kBFloat16).to(torch::kFloat64))), 4e-3);
  EXPECT_LT(RelativeError(one.mt, m64.t().mm(t.to(torch::kFloat64))), 1e-5);
  EXPECT_TRUE(torch::equal(one.mb, two.mb));
  EXPECT_LT(RelativeError(two.mt, one.mt), 1e-5);
}

TEST(CpuThinPass, EachProductAloneEqualsItInThePair) {
  if (!KernelRuns()) GTEST_SKIP() << "no AVX-512 on this CPU";
  const torch::Tensor m = torch::randn({45, 96}), b = torch::randn({96, 8});
  const torch::Tensor t = torch::randn({45, 8});
  const CpuThinProducts both = *CpuThinPass(m, b, t, kScale);
  const CpuThinProducts mb_only = *CpuThinPass(m, b, torch::Tensor(), kScale);
  const CpuThinProducts mt_only = *CpuThinPass(m, torch::Tensor(), t, kScale);
  EXPECT_FALSE(mb_only.mt.defined());
  EXPECT_FALSE(mt_only.mb.defined());
  EXPECT_TRUE(torch::equal(mb_only.mb, both.mb));
  EXPECT_TRUE(torch::equal(mt_only.mt, both.mt));
}

TEST(CpuThinPass, ReadsRowsWithAStrideAndOperandsInAnyLayout) {
  if (!KernelRuns()) GTEST_SKIP() << "no AVX-512 on this CPU";
  // A column block of a wider gradient (q/k/v apart), B given as A^T (the forward's t).
  const torch::Tensor wide = torch::randn({50, 192});
  const torch::Tensor m = wide.narrow(1, 64, 64), a = torch::randn({8, 64});
  const torch::Tensor t = torch::randn({8, 50}).t();
  const CpuThinProducts pass = *CpuThinPass(m, a.t(), t, 1.0);
  EXPECT_LT(RelativeError(pass.mb, m.mm(a.t())), 1e-5);
  EXPECT_LT(RelativeError(pass.mt, m.t().mm(t)), 1e-5);
}

TEST(CpuThinPass, ThreadsSplittingTheRowsAgreeWithOne) {
  if (!KernelRuns()) GTEST_SKIP() << "no AVX-512 on this CPU";
  const int threads = torch::get_num_threads();
  torch::manual_seed(3);
  const torch::Tensor m = torch::randn({1000, 256}), b = torch::randn({256, 8});
  const torch::Tensor t = torch::randn({1000, 8});
  torch::set_num_threads(1);
  const CpuThinProducts one = *CpuThinPass(m, b, t, kScale);
  torch::set_num_threads(2);
  const CpuThinProducts two = *CpuThinPass(m, b, t, kScale);
  torch::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one.mb, two.mb)) << "each row's sums are the same either way";
  // fp32 sums of 1,000 products in two orders.
  EXPECT_LT(RelativeError(two.mt, one.mt), 1e-5) << "mt adds the threads' partial sums";
}

TEST(CpuThinPass, DeclinesWhatTheKernelDoesNotTake) {
  const torch::Tensor m = torch::randn({16, 64}), b = torch::randn({64, 8});
  const torch::Tensor t = torch::randn({16, 8});
  EXPECT_FALSE(CpuThinPass(m, torch::Tensor(), torch::Tensor(), 1.0)) << "no product asked";
  EXPECT_FALSE(CpuThinPass(m.narrow(1, 0, 56).to(torch::kBFloat16), b.narrow(0, 0, 56), t, 1.0))
      << "bf16, columns not a multiple of 16";
  EXPECT_FALSE(CpuThinPass(m.to(torch::kFloat16), b, t, 1.0)) << "fp16";
  EXPECT_FALSE(CpuThinPass(m.to(torch::kFloat64), b, t, 1.0)) << "fp64";
  EXPECT_FALSE(CpuThinPass(m, torch::randn({64, 4}), torch::Tensor(), 1.0)) << "rank 4";
  EXPECT_FALSE(CpuThinPass(m, torch::Tensor(), torch::randn({16, 4}), 1.0)) << "rank 4";
  EXPECT_FALSE(CpuThinPass(m.narrow(1, 0, 63), b.narrow(0, 0, 63), t, 1.0)) << "odd columns";
  EXPECT_FALSE(CpuThinPass(torch::randn({64, 16}).t(), b, t, 1.0)) << "strided columns";
  EXPECT_FALSE(CpuThinPass(m, torch::randn({32, 8}), t, 1.0)) << "B's rows are not m's columns";
  EXPECT_FALSE(CpuThinPass(m, b, torch::randn({15, 8}), 1.0)) << "t's rows are not m's rows";
}

}  // namespace
}  // namespace perennial
