#include "learner/data/fashion_mnist.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "learner/data/read_file.h"
#include "learner/data/stream.h"
#include "learner/data/stream_test_util.h"
#include "learner/data/test_files.h"

namespace perennial {
namespace {

// The real dataset tests need Debian's dataset-fashion-mnist (installed by
// scripts/install-deps.sh), and zlib to read its gzipped files unless someone gunzipped them.
bool HaveFashionMnist() {
  const std::string base = std::string(kDefaultFashionMnistDir) + "/train-labels-idx1-ubyte";
  return FileExists(base) || (PERENNIAL_HAVE_ZLIB && FileExists(base + ".gz"));
}

#define REQUIRE_FASHION_MNIST()                                                 \
  if (!HaveFashionMnist()) {                                                    \
    GTEST_SKIP() << "no readable Fashion-MNIST in " << kDefaultFashionMnistDir; \
  }

struct Checksums {
  uint64_t sum = 0;
  uint64_t weighted = 0;  // sum of pixel[k] * (k % 65521 + 1) over all images' bytes in order
};

Checksums PixelChecksums(const Dataset& dataset) {
  Checksums c;
  uint64_t k = 0;
  for (int64_t i = 0; i < dataset.size(); ++i) {
    const ImageView view = dataset.View(i);
    const int64_t bytes = int64_t{view.height} * view.width * view.channels;
    for (int64_t j = 0; j < bytes; ++j, ++k) {
      c.sum += view.pixels[j];
      c.weighted += uint64_t{view.pixels[j]} * (k % 65521 + 1);
    }
  }
  return c;
}

// The train split, loaded once for all tests that need it (about 1.5 s).
const Dataset& TrainSet() {
  static const Dataset* const kTrain = [] {
    auto loaded = LoadFashionMnist(kDefaultFashionMnistDir, Split::kTrain);
    EXPECT_TRUE(loaded.ok()) << loaded.status().message();
    return new Dataset(loaded.ok() ? std::move(*loaded) : Dataset());
  }();
  return *kTrain;
}

std::vector<int32_t> Head(const std::vector<int32_t>& v, size_t n) {
  return std::vector<int32_t>(v.begin(), v.begin() + std::min(n, v.size()));
}

// Reference numbers from /usr/bin/python3 scripts/fashion_mnist_reference.py (numpy over the same
// gzipped IDX files).
TEST(FashionMnistTest, TrainSplitMatchesNumpy) {
  REQUIRE_FASHION_MNIST();
  const Dataset* train = &TrainSet();
  ASSERT_EQ(train->size(), 60000);
  EXPECT_EQ(Head(train->labels(), 10), (std::vector<int32_t>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5}));
  EXPECT_EQ(train->labels().back(), 5);
  const ImageView first = train->View(0);
  EXPECT_EQ(first.height, 28);
  EXPECT_EQ(first.width, 28);
  EXPECT_EQ(first.channels, 1);
  EXPECT_EQ(first.pixels[14 * 28 + 14], 217);
  const Checksums c = PixelChecksums(*train);
  EXPECT_EQ(c.sum, 3431114169u);
  EXPECT_EQ(c.weighted, 112463966970509u);
  std::vector<int> counts(10, 0);
  for (int32_t label : train->labels()) ++counts[label];
  EXPECT_EQ(counts, std::vector<int>(10, 6000));
  EXPECT_EQ(train->class_names().front(), "T-shirt/top");
  EXPECT_EQ(train->class_names().back(), "Ankle boot");
  const LabeledImage copy = train->Get(0);
  EXPECT_EQ(copy.label, 9);
  EXPECT_EQ(copy.image.pixels.size(), 784u);
  EXPECT_EQ(copy.image.pixels[14 * 28 + 14], 217);
}

TEST(FashionMnistTest, TestSplitMatchesNumpy) {
  REQUIRE_FASHION_MNIST();
  auto test = LoadFashionMnist(kDefaultFashionMnistDir, Split::kTest);
  ASSERT_TRUE(test.ok()) << test.status().message();
  ASSERT_EQ(test->size(), 10000);
  EXPECT_EQ(Head(test->labels(), 10), (std::vector<int32_t>{9, 2, 1, 1, 6, 1, 4, 6, 5, 7}));
  EXPECT_EQ(test->View(0).pixels[14 * 28 + 14], 110);
  const Checksums c = PixelChecksums(*test);
  EXPECT_EQ(c.sum, 573469082u);
  EXPECT_EQ(c.weighted, 18731464165863u);
}

TEST(FashionMnistTest, SiBlurryOrderOnTrainLabelsIsPinned) {
  REQUIRE_FASHION_MNIST();
  const Dataset* train = &TrainSet();
  ASSERT_EQ(train->size(), 60000);
  auto order = SiBlurryOrder(train->labels(), SiBlurryOptions{});  // T=5, N=0.5, M=0.1, seed 1
  ASSERT_TRUE(order.ok());
  ExpectPermutation(order->indices, 60000);
  // From /usr/bin/python3 scripts/si_blurry_reference.py (independent Python implementation).
  EXPECT_EQ(order->task_boundaries, (std::vector<int64_t>{0, 17955, 35946, 42695, 53942}));
  EXPECT_EQ(std::vector<int64_t>(order->indices.begin(), order->indices.begin() + 5),
            (std::vector<int64_t>{59208, 33913, 26969, 25955, 20478}));
  EXPECT_EQ(OrderHash(*order), 1238260817549051097ULL);
  const LeakageCount leak = CountLeakage(*order, train->labels());
  EXPECT_EQ(leak.blurry_samples, 30000);  // 5 blurry classes x 6000
  EXPECT_EQ(leak.leaked, 3000);           // exactly floor(0.1 * 30000)
}

// --- malformed files, written into a temp dir ---

void Put32(std::vector<uint8_t>& v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<uint8_t>(x >> s));
}

