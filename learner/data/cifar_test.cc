#include "learner/data/cifar.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "learner/data/test_files.h"

namespace perennial {
namespace {

constexpr int kPlane = 1024;

// One record: label bytes, then R, G, B planes. R(p) = (p + seed) % 256, G = seed, B = 255 - seed.
std::vector<uint8_t> Record(std::vector<uint8_t> label_bytes, int seed) {
  std::vector<uint8_t> r = std::move(label_bytes);
  for (int p = 0; p < kPlane; ++p) r.push_back(static_cast<uint8_t>((p + seed) % 256));
  for (int p = 0; p < kPlane; ++p) r.push_back(static_cast<uint8_t>(seed));
  for (int p = 0; p < kPlane; ++p) r.push_back(static_cast<uint8_t>(255 - seed));
  return r;
}

std::vector<uint8_t> Concat(std::vector<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

const char kCifar10Names[] =
    "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";

class Cifar10Test : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteText(dir_.File("batches.meta.txt"), kCifar10Names);
    for (int b = 1; b <= 5; ++b) {
      WriteBytes(dir_.File("data_batch_" + std::to_string(b) + ".bin"),
                 Concat({Record({static_cast<uint8_t>(b)}, 10 * b),
                         Record({static_cast<uint8_t>(b + 4)}, 10 * b + 1)}));
    }
    WriteBytes(dir_.File("test_batch.bin"), Record({3}, 7));
  }
  TempDir dir_;
};

TEST_F(Cifar10Test, LoadsTrainInBatchOrderAsHwc) {
  auto train = LoadCifar10(dir_.path(), Split::kTrain);
  ASSERT_TRUE(train.ok()) << train.status().message();
  ASSERT_EQ(train->size(), 10);
  EXPECT_EQ(train->labels(), (std::vector<int32_t>{1, 5, 2, 6, 3, 7, 4, 8, 5, 9}));
  ASSERT_EQ(train->class_names().size(), 10u);
  EXPECT_EQ(train->class_names()[0], "airplane");
  EXPECT_EQ(train->class_names()[9], "truck");
  const ImageView v = train->View(2);  // batch 2, first record: seed 20
  EXPECT_EQ(v.height, 32);
  EXPECT_EQ(v.width, 32);
  EXPECT_EQ(v.channels, 3);
  // Pixel (y=1, x=3) is plane position 35: R = 55, G = 20, B = 235.
  const uint8_t* px = v.pixels + (1 * 32 + 3) * 3;
  EXPECT_EQ(px[0], 55);
  EXPECT_EQ(px[1], 20);
  EXPECT_EQ(px[2], 235);
}

TEST_F(Cifar10Test, LoadsTest) {
  auto test = LoadCifar10(dir_.path(), Split::kTest);
  ASSERT_TRUE(test.ok()) << test.status().message();
  ASSERT_EQ(test->size(), 1);
  EXPECT_EQ(test->labels()[0], 3);
  EXPECT_EQ(test->Get(0).image.pixels[0], 7);
}

TEST_F(Cifar10Test, TruncatedBatchIsDataLoss) {
  std::vector<uint8_t> rec = Record({1}, 0);
  rec.pop_back();
  WriteBytes(dir_.File("data_batch_3.bin"), rec);
  const Status s = LoadCifar10(dir_.path(), Split::kTrain).status();
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(std::string(s.message()).find("data_batch_3.bin"), std::string::npos) << s.message();
}

TEST_F(Cifar10Test, LabelBeyondNamesIsDataLoss) {
  WriteBytes(dir_.File("test_batch.bin"), Record({10}, 0));
  EXPECT_EQ(LoadCifar10(dir_.path(), Split::kTest).status().code(), StatusCode::kDataLoss);
}

TEST_F(Cifar10Test, MissingBatchOrNamesIsNotFound) {
  std::filesystem::remove(dir_.File("data_batch_5.bin"));
  const Status s = LoadCifar10(dir_.path(), Split::kTrain).status();
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(std::string(s.message()).find("data_batch_5.bin"), std::string::npos);
  std::filesystem::remove(dir_.File("batches.meta.txt"));
  EXPECT_EQ(LoadCifar10(dir_.path(), Split::kTest).status().code(), StatusCode::kNotFound);
}

TEST(Cifar100Test, FineAndCoarseLabels) {
  TempDir dir;
  WriteText(dir.File("fine_label_names.txt"), "apple\r\naquarium_fish\r\nbaby\r\n");
  WriteText(dir.File("coarse_label_names.txt"), "fish\nfruit_and_vegetables\n");
  WriteBytes(dir.File("train.bin"),
             Concat({Record({1, 0}, 1), Record({0, 1}, 2), Record({0, 2}, 3)}));
  WriteBytes(dir.File("test.bin"), Record({1, 2}, 4));
  auto fine = LoadCifar100(dir.path(), Split::kTrain);
  ASSERT_TRUE(fine.ok()) << fine.status().message();
  EXPECT_EQ(fine->labels(), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(fine->class_names(),
            (std::vector<std::string>{"apple", "aquarium_fish", "baby"}));  // CRLF stripped
  auto coarse = LoadCifar100(dir.path(), Split::kTrain, Cifar100Label::kCoarse);
  ASSERT_TRUE(coarse.ok()) << coarse.status().message();
  EXPECT_EQ(coarse->labels(), (std::vector<int32_t>{1, 0, 0}));
  EXPECT_EQ(coarse->class_names()[1], "fruit_and_vegetables");
  auto test = LoadCifar100(dir.path(), Split::kTest);
  ASSERT_TRUE(test.ok());
  EXPECT_EQ(test->labels(), std::vector<int32_t>{2});
  EXPECT_EQ(test->View(0).pixels[1], 4);  // G of pixel 0
  // A CIFAR-10 file read as CIFAR-100 (3073-byte records) does not divide into 3074-byte ones.
  WriteBytes(dir.File("test.bin"), Concat({Record({1}, 0), Record({2}, 0)}));
  EXPECT_EQ(LoadCifar100(dir.path(), Split::kTest).status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace perennial
