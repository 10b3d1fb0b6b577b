// Store's checkpoints: atomic write with the learner's cursor, integrity-checked reads, lineage,
// retention and rollback.
//
// Stored value: "PCK1" | CRC-32C of the record bytes (4 bytes, little-endian) | serialized
// perennial.v1.CheckpointRecord. The CRC covers every byte of the record, so any damage (a torn
// value, flipped bits, a truncated payload) reads back as DATA_LOSS instead of as wrong adapters.
#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "learner/base/status.h"
#include "proto/timestamp.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/crc32c.h"
#include "storage/keys.h"
#include "storage/rocksdb_status.h"
#include "storage/store.h"
#include "storage/store_internal.h"

namespace perennial {
namespace {

constexpr absl::string_view kMagic = "PCK1";
constexpr size_t kHeaderBytes = 8;

std::string FrameRecord(const v1::CheckpointRecord& record) {
  std::string body = record.SerializeAsString();
  const uint32_t crc = Crc32c(body);
  std::string framed(kMagic);
  for (int i = 0; i < 4; ++i) framed.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  framed += body;
  return framed;
}

absl::StatusOr<v1::CheckpointRecord> UnframeRecord(uint64_t version, absl::string_view framed) {
  if (framed.size() < kHeaderBytes || framed.substr(0, kMagic.size()) != kMagic) {
    return absl::DataLossError(
        absl::StrCat("checkpoint ", version, " has no valid header (", framed.size(), " bytes)"));
  }
  uint32_t stored_crc = 0;
  for (int i = 0; i < 4; ++i) {
    stored_crc |= static_cast<uint32_t>(static_cast<unsigned char>(framed[4 + i])) << (8 * i);
  }
  const absl::string_view body = framed.substr(kHeaderBytes);
  const uint32_t crc = Crc32c(body);
  if (crc != stored_crc) {
    return absl::DataLossError(absl::StrCat("checkpoint ", version, " is corrupt: CRC32C ", crc,
                                            " != stored ", stored_crc));
  }
  v1::CheckpointRecord record;
  if (!record.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return absl::DataLossError(
        absl::StrCat("checkpoint ", version, " does not parse as perennial.v1.CheckpointRecord"));
  }
  if (record.info().version() != version) {
    return absl::DataLossError(absl::StrCat("checkpoint stored under version ", version,
                                            " names version ", record.info().version()));
  }
  return record;
}

v1::CheckpointInfo InfoWithSizes(const v1::CheckpointRecord& record) {
  v1::CheckpointInfo info = record.info();
  info.set_adapter_size_bytes(record.adapter().size());
  info.set_optimizer_size_bytes(record.optimizer().size());
  return info;
}

}  // namespace

absl::StatusOr<v1::CheckpointRecord> Store::ReadCheckpoint(uint64_t version) const {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf_->checkpoints, EncodeUint64(version), &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(absl::StrCat("no checkpoint with version ", version));
  }
  if (!s.ok()) return FromRocksDbStatus(s, absl::StrCat("read checkpoint ", version));
  return UnframeRecord(version, value);
}