std::vector<uint8_t> IdxImages(uint32_t magic, uint32_t count, uint32_t rows, uint32_t cols,
                               size_t data_bytes) {
  std::vector<uint8_t> v;
  Put32(v, magic);
  Put32(v, count);
  Put32(v, rows);
  Put32(v, cols);
  for (size_t i = 0; i < data_bytes; ++i) v.push_back(static_cast<uint8_t>(i * 7));
  return v;
}

std::vector<uint8_t> IdxLabels(uint32_t magic, std::vector<uint8_t> labels) {
  std::vector<uint8_t> v;
  Put32(v, magic);
  Put32(v, static_cast<uint32_t>(labels.size()));
  v.insert(v.end(), labels.begin(), labels.end());
  return v;
}

class IdxFilesTest : public ::testing::Test {
 protected:
  void Write(std::vector<uint8_t> images, std::vector<uint8_t> labels) {
    WriteBytes(dir_.File("train-images-idx3-ubyte"), images);
    WriteBytes(dir_.File("train-labels-idx1-ubyte"), labels);
  }
  Status LoadStatus() { return LoadFashionMnist(dir_.path(), Split::kTrain).status(); }

  TempDir dir_;
};

TEST_F(IdxFilesTest, SmallValidFilesLoad) {
  Write(IdxImages(0x803, 3, 2, 4, 24), IdxLabels(0x801, {4, 0, 9}));
  auto dataset = LoadFashionMnist(dir_.path(), Split::kTrain);
  ASSERT_TRUE(dataset.ok()) << dataset.status().message();
  EXPECT_EQ(dataset->size(), 3);
  EXPECT_EQ(dataset->labels(), (std::vector<int32_t>{4, 0, 9}));
  const ImageView last = dataset->View(2);
  EXPECT_EQ(last.height, 2);
  EXPECT_EQ(last.width, 4);
  EXPECT_EQ(last.pixels[0], static_cast<uint8_t>(16 * 7));
  EXPECT_EQ(dataset->At(3).status().code(), StatusCode::kOutOfRange);
}

TEST_F(IdxFilesTest, WrongMagicNamesTheFile) {
  Write(IdxImages(0x802, 3, 2, 4, 24), IdxLabels(0x801, {4, 0, 9}));
  const Status s = LoadStatus();
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(std::string(s.message()).find("train-images-idx3-ubyte"), std::string::npos);
  EXPECT_NE(std::string(s.message()).find("magic"), std::string::npos);
  Write(IdxImages(0x803, 3, 2, 4, 24), IdxLabels(0x803, {4, 0, 9}));
  EXPECT_EQ(LoadStatus().code(), StatusCode::kDataLoss);
}

TEST_F(IdxFilesTest, TruncatedImagesAreDataLoss) {
  Write(IdxImages(0x803, 3, 2, 4, 23), IdxLabels(0x801, {4, 0, 9}));
  const Status s = LoadStatus();
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(std::string(s.message()).find("truncated"), std::string::npos) << s.message();
  Write(std::vector<uint8_t>{0, 0, 8}, IdxLabels(0x801, {4, 0, 9}));  // shorter than a header
  EXPECT_EQ(LoadStatus().code(), StatusCode::kDataLoss);
}

TEST_F(IdxFilesTest, HugeHeaderDimensionsDoNotOverflow) {
  Write(IdxImages(0x803, 0xffffffffu, 0xffffffffu, 0xffffffffu, 24), IdxLabels(0x801, {1}));
  EXPECT_EQ(LoadStatus().code(), StatusCode::kDataLoss);
}

TEST_F(IdxFilesTest, CountMismatchAndBadLabel) {
  Write(IdxImages(0x803, 3, 2, 4, 24), IdxLabels(0x801, {4, 0}));
  EXPECT_EQ(LoadStatus().code(), StatusCode::kDataLoss);
  Write(IdxImages(0x803, 3, 2, 4, 24), IdxLabels(0x801, {4, 10, 9}));
  const Status s = LoadStatus();
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(std::string(s.message()).find("label 10"), std::string::npos) << s.message();
}

TEST_F(IdxFilesTest, MissingFileIsNotFound) {
  const Status s = LoadFashionMnist(dir_.path(), Split::kTest).status();
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(std::string(s.message()).find("t10k-images-idx3-ubyte"), std::string::npos);
}

#if PERENNIAL_HAVE_ZLIB
TEST_F(IdxFilesTest, TruncatedGzipIsDataLoss) {
  REQUIRE_FASHION_MNIST();
  auto whole =
      ReadFileBytes(std::string(kDefaultFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz", 1 << 20);
  ASSERT_TRUE(whole.ok()) << whole.status().message();
  EXPECT_EQ(whole->size(), 10008u);  // decompressed: header + 10000 labels
  // Cut the compressed file in half (read it raw, not through ReadFileBytes, which gunzips).
  std::ifstream in(std::string(kDefaultFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz",
                   std::ios::binary);
  std::vector<uint8_t> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(gz.size(), 1000u);
  gz.resize(gz.size() / 2);
  WriteBytes(dir_.File("cut.gz"), gz);
  EXPECT_EQ(ReadFileBytes(dir_.File("cut.gz")).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(ReadFileBytes(std::string(kDefaultFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz", 100)
                .status()
                .code(),
            StatusCode::kResourceExhausted);
}
#endif

}  // namespace
}  // namespace perennial
