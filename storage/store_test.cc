// Store::Open, persistence across reopen, base model identity, vocabulary and blobs.
#include "storage/store.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/test_util.h"

namespace perennial {
namespace {

std::unique_ptr<Store> OpenOrDie(const std::string& dir, const std::string& model = "clip-a") {
  StoreOptions options;
  options.dir = dir;
  options.base_model_id = model;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

TEST(StoreTest, CreatesNestedDirectoryAndStartsEmpty) {
  TempDir tmp;
  std::unique_ptr<Store> store = OpenOrDie(tmp.path() + "/a/b/db");
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->LastSeq(), 0u);
  EXPECT_EQ(store->Cursor(), 0u);
  EXPECT_EQ(store->CurrentVersion(), 0u);
  EXPECT_EQ(store->base_model_id(), "clip-a");
  absl::StatusOr<std::vector<v1::StoredSample>> samples = store->ReadSamples(1, 10);
  ASSERT_TRUE(samples.ok());
  EXPECT_TRUE(samples->empty());
}

TEST(StoreTest, ReopenKeepsSamplesCursorAndCheckpoints) {
  TempDir tmp;
  {
    std::unique_ptr<Store> store = OpenOrDie(tmp.path());
    ASSERT_NE(store, nullptr);
    std::vector<v1::Sample> batch;
    for (uint32_t i = 0; i < 5; ++i) batch.push_back(MakeTestSample(i, "k" + std::to_string(i)));
    ASSERT_TRUE(store->AppendSamples(std::move(batch)).ok());
    v1::CheckpointRecord record;
    record.mutable_info()->set_version(3);
    record.mutable_info()->set_cursor(4);
    record.set_adapter("adapter-bytes");
    ASSERT_TRUE(store->WriteCheckpoint(record).ok());
  }
  std::unique_ptr<Store> store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->LastSeq(), 5u);
  EXPECT_EQ(store->Cursor(), 4u);
  EXPECT_EQ(store->CurrentVersion(), 3u);
  EXPECT_EQ(store->MaxCheckpointVersion(), 3u);
  EXPECT_EQ(store->Lineage(), std::vector<uint64_t>{3});
  // The next append continues the sequence, and old keys still deduplicate.
  std::vector<v1::Sample> batch = {MakeTestSample(9, "k2"), MakeTestSample(10, "new")};
  absl::StatusOr<std::vector<AppendResult>> results = store->AppendSamples(std::move(batch));
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ((*results)[0].seq, 3u);
  EXPECT_TRUE((*results)[0].duplicate);
  EXPECT_EQ((*results)[1].seq, 6u);
  EXPECT_FALSE((*results)[1].duplicate);
  absl::StatusOr<v1::CheckpointRecord> record = store->ReadCheckpoint(3);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->adapter(), "adapter-bytes");
}

TEST(StoreTest, BaseModelMismatchIsFailedPreconditionNamingBoth) {
  TempDir tmp;
  ASSERT_NE(OpenOrDie(tmp.path(), "sha256:aaaa"), nullptr);
  StoreOptions options;
  options.dir = tmp.path();
  options.base_model_id = "sha256:bbbb";
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("sha256:aaaa"), absl::string_view::npos);
  EXPECT_NE(store.status().message().find("sha256:bbbb"), absl::string_view::npos);
  // An empty id opens an existing store and reports the recorded id.
  options.base_model_id = "";
  store = Store::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->base_model_id(), "sha256:aaaa");
}

TEST(StoreTest, OptionErrors) {
  TempDir tmp;
  StoreOptions options;
  EXPECT_EQ(Store::Open(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.dir = tmp.path() + "/new";
  EXPECT_EQ(Store::Open(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.base_model_id = "m";
  options.create_if_missing = false;
  EXPECT_EQ(Store::Open(options).status().code(), absl::StatusCode::kNotFound);
}

TEST(StoreTest, SecondOpenOfSameDirectoryIsFailedPrecondition) {
  TempDir tmp;
  std::unique_ptr<Store> first = OpenOrDie(tmp.path());
  ASSERT_NE(first, nullptr);
  StoreOptions options;
  options.dir = tmp.path();
  options.base_model_id = "clip-a";
  absl::StatusOr<std::unique_ptr<Store>> second = Store::Open(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
}

TEST(StoreTest, VocabularyAddsOnlyNewWords) {
  TempDir tmp;
  std::unique_ptr<Store> store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  absl::StatusOr<size_t> added = store->AddVocabulary({"zebra", "apple", "zebra"});
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(*added, 2u);
  added = store->AddVocabulary({"apple", "mango"});
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(*added, 1u);
  EXPECT_EQ(store->AddVocabulary({"ok", ""}).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::vector<std::string>> words = store->ListVocabulary();
  ASSERT_TRUE(words.ok());
  EXPECT_EQ(*words, (std::vector<std::string>{"apple", "mango", "zebra"}));
}

TEST(StoreTest, BlobsRoundTripAndAreSeparateFromWords) {
  TempDir tmp;
  std::unique_ptr<Store> store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  const std::string bytes("\x00\x01\xff embeddings", 14);
  ASSERT_TRUE(store->PutBlob("teacher_text_embeddings/clip-a", bytes).ok());
  absl::StatusOr<std::string> blob = store->GetBlob("teacher_text_embeddings/clip-a");
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(*blob, bytes);
  EXPECT_EQ(store->GetBlob("missing").status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<std::vector<std::string>> words = store->ListVocabulary();
  ASSERT_TRUE(words.ok());
  EXPECT_TRUE(words->empty());
}

}  // namespace
}  // namespace perennial
