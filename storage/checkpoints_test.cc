// Store's checkpoints: write/list/read, lineage, retention, rollback, corruption detection.
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "storage/test_util.h"

namespace perennial {
namespace {

v1::CheckpointRecord MakeCheckpoint(uint64_t version, uint64_t parent, uint64_t cursor,
                                    std::vector<std::string> tags = {}) {
  v1::CheckpointRecord record;
  v1::CheckpointInfo* info = record.mutable_info();
  info->set_version(version);
  info->set_parent_version(parent);
  info->set_cursor(cursor);
  for (std::string& tag : tags) info->add_tags(std::move(tag));
  (*info->mutable_metrics())["a_auc"] = 0.1 * version;
  record.set_adapter("adapter-v" + std::to_string(version) + std::string(1000, 'a'));
  record.set_optimizer("optimizer-v" + std::to_string(version));
  return record;
}

class CheckpointsTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    store_.reset();
    store_ = OpenTestStore(tmp_.path());
    ASSERT_NE(store_, nullptr);
  }

  void AppendSamples(int n) {
    std::vector<v1::Sample> batch;
    for (int i = 0; i < n; ++i) batch.push_back(MakeTestSample(i));
    ASSERT_TRUE(store_->AppendSamples(std::move(batch)).ok());
  }

  // Flips one byte in the middle of checkpoint `version`'s stored value, through RocksDB itself.
  void CorruptCheckpoint(uint64_t version) {
    store_.reset();
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const char* name :
         {"default", kSamplesFamily, kDedupFamily, kCheckpointsFamily, kVocabFamily, kMetaFamily}) {
      families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), tmp_.path(), families, &handles, &db).ok());
    std::string value;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), handles[3], EncodeUint64(version), &value).ok());
    value[value.size() / 2] ^= 0x40;
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[3], EncodeUint64(version), value).ok());
    for (auto* handle : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
    delete db;
    Reopen();
  }

  TempDir tmp_;
  std::unique_ptr<Store> store_;
};