absl::Status Store::WriteCheckpoint(v1::CheckpointRecord record) {
  v1::CheckpointInfo& info = *record.mutable_info();
  const uint64_t version = info.version();
  if (version == 0) return absl::InvalidArgumentError("checkpoint version must be > 0");
  if (info.base_model_id().empty()) info.set_base_model_id(base_model_id_);
  if (info.base_model_id() != base_model_id_) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint ", version, " is for base model '", info.base_model_id(),
                     "' but this store holds '", base_model_id_, "'"));
  }
  if (!info.has_created_time()) *info.mutable_created_time() = ToProtoTimestamp(absl::Now());
  info.set_adapter_size_bytes(record.adapter().size());
  info.set_optimizer_size_bytes(record.optimizer().size());
  const uint64_t last_seq = LastSeq();
  if (info.cursor() > last_seq) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint ", version, " has cursor ",
                                                   info.cursor(), " beyond the log's last seq ",
                                                   last_seq));
  }

  absl::MutexLock lock(&checkpoint_mu_);
  if (version <= max_version_) {
    return absl::FailedPreconditionError(absl::StrCat("checkpoint version ", version,
                                                      " is not above the highest version written, ",
                                                      max_version_));
  }
  if (info.parent_version() != current_version_) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint ", version, " names parent ", info.parent_version(),
                     " but the current version is ", current_version_));
  }
  std::vector<uint64_t> lineage = lineage_;
  lineage.push_back(version);
  rocksdb::WriteBatch batch;
  batch.Put(cf_->checkpoints, EncodeUint64(version), FrameRecord(record));
  batch.Put(cf_->meta, kMetaCursor, EncodeUint64(info.cursor()));
  batch.Put(cf_->meta, kMetaCurrentVersion, EncodeUint64(version));
  batch.Put(cf_->meta, kMetaMaxVersion, EncodeUint64(version));
  batch.Put(cf_->meta, kMetaLineage, EncodeUint64List(lineage));
  PERENNIAL_RETURN_IF_ERROR(
      FromRocksDbStatus(db_->Write(store_internal::DurableWrite(sync_writes_), &batch),
                        absl::StrCat("write checkpoint ", version, " to ", dir_)));
  cursor_ = info.cursor();
  current_version_ = version;
  max_version_ = version;
  lineage_ = std::move(lineage);
  return absl::OkStatus();
}

absl::StatusOr<CheckpointListing> Store::ListCheckpoints() const {
  CheckpointListing listing;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_->checkpoints));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const uint64_t version = DecodeUint64(store_internal::View(it->key())).value_or(0);
    absl::StatusOr<v1::CheckpointRecord> record =
        UnframeRecord(version, store_internal::View(it->value()));
    if (record.ok()) {
      listing.checkpoints.push_back(InfoWithSizes(*record));
    } else {
      listing.corrupt_versions.push_back(version);
    }
  }
  if (!it->status().ok()) return FromRocksDbStatus(it->status(), "list checkpoints");
  return listing;
}

absl::StatusOr<std::optional<v1::CheckpointRecord>> Store::LatestValidCheckpoint() const {
  const std::vector<uint64_t> lineage = Lineage();
  for (auto v = lineage.rbegin(); v != lineage.rend(); ++v) {
    absl::StatusOr<v1::CheckpointRecord> record = ReadCheckpoint(*v);
    if (record.ok()) return std::optional<v1::CheckpointRecord>(*std::move(record));
    if (!absl::IsDataLoss(record.status()) && !absl::IsNotFound(record.status())) {
      return record.status();
    }
  }
  return std::optional<v1::CheckpointRecord>();
}

absl::StatusOr<std::vector<uint64_t>> Store::PruneCheckpoints(const RetentionPolicy& policy) {
  if (policy.keep_last < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("RetentionPolicy.keep_last is ", policy.keep_last, ", want >= 0"));
  }
  absl::MutexLock lock(&checkpoint_mu_);
  std::vector<uint64_t> versions;
  std::set<uint64_t> keep = {current_version_};
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_->checkpoints));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const uint64_t version = DecodeUint64(store_internal::View(it->key())).value_or(0);
    versions.push_back(version);
    if (policy.keep_tagged) {
      absl::StatusOr<v1::CheckpointRecord> record =
          UnframeRecord(version, store_internal::View(it->value()));
      if (record.ok() && record->info().tags_size() > 0) keep.insert(version);
    }
  }
  if (!it->status().ok()) return FromRocksDbStatus(it->status(), "scan checkpoints");
  const size_t keep_last = static_cast<size_t>(policy.keep_last);
  for (size_t i = versions.size() > keep_last ? versions.size() - keep_last : 0;
       i < versions.size(); ++i) {
    keep.insert(versions[i]);
  }
  std::vector<uint64_t> deleted;
  rocksdb::WriteBatch batch;
  for (uint64_t version : versions) {
    if (keep.count(version) > 0) continue;
    batch.Delete(cf_->checkpoints, EncodeUint64(version));
    deleted.push_back(version);
  }
  if (deleted.empty()) return deleted;
  std::vector<uint64_t> lineage;
  for (uint64_t version : lineage_) {
    if (keep.count(version) > 0) lineage.push_back(version);
  }
  batch.Put(cf_->meta, kMetaLineage, EncodeUint64List(lineage));
  PERENNIAL_RETURN_IF_ERROR(
      FromRocksDbStatus(db_->Write(store_internal::DurableWrite(sync_writes_), &batch),
                        absl::StrCat("prune checkpoints in ", dir_)));
  lineage_ = std::move(lineage);
  return deleted;
}

