#include "learner/model/onednn_matrix.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace perennial {
namespace {

class OneDnnMatrixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!OneDnnAvailable()) GTEST_SKIP() << "this build has no oneDNN";
    torch::manual_seed(5);
  }
};

TEST_F(OneDnnMatrixTest, ProductMatchesMatmulWithAndWithoutBias) {
  const torch::Tensor m = torch::randn({40, 24}), bias = torch::randn({40});
  const torch::Tensor x = torch::randn({7, 24});
  const OneDnnMatrix packed = OneDnnMatrix::Pack(m);
  EXPECT_EQ(packed.rows(), 40);
  EXPECT_EQ(packed.cols(), 24);
  EXPECT_TRUE(
      torch::allclose(OneDnnProduct(x, packed, bias), torch::addmm(bias, x, m.t()), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(OneDnnProduct(x, packed, {}), torch::mm(x, m.t()), 1e-5, 1e-5));
}

// bf16 products accumulate in fp32 and round y once: within bf16 rounding of the fp32 product
// of the same bf16 values, and y comes back in bf16.
TEST_F(OneDnnMatrixTest, Bf16ProductMatchesTheFp32ProductOfItsValues) {
  if (!OneDnnAvailable(torch::kBFloat16)) GTEST_SKIP() << "no bf16 products in this build";
  const torch::Tensor m = torch::randn({40, 96}).to(torch::kBFloat16);
  const torch::Tensor x = torch::randn({7, 96}).to(torch::kBFloat16);
  const torch::Tensor bias = torch::randn({40});
  const OneDnnMatrix packed = OneDnnMatrix::Pack(m);
  EXPECT_EQ(packed.dtype(), torch::kBFloat16);
  const torch::Tensor y = OneDnnProduct(x, packed, bias);
  EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
  const torch::Tensor expected =
      torch::addmm(bias, x.to(torch::kFloat32), m.to(torch::kFloat32).t());
  EXPECT_TRUE(torch::allclose(y.to(torch::kFloat32), expected, 1e-2, 1e-2));
  // The strided W^T of a bf16 matrix, as gradients use it.
  const torch::Tensor g = torch::randn({5, 40}).to(torch::kBFloat16);
  EXPECT_TRUE(torch::allclose(OneDnnProduct(g, OneDnnMatrix::Pack(m.t()), {}).to(torch::kFloat32),
                              torch::mm(g.to(torch::kFloat32), m.to(torch::kFloat32)), 1e-2, 1e-2));
  // x must be of the matrix's dtype.
  EXPECT_THROW(OneDnnProduct(x.to(torch::kFloat32), packed, {}), c10::Error);
}

// W^T packed from W's own memory (strides), and x read through a non-contiguous view.
TEST_F(OneDnnMatrixTest, PacksAndReadsStridedTensors) {
  const torch::Tensor w = torch::randn({16, 48});
  const OneDnnMatrix transposed = OneDnnMatrix::Pack(w.t());
  EXPECT_EQ(transposed.rows(), 48);
  const torch::Tensor g = torch::randn({16, 9}).t();  // [9, 16], column-major
  EXPECT_TRUE(torch::allclose(OneDnnProduct(g, transposed, {}), torch::mm(g, w), 1e-5, 1e-5));
}

TEST_F(OneDnnMatrixTest, NoRowsGiveAnEmptyProduct) {
  const OneDnnMatrix packed = OneDnnMatrix::Pack(torch::randn({8, 4}));
  EXPECT_EQ(OneDnnProduct(torch::zeros({0, 4}), packed, {}).sizes(), (std::vector<int64_t>{0, 8}));
}

TEST_F(OneDnnMatrixTest, SurvivesARoundTripThroughAnIValue) {
  const torch::Tensor m = torch::randn({6, 4}), x = torch::randn({3, 4});
  const OneDnnMatrix back = OneDnnMatrix::FromIValue(OneDnnMatrix::Pack(m).ToIValue());
  EXPECT_TRUE(torch::allclose(OneDnnProduct(x, back, {}), torch::mm(x, m.t()), 1e-5, 1e-5));
}

TEST_F(OneDnnMatrixTest, OneMatrixServesSeveralThreadsAtOnce) {
  const torch::Tensor m = torch::randn({64, 32});
  const OneDnnMatrix packed = OneDnnMatrix::Pack(m);
  std::vector<torch::Tensor> xs, ys(4);
  for (int i = 0; i < 4; ++i) xs.push_back(torch::randn({50 + i, 32}));
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int repeat = 0; repeat < 20; ++repeat) ys[i] = OneDnnProduct(xs[i], packed, {});
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(torch::allclose(ys[i], torch::mm(xs[i], m.t()), 1e-5, 1e-5)) << i;
  }
}

TEST_F(OneDnnMatrixTest, RefusesWhatItCannotMultiply) {
  EXPECT_THROW(OneDnnMatrix::Pack(torch::randn({4})), c10::Error);
  EXPECT_THROW(OneDnnMatrix::Pack(torch::randn({4, 4}).to(torch::kFloat64)), c10::Error);
  const OneDnnMatrix packed = OneDnnMatrix::Pack(torch::randn({8, 4}));
  EXPECT_THROW(OneDnnProduct(torch::randn({2, 5}), packed, {}), c10::Error);
  EXPECT_THROW(OneDnnProduct(torch::randn({2, 4}), packed, torch::randn({7})), c10::Error);
  EXPECT_THROW(OneDnnProduct(torch::randn({2, 4}), OneDnnMatrix(), {}), c10::Error);
}

}  // namespace
}  // namespace perennial