TEST_F(CheckpointsTest, WriteListRead) {
  AppendSamples(10);
  ASSERT_TRUE(store_->WriteCheckpoint(MakeCheckpoint(1, 0, 4)).ok());
  ASSERT_TRUE(store_->WriteCheckpoint(MakeCheckpoint(2, 1, 10)).ok());
  EXPECT_EQ(store_->CurrentVersion(), 2u);
  EXPECT_EQ(store_->Cursor(), 10u);
  EXPECT_EQ(store_->Lineage(), (std::vector<uint64_t>{1, 2}));

  absl::StatusOr<CheckpointListing> listing = store_->ListCheckpoints();
  ASSERT_TRUE(listing.ok()) << listing.status();
  ASSERT_EQ(listing->checkpoints.size(), 2u);
  EXPECT_TRUE(listing->corrupt_versions.empty());
  EXPECT_EQ(listing->checkpoints[0].version(), 1u);
  EXPECT_EQ(listing->checkpoints[1].cursor(), 10u);
  EXPECT_EQ(listing->checkpoints[1].adapter_size_bytes(),
            MakeCheckpoint(2, 1, 10).adapter().size());
  EXPECT_EQ(listing->checkpoints[1].base_model_id(), "clip-test");
  EXPECT_GT(listing->checkpoints[1].created_time().seconds(), 1600000000);

  absl::StatusOr<v1::CheckpointRecord> record = store_->ReadCheckpoint(1);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->adapter(), MakeCheckpoint(1, 0, 4).adapter());
  EXPECT_EQ(record->optimizer(), "optimizer-v1");
  EXPECT_DOUBLE_EQ(record->info().metrics().at("a_auc"), 0.1);
  EXPECT_EQ(store_->ReadCheckpoint(7).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CheckpointsTest, RejectsReusedVersionsWrongParentAndCursorBeyondLog) {
  AppendSamples(5);
  ASSERT_TRUE(store_->WriteCheckpoint(MakeCheckpoint(3, 0, 5)).ok());
  EXPECT_EQ(store_->WriteCheckpoint(MakeCheckpoint(3, 3, 5)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->WriteCheckpoint(MakeCheckpoint(2, 3, 5)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->WriteCheckpoint(MakeCheckpoint(4, 1, 5)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->WriteCheckpoint(MakeCheckpoint(4, 3, 6)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->WriteCheckpoint(MakeCheckpoint(0, 3, 5)).code(),
            absl::StatusCode::kInvalidArgument);
  v1::CheckpointRecord other_model = MakeCheckpoint(4, 3, 5);
  other_model.mutable_info()->set_base_model_id("other");
  EXPECT_EQ(store_->WriteCheckpoint(other_model).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->CurrentVersion(), 3u);
}

TEST_F(CheckpointsTest, PruneKeepsLastTaggedAndCurrent) {
  AppendSamples(10);
  for (uint64_t v = 1; v <= 8; ++v) {
    std::vector<std::string> tags;
    if (v == 2) tags.push_back("before-rollout");
    ASSERT_TRUE(store_->WriteCheckpoint(MakeCheckpoint(v, v - 1, v, tags)).ok());
  }
  ASSERT_TRUE(store_->SetCurrentVersion(4).ok());  // Rollback to 4: it must survive pruning.
  RetentionPolicy policy;
  policy.keep_last = 3;
  absl::StatusOr<std::vector<uint64_t>> deleted = store_->PruneCheckpoints(policy);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, (std::vector<uint64_t>{1, 3, 5}));
  absl::StatusOr<CheckpointListing> listing = store_->ListCheckpoints();
  ASSERT_TRUE(listing.ok());
  std::vector<uint64_t> versions;
  for (const auto& info : listing->checkpoints) versions.push_back(info.version());
  EXPECT_EQ(versions, (std::vector<uint64_t>{2, 4, 6, 7, 8}));
  EXPECT_EQ(store_->Lineage(), (std::vector<uint64_t>{2, 4}));
  EXPECT_EQ(store_->MaxCheckpointVersion(), 8u);
  policy.keep_last = -1;
  EXPECT_EQ(store_->PruneCheckpoints(policy).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CheckpointsTest, RollbackSetsCursorAndBranches) {
  AppendSamples(20);
  ASSERT_TRUE(store_->WriteCheckpoint(MakeCheckpoint(1, 0, 5)).ok());
  ASSERT_TRUE(store_->WriteCheckpoint(MakeCheckpoint(2, 1, 10)).ok());
  ASSERT_TRUE(store_->WriteCheckpoint(MakeCheckpoint(3, 2, 15)).ok());

  EXPECT_EQ(store_->SetCurrentVersion(9).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->SetCurrentVersion(1, 21).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CurrentVersion(), 3u);

  ASSERT_TRUE(store_->SetCurrentVersion(1).ok());
  EXPECT_EQ(store_->CurrentVersion(), 1u);
  EXPECT_EQ(store_->Cursor(), 5u);
  EXPECT_EQ(store_->Lineage(), std::vector<uint64_t>{1});
  // Versions continue above the highest ever written; the new branch's parent is 1.
  EXPECT_EQ(store_->WriteCheckpoint(MakeCheckpoint(2, 1, 8)).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->WriteCheckpoint(MakeCheckpoint(4, 1, 8)).ok());
  EXPECT_EQ(store_->Lineage(), (std::vector<uint64_t>{1, 4}));

  // Back to the abandoned branch: its lineage is rebuilt from parent links; cursor overridden.
  ASSERT_TRUE(store_->SetCurrentVersion(3, 20).ok());
  EXPECT_EQ(store_->Lineage(), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(store_->Cursor(), 20u);

  ASSERT_TRUE(store_->SetCurrentVersion(0).ok());
  EXPECT_EQ(store_->CurrentVersion(), 0u);
  EXPECT_EQ(store_->Cursor(), 0u);
  EXPECT_TRUE(store_->Lineage().empty());
  absl::StatusOr<std::optional<v1::CheckpointRecord>> latest = store_->LatestValidCheckpoint();
  ASSERT_TRUE(latest.ok());
  EXPECT_FALSE(latest->has_value());

  Reopen();
  EXPECT_EQ(store_->CurrentVersion(), 0u);
  EXPECT_EQ(store_->MaxCheckpointVersion(), 4u);
}

TEST_F(CheckpointsTest, CorruptCheckpointIsDetectedAndPreviousUsed) {
  AppendSamples(10);
  ASSERT_TRUE(store_->WriteCheckpoint(MakeCheckpoint(1, 0, 3)).ok());
  ASSERT_TRUE(store_->WriteCheckpoint(MakeCheckpoint(2, 1, 6)).ok());
  ASSERT_TRUE(store_->WriteCheckpoint(MakeCheckpoint(3, 2, 9)).ok());
  CorruptCheckpoint(3);
  EXPECT_EQ(store_->CurrentVersion(), 3u);

  absl::StatusOr<v1::CheckpointRecord> bad = store_->ReadCheckpoint(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(bad.status().message().find("checkpoint 3"), absl::string_view::npos);

  absl::StatusOr<std::optional<v1::CheckpointRecord>> latest = store_->LatestValidCheckpoint();
  ASSERT_TRUE(latest.ok()) << latest.status();
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->info().version(), 2u);
  EXPECT_EQ((*latest)->info().cursor(), 6u);
  EXPECT_EQ((*latest)->adapter(), MakeCheckpoint(2, 1, 6).adapter());

  absl::StatusOr<CheckpointListing> listing = store_->ListCheckpoints();
  ASSERT_TRUE(listing.ok());
  EXPECT_EQ(listing->checkpoints.size(), 2u);
  EXPECT_EQ(listing->corrupt_versions, std::vector<uint64_t>{3});

  EXPECT_EQ(store_->SetCurrentVersion(3).code(), absl::StatusCode::kDataLoss);
  ASSERT_TRUE(store_->SetCurrentVersion(2).ok());
  EXPECT_EQ(store_->Cursor(), 6u);
  ASSERT_TRUE(store_->WriteCheckpoint(MakeCheckpoint(4, 2, 10)).ok());

  // Both newest corrupt: falls back two steps.
  CorruptCheckpoint(4);
  CorruptCheckpoint(2);
  latest = store_->LatestValidCheckpoint();
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->info().version(), 1u);
}

}  // namespace
}  // namespace perennial
