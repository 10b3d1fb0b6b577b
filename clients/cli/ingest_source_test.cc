// SampleBatcher: batches of image files by count and by bytes, in the source's order.
#include "clients/cli/ingest_source.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace perennial::cli {
namespace {

class SampleBatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sample_batcher_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Files of `sizes` bytes, labeled "x", as the `perennial ingest --label x FILE...` source.
  std::unique_ptr<IngestSource> Files(const std::vector<size_t>& sizes) {
    IngestSourceOptions options;
    options.label = "x";
    options.order = "si-blurry";  // not "iid": the files in the order given
    for (size_t i = 0; i < sizes.size(); ++i) {
      const std::string path = (dir_ / ("f" + std::to_string(i) + ".jpg")).string();
      std::ofstream(path, std::ios::binary) << std::string(sizes[i], 'a');
      options.files.push_back(path);
    }
    StatusOr<std::unique_ptr<IngestSource>> source = IngestSource::Open(options);
    EXPECT_TRUE(source.ok()) << source.status();
    return source.ok() ? *std::move(source) : nullptr;
  }

  // The batch sizes, in samples, until the batcher runs dry.
  static std::vector<size_t> BatchSizes(SampleBatcher& batcher, std::vector<std::string>* keys) {
    std::vector<size_t> sizes;
    while (true) {
      StatusOr<std::vector<v1::Sample>> batch = batcher.Next();
      EXPECT_TRUE(batch.ok()) << batch.status();
      if (!batch.ok() || batch->empty()) return sizes;
      sizes.push_back(batch->size());
      for (const v1::Sample& s : *batch) keys->push_back(s.idempotency_key());
    }
  }

  std::filesystem::path dir_;
};

TEST_F(SampleBatcherTest, BigImagesGetBatchesOfTheirOwn) {
  std::unique_ptr<IngestSource> source = Files({100, 100, 3000, 100, 5000, 100});
  ASSERT_NE(source, nullptr);
  SampleBatcher batcher(source.get(), BatchLimit{/*max_items=*/64, /*max_bytes=*/1000});
  std::vector<std::string> keys;
  EXPECT_EQ(BatchSizes(batcher, &keys), (std::vector<size_t>{2, 1, 1, 1, 1}));
  // Every sample once, in order.
  ASSERT_EQ(keys.size(), 6u);
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_NE(keys[i].find("f" + std::to_string(i) + ".jpg"), std::string::npos) << keys[i];
  }
}

TEST_F(SampleBatcherTest, SmallImagesBatchByCount) {
  std::unique_ptr<IngestSource> source = Files({10, 10, 10, 10, 10, 10, 10});
  ASSERT_NE(source, nullptr);
  SampleBatcher batcher(source.get(), BatchLimit{/*max_items=*/3, kDefaultMaxBatchBytes});
  std::vector<std::string> keys;
  EXPECT_EQ(BatchSizes(batcher, &keys), (std::vector<size_t>{3, 3, 1}));
  StatusOr<std::vector<v1::Sample>> after_the_end = batcher.Next();
  ASSERT_TRUE(after_the_end.ok());
  EXPECT_TRUE(after_the_end->empty());
}

}  // namespace
}  // namespace perennial::cli