absl::Status Store::SetCurrentVersion(uint64_t version, std::optional<uint64_t> cursor) {
  absl::MutexLock lock(&checkpoint_mu_);
  std::vector<uint64_t> lineage;
  uint64_t checkpoint_cursor = 0;
  if (version != 0) {
    PERENNIAL_ASSIGN_OR_RETURN(v1::CheckpointRecord record, ReadCheckpoint(version));
    checkpoint_cursor = record.info().cursor();
    auto in_lineage = std::find(lineage_.begin(), lineage_.end(), version);
    if (in_lineage != lineage_.end()) {
      lineage.assign(lineage_.begin(), in_lineage + 1);
    } else {
      // Another branch: rebuild its ancestry from the parent links of the stored records.
      lineage.push_back(version);
      for (uint64_t parent = record.info().parent_version(); parent != 0;) {
        absl::StatusOr<v1::CheckpointRecord> ancestor = ReadCheckpoint(parent);
        if (absl::IsNotFound(ancestor.status())) break;  // Pruned: the lineage starts here.
        lineage.push_back(parent);
        if (absl::IsDataLoss(ancestor.status())) break;  // Its parent link is unreadable.
        if (!ancestor.ok()) return ancestor.status();
        parent = ancestor->info().parent_version();
      }
      std::reverse(lineage.begin(), lineage.end());
    }
  }
  const uint64_t new_cursor = cursor.value_or(checkpoint_cursor);
  const uint64_t last_seq = LastSeq();
  if (new_cursor > last_seq) {
    return absl::InvalidArgumentError(
        absl::StrCat("cursor ", new_cursor, " is beyond the log's last seq ", last_seq));
  }
  rocksdb::WriteBatch batch;
  batch.Put(cf_->meta, kMetaCursor, EncodeUint64(new_cursor));
  batch.Put(cf_->meta, kMetaCurrentVersion, EncodeUint64(version));
  batch.Put(cf_->meta, kMetaLineage, EncodeUint64List(lineage));
  PERENNIAL_RETURN_IF_ERROR(
      FromRocksDbStatus(db_->Write(store_internal::DurableWrite(sync_writes_), &batch),
                        absl::StrCat("set current checkpoint version ", version)));
  cursor_ = new_cursor;
  current_version_ = version;
  lineage_ = std::move(lineage);
  return absl::OkStatus();
}

uint64_t Store::CurrentVersion() const {
  absl::MutexLock lock(&checkpoint_mu_);
  return current_version_;
}

uint64_t Store::Cursor() const {
  absl::MutexLock lock(&checkpoint_mu_);
  return cursor_;
}

uint64_t Store::MaxCheckpointVersion() const {
  absl::MutexLock lock(&checkpoint_mu_);
  return max_version_;
}

std::vector<uint64_t> Store::Lineage() const {
  absl::MutexLock lock(&checkpoint_mu_);
  return lineage_;
}

}  // namespace perennial
