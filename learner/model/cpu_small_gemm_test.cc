#include "learner/model/cpu_small_gemm.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>
#include <vector>

namespace perennial {
namespace {

struct Shape {
  int64_t m, n, k;
};

// Attention's shapes (image tower 65 positions, ViT-B/16's 197, prompt suffixes of a few rows),
// and sizes around the kernel's blocks: 4 rows, 16-column vectors, 80-column blocks.
const Shape kShapes[] = {{65, 65, 64}, {65, 64, 65}, {197, 197, 64}, {7, 12, 64},  {1, 1, 1},
                         {3, 97, 5},   {4, 80, 16},  {5, 81, 17},    {16, 16, 16}, {33, 15, 31}};

using Gemm = void (*)(int64_t, int64_t, int64_t, float, ConstMatrix, bool, ConstMatrix, bool,
                      float*, int64_t);
// The kernel this machine runs (AVX-512 where it has it), and the one used without AVX-512.
const Gemm kGemms[] = {SmallGemm, small_gemm_internal::PortableGemm};

class SmallGemmTest : public ::testing::TestWithParam<std::tuple<Shape, bool, bool, Gemm>> {};

// A matrix of `rows` x `cols` inside a wider buffer (leading dimension cols + 3), and the
// stored tensor that holds it.
struct Operand {
  torch::Tensor storage, matrix;
};
Operand MakeOperand(int64_t rows, int64_t cols) {
  Operand o;
  o.storage = torch::randn({rows, cols + 3});
  o.matrix = o.storage.narrow(1, 0, cols);
  return o;
}

TEST_P(SmallGemmTest, MatchesATenWithStridesTransposesAndScale) {
  const auto [shape, transpose_a, transpose_b, gemm] = GetParam();
  torch::manual_seed(shape.m * 1000 + shape.n * 10 + shape.k);
  const Operand a = transpose_a ? MakeOperand(shape.k, shape.m) : MakeOperand(shape.m, shape.k);
  const Operand b = transpose_b ? MakeOperand(shape.n, shape.k) : MakeOperand(shape.k, shape.n);
  const torch::Tensor c_storage = torch::full({shape.m, shape.n + 5}, 7.0f);
  const float alpha = 0.125f;
  gemm(shape.m, shape.n, shape.k, alpha, {a.storage.data_ptr<float>(), a.storage.size(1)},
       transpose_a, {b.storage.data_ptr<float>(), b.storage.size(1)}, transpose_b,
       c_storage.data_ptr<float>(), c_storage.size(1));
  const torch::Tensor op_a = transpose_a ? a.matrix.t() : a.matrix;
  const torch::Tensor op_b = transpose_b ? b.matrix.t() : b.matrix;
  const torch::Tensor expected =
      torch::mm(op_a.to(torch::kFloat64), op_b.to(torch::kFloat64)) * alpha;
  const torch::Tensor c = c_storage.narrow(1, 0, shape.n).to(torch::kFloat64);
  EXPECT_TRUE(torch::allclose(c, expected, 1e-5, 1e-5))
      << (gemm == kGemms[0] ? SmallGemmKernel() : "portable") << " max error "
      << (c - expected).abs().max().item<double>();
  // Past n, each row of C is untouched.
  EXPECT_TRUE(c_storage.narrow(1, shape.n, 5).eq(7.0f).all().item<bool>());
}

INSTANTIATE_TEST_SUITE_P(Shapes, SmallGemmTest,
                         ::testing::Combine(::testing::ValuesIn(kShapes), ::testing::Bool(),
                                            ::testing::Bool(), ::testing::ValuesIn(kGemms)),
                         [](const auto& info) {
                           const Shape& s = std::get<0>(info.param);
                           return std::to_string(s.m) + "x" + std::to_string(s.n) + "x" +
                                  std::to_string(s.k) + (std::get<1>(info.param) ? "_At" : "_A") +
                                  (std::get<2>(info.param) ? "Bt" : "B") +
                                  (std::get<3>(info.param) == kGemms[0] ? "" : "_Portable");
                         });

TEST(SmallGemmEmptyTest, NoSummandsGiveZeros) {
  torch::Tensor c = torch::full({3, 4}, 7.0f);
  const float unused = 1;
  SmallGemm(3, 4, 0, 1, {&unused, 1}, false, {&unused, 4}, false, c.data_ptr<float>(), 4);
  EXPECT_TRUE(c.eq(0).all().item<bool>());
}

// The bf16 staging conversions against c10::BFloat16's, which ATen's casts use: ties to even,
// NaN, infinities, signed zero, values past bf16's range, and row strides on the bf16 side.
TEST(Bf16RowsTest, ConvertLikeC10BothWays) {
  std::vector<float> values = {0.0f,
                               -0.0f,
                               1.0f,
                               -2.5f,
                               1e-40f,
                               3.4e38f,
                               -3.4e38f,
                               std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity(),
                               std::numeric_limits<float>::quiet_NaN()};
  for (uint32_t bits : {0x3F808000u, 0x3F818000u, 0x3F80C000u, 0x7F7FFFFFu, 0x007FFFFFu}) {
    float f;  // ties (even and odd low half), above a tie, the largest finite, a subnormal
    std::memcpy(&f, &bits, sizeof f);
    values.push_back(f);
  }
  torch::manual_seed(3);
  const torch::Tensor random = torch::randn({101}) * 100;
  for (int64_t i = 0; i < random.numel(); ++i) values.push_back(random[i].item<float>());
  const int64_t cols = 29, rows = static_cast<int64_t>(values.size()) / cols, ld = cols + 3;
  std::vector<c10::BFloat16> packed(static_cast<size_t>(rows * ld), c10::BFloat16(7.0f));
  FloatRowsToBf16(values.data(), rows, cols, packed.data(), ld);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < ld; ++c) {
      const c10::BFloat16 got = packed[r * ld + c];
      const c10::BFloat16 want =
          c < cols ? c10::BFloat16(values[r * cols + c]) : c10::BFloat16(7.0f);
      EXPECT_TRUE(got.x == want.x || (std::isnan(float(got)) && std::isnan(float(want))))
          << "row " << r << " col " << c << ": " << got.x << " vs " << want.x;
    }
  }
  std::vector<float> back(static_cast<size_t>(rows * cols));
  Bf16RowsToFloat(packed.data(), ld, rows, cols, back.data());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const float want = static_cast<float>(packed[r * ld + c]), got = back[r * cols + c];
      EXPECT_TRUE(std::memcmp(&got, &want, sizeof got) == 0) << "row " << r << " col " << c;
    }
  }
}

}  // namespace
}  // namespace perennial
