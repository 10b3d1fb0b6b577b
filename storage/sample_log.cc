// Store's sample log: group-committed appends with deduplication, and cursor reads.
//
// Appends use LevelDB's writer queue: each call enqueues itself; the call at the front (the
// leader) takes the calls queued behind it, assigns sequence numbers, checks idempotency keys and
// writes everything as one synced WriteBatch while the others wait. Only the leader touches
// sequence numbers and dedup state, so assignment and dedup are atomic with the write, sequence
// numbers become visible in order (a reader never sees seq n+1 before n), and a failed write
// uses up no sequence numbers.
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "proto/timestamp.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/keys.h"
#include "storage/rocksdb_status.h"
#include "storage/store.h"
#include "storage/store_internal.h"

namespace perennial {

struct Store::Writer {
  explicit Writer(std::vector<v1::Sample>* s) : samples(s) {}
  std::vector<v1::Sample>* samples;
  std::vector<AppendResult> results;
  absl::Status status;
  bool done = false;
  absl::CondVar cv;
};

namespace {

size_t ApproximateBytes(const std::vector<v1::Sample>& samples) {
  size_t bytes = 0;
  for (const v1::Sample& sample : samples) bytes += sample.ByteSizeLong();
  return bytes;
}

}  // namespace

absl::StatusOr<std::vector<AppendResult>> Store::AppendSamples(std::vector<v1::Sample> samples) {
  if (samples.empty()) return std::vector<AppendResult>();
  Writer self(&samples);
  absl::MutexLock lock(&mu_);
  writers_.push_back(&self);
  while (!self.done && writers_.front() != &self) self.cv.Wait(&mu_);
  if (self.done) {
    if (!self.status.ok()) return self.status;
    return std::move(self.results);
  }

  // Leader: take the queued calls up to the group size limit.
  std::vector<Writer*> group;
  size_t group_bytes = 0;
  for (Writer* writer : writers_) {
    const size_t bytes = ApproximateBytes(*writer->samples);
    if (!group.empty() && group_bytes + bytes > max_group_commit_bytes_) break;
    group.push_back(writer);
    group_bytes += bytes;
  }
  const uint64_t first_seq = next_seq_;
  uint64_t next_seq = first_seq;
  absl::Status status;
  {
    // Followers only enqueue meanwhile; LastSeq() and WaitForSamples() readers are not blocked.
    mu_.Unlock();
    status = WriteGroup(group, first_seq, &next_seq);
    mu_.Lock();
  }
  if (status.ok() && next_seq != first_seq) {
    next_seq_ = next_seq;
  }
  for (Writer* writer : group) {
    writers_.pop_front();
    writer->status = status;
    writer->done = true;
    if (writer != &self) writer->cv.Signal();
  }
  if (!writers_.empty()) writers_.front()->cv.Signal();
  if (!status.ok()) return status;
  return std::move(self.results);
}

absl::Status Store::WriteGroup(const std::vector<Writer*>& group, uint64_t first_seq,
                               uint64_t* next_seq) {
  rocksdb::WriteBatch batch;
  absl::flat_hash_map<std::string, uint64_t> group_keys;
  const absl::Time now = absl::Now();
  uint64_t seq = first_seq;
  std::string value;
  for (Writer* writer : group) {
    writer->results.clear();
    writer->results.reserve(writer->samples->size());
    for (v1::Sample& sample : *writer->samples) {
      const std::string& key = sample.idempotency_key();
      if (!key.empty()) {
        auto it = group_keys.find(key);
        if (it != group_keys.end()) {
          writer->results.push_back({it->second, true});
          continue;
        }
        rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_->dedup, key, &value);
        if (s.ok()) {
          std::optional<uint64_t> existing = DecodeUint64(value);
          if (!existing) {
            return absl::DataLossError(
                absl::StrCat("dedup entry for idempotency key '", key, "' is malformed"));
          }
          writer->results.push_back({*existing, true});
          continue;
        }
        if (!s.IsNotFound()) {
          return FromRocksDbStatus(s, absl::StrCat("look up idempotency key '", key, "'"));
        }
        group_keys.emplace(key, seq);
        batch.Put(cf_->dedup, key, EncodeUint64(seq));
      }
      v1::StoredSample stored;
      stored.set_seq(seq);
      *stored.mutable_received_time() = ToProtoTimestamp(now);
      *stored.mutable_sample() = std::move(sample);
      if (!stored.SerializeToString(&value)) {
        return absl::InternalError(absl::StrCat("cannot serialize sample ", seq));
      }
      batch.Put(cf_->samples, EncodeUint64(seq), value);
      writer->results.push_back({seq, false});
      ++seq;
    }
  }
  if (seq == first_seq) return absl::OkStatus();  // Only duplicates: nothing to write.
  batch.Put(cf_->meta, kMetaNextSeq, EncodeUint64(seq));
  rocksdb::Status s = db_->Write(store_internal::DurableWrite(sync_writes_), &batch);
  if (!s.ok()) {
    return FromRocksDbStatus(
        s, absl::StrCat("append samples ", first_seq, "..", seq - 1, " to ", dir_));
  }
  *next_seq = seq;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::StoredSample>> Store::ReadSamples(uint64_t from_seq,
                                                                 size_t max_count) const {
  std::vector<v1::StoredSample> samples;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_->samples));
  for (it->Seek(EncodeUint64(from_seq)); it->Valid() && samples.size() < max_count; it->Next()) {
    v1::StoredSample& sample = samples.emplace_back();
    if (!sample.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      std::optional<uint64_t> seq = DecodeUint64(store_internal::View(it->key()));
      return absl::DataLossError(absl::StrCat("sample ", seq.value_or(0), " in ", dir_,
                                              " does not parse as perennial.v1.StoredSample"));
    }
  }
  if (!it->status().ok()) return FromRocksDbStatus(it->status(), "read sample log");
  return samples;
}

absl::StatusOr<v1::StoredSample> Store::GetSample(uint64_t seq) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_->samples, EncodeUint64(seq), &value);
  if (s.IsNotFound()) return absl::NotFoundError(absl::StrCat("no sample with seq ", seq));
  if (!s.ok()) return FromRocksDbStatus(s, absl::StrCat("read sample ", seq));
  v1::StoredSample sample;
  if (!sample.ParseFromString(value)) {
    return absl::DataLossError(
        absl::StrCat("sample ", seq, " does not parse as perennial.v1.StoredSample"));
  }
  return sample;
}

uint64_t Store::LastSeq() const {
  absl::MutexLock lock(&mu_);
  return next_seq_ - 1;
}

bool Store::WaitForSamples(uint64_t after_seq, absl::Duration timeout) const {
  auto has_new = [this, after_seq]()
                     ABSL_SHARED_LOCKS_REQUIRED(mu_) { return next_seq_ - 1 > after_seq; };
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&has_new), timeout);
}

}  // namespace perennial
