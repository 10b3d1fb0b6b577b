// File: storage/store.h
//
// perennial's durable state in one RocksDB database (DESIGN.md §5):
//   samples      the append-only sample log, seq -> StoredSample
//   dedup        client idempotency key -> seq
//   checkpoints  version -> CheckpointRecord (adapter + optimizer bytes, cursor, metrics)
//   vocab        replay vocabulary words, and named blobs (cached teacher text embeddings)
//   meta         next seq, learner cursor, current checkpoint version and lineage, base model id
//
// Storage knows protobuf and RocksDB, not LibTorch: adapters and optimizer state are opaque bytes.
//
// Example:
//   StoreOptions options;
//   options.dir = "./perennial-data/db";
//   options.base_model_id = model.IdentityHash();
//   absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
//   if (!store.ok()) return store.status();
//   absl::StatusOr<std::vector<AppendResult>> acks = (*store)->AppendSamples(std::move(samples));
//   // acks OK: every sample is on disk (synced WAL), ACCEPTED or DUPLICATE.
//
// Thread-safety: every method may be called from any thread concurrently. The Store must outlive
// all calls into it.
#ifndef PERENNIAL_STORAGE_STORE_H_
#define PERENNIAL_STORAGE_STORE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "perennial/v1/checkpoint.pb.h"
#include "perennial/v1/sample.pb.h"

namespace rocksdb {
class Cache;
class ColumnFamilyHandle;
class DB;
}  // namespace rocksdb

namespace perennial {

struct StoreOptions {
  // Directory of the RocksDB database (parents are created too). Required.
  std::string dir;
  // Identity hash of the base model whose adapters this store holds. Recorded when the database
  // is created; opening it later with a different id fails with FAILED_PRECONDITION. Empty skips
  // the check (inspection tools), but then the database must already exist.
  std::string base_model_id;
  // Create the database when `dir` holds none. Default: true.
  bool create_if_missing = true;
  // fsync the write-ahead log before any write returns, so that an acknowledged sample or
  // checkpoint survives a crash or power loss. Only tests and benchmarks of the CPU path should
  // turn this off. Default: true.
  bool sync_writes = true;
  // Concurrent AppendSamples calls are merged into one synced write (group commit) of at most
  // this many bytes of serialized samples (a single call may exceed it). Default: 8 MiB.
  size_t max_group_commit_bytes = 8 << 20;
  // RocksDB memtable size per column family. Default: 32 MiB.
  size_t write_buffer_bytes = 32 << 20;
  // RocksDB background flush and compaction threads. Default: 2.
  int max_background_jobs = 2;
  // Cap on the memtables of all column families together: above it RocksDB flushes the largest
  // (a shared WriteBufferManager). Without it each family may hold up to two write_buffer_bytes
  // memtables, and the rarely written ones (dedup keys, checkpoints) sit near full for hours.
  // 0: no cap. Default: 64 MiB.
  size_t memtable_budget_bytes = 64 << 20;
  // One LRU cache for the data, index and filter blocks of every family, so that what open SST
  // files hold in memory stays within it instead of growing with the log. Default: 16 MiB.
  size_t block_cache_bytes = 16 << 20;
};

// Memory and disk the store's RocksDB holds, from RocksDB's own accounting (see Store::Usage).
struct StoreUsage {
  // Active and immutable memtables of all families.
  uint64_t memtable_bytes = 0;
  // Index and filter blocks that open SST files hold outside the block cache.
  uint64_t table_reader_bytes = 0;
  // Contents of the shared block cache.
  uint64_t block_cache_bytes = 0;
  // Live SST files of all families.
  uint64_t sst_file_bytes = 0;
};

// Outcome of one appended sample.
struct AppendResult {
  // Sequence number of the sample in the log: new for an accepted sample, the original one for a
  // duplicate idempotency key.
  uint64_t seq = 0;
  // True when the idempotency key was already logged (or repeated earlier in the same group):
  // nothing was written for this sample.
  bool duplicate = false;
};

// What PruneCheckpoints keeps. The current version is always kept.
struct RetentionPolicy {
  // Newest versions kept. Default: 5.
  int keep_last = 5;
  // Keep every checkpoint that has at least one tag. Default: true.
  bool keep_tagged = true;
};

// Result of ListCheckpoints.
struct CheckpointListing {
  // Valid checkpoints, oldest first, with the payload sizes filled in.
  std::vector<v1::CheckpointInfo> checkpoints;
  // Stored versions whose bytes fail the integrity check.
  std::vector<uint64_t> corrupt_versions;
};

class Store {
 public:
  // Opens (or creates) the store in `options.dir`. Errors: INVALID_ARGUMENT for missing options,
  // FAILED_PRECONDITION for a base model mismatch, an unknown schema or a directory locked by
  // another process, NOT_FOUND when the database is missing and create_if_missing is false.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  ~Store();

  const std::string& base_model_id() const { return base_model_id_; }
  const std::string& dir() const { return dir_; }

  // What RocksDB holds now; cheap enough to call at every metrics scrape.
  StoreUsage Usage() const;

  // ---- Sample log (sample_log.cc) ----

  // Appends `samples` in order and returns one result per sample. Accepted samples get
  // consecutive sequence numbers (LastSeq() + 1, ...); a sample whose non-empty idempotency key is
  // already logged, or repeated earlier in the same call, is a duplicate and is not written.
  // Samples, dedup keys and the next sequence number are written in one atomic WriteBatch; when
  // this returns OK they are durable (synced WAL, if sync_writes). Concurrent callers are grouped
  // into one write and fsync (leader/follower group commit); the order of sequence numbers is the
  // order in which calls were queued. On error nothing of this call was written and no sequence
  // number is used up. The store does not validate sample content: that is the server's job.
  absl::StatusOr<std::vector<AppendResult>> AppendSamples(std::vector<v1::Sample> samples);

  // Up to `max_count` logged samples with seq >= from_seq, in sequence order (no gaps). An empty
  // vector when none exist yet. DATA_LOSS if a stored record does not parse.
  absl::StatusOr<std::vector<v1::StoredSample>> ReadSamples(uint64_t from_seq,
                                                            size_t max_count) const;

  // The sample with sequence number `seq`; NOT_FOUND if there is none.
  absl::StatusOr<v1::StoredSample> GetSample(uint64_t seq) const;

  // Sequence number of the newest logged sample; 0 when the log is empty.
  uint64_t LastSeq() const;

  // Blocks until LastSeq() > after_seq or `timeout` passes; returns whether it did. For the
  // learner's cursor-following loop.
  bool WaitForSamples(uint64_t after_seq, absl::Duration timeout) const;

  // ---- Checkpoints (checkpoints.cc) ----

  // Stores `record` and, in the same synced WriteBatch, makes it the current version: meta cursor
  // = record.info().cursor(), current version = record.info().version(), lineage += version.
  // Requires version > MaxCheckpointVersion() (FAILED_PRECONDITION otherwise, so versions are
  // never reused, even after pruning or rollback) and parent_version == CurrentVersion().
  // An empty info.base_model_id is filled in; a different one is FAILED_PRECONDITION.
  // created_time is filled in when unset.
  absl::Status WriteCheckpoint(v1::CheckpointRecord record);

  // All stored checkpoints, oldest first; corrupt ones reported separately.
  absl::StatusOr<CheckpointListing> ListCheckpoints() const;

  // The checkpoint `version`, integrity-checked. NOT_FOUND if absent (or pruned), DATA_LOSS if
  // its bytes fail the CRC32C check or do not parse.
  absl::StatusOr<v1::CheckpointRecord> ReadCheckpoint(uint64_t version) const;

  // The newest readable checkpoint of the current lineage: the current version, or if that is
  // corrupt or missing its newest intact ancestor. nullopt when there is none (start from the
  // base model at cursor 0). When the result's version differs from CurrentVersion(), resume
  // from the result's own cursor and call SetCurrentVersion(result version) to record that.
  absl::StatusOr<std::optional<v1::CheckpointRecord>> LatestValidCheckpoint() const;

  // Deletes checkpoints outside `policy` (never the current version). Returns the deleted versions.
  absl::StatusOr<std::vector<uint64_t>> PruneCheckpoints(const RetentionPolicy& policy);

  // Rollback: makes the stored checkpoint `version` current (0: the base model) and sets the
  // cursor to `cursor`, or when nullopt to the checkpoint's own cursor (0 for the base model).
  // The lineage becomes that checkpoint's ancestry. NOT_FOUND for a missing version, DATA_LOSS for
  // a corrupt one; `cursor` > LastSeq() is INVALID_ARGUMENT.
  absl::Status SetCurrentVersion(uint64_t version, std::optional<uint64_t> cursor = std::nullopt);

  // Version the learner continues from (0: base model, no checkpoint yet).
  uint64_t CurrentVersion() const;
  // Last sequence number trained into the current version's lineage.
  uint64_t Cursor() const;
  // Highest checkpoint version ever written (survives pruning); new versions must exceed it.
  uint64_t MaxCheckpointVersion() const;
  // Versions of the current lineage that are still stored, oldest first; ends with the current.
  std::vector<uint64_t> Lineage() const;

  // ---- Vocabulary and blobs (vocabulary.cc) ----

  // Adds words to the replay vocabulary; returns how many were new. Empty words:
  // INVALID_ARGUMENT and nothing is added.
  absl::StatusOr<size_t> AddVocabulary(const std::vector<std::string>& words);
  // All words, in bytewise order.
  absl::StatusOr<std::vector<std::string>> ListVocabulary() const;
  // Named opaque value (e.g. "teacher_text_embeddings/<model id>"); Put replaces.
  absl::Status PutBlob(absl::string_view name, absl::string_view bytes);
  // NOT_FOUND if absent.
  absl::StatusOr<std::string> GetBlob(absl::string_view name) const;

 private:
  struct Handles;
  struct Writer;

  Store(std::string dir, std::string base_model_id, bool sync_writes,
        size_t max_group_commit_bytes);

  absl::Status LoadMeta();
  // Writes the group at the front of writers_ as one batch; called by the leader with mu_ unheld.
  absl::Status WriteGroup(const std::vector<Writer*>& group, uint64_t first_seq,
                          uint64_t* next_seq);

  const std::string dir_;
  std::string base_model_id_;  // Set by Open, then constant.
  const bool sync_writes_;
  const size_t max_group_commit_bytes_;

  // Shared by every family's table factory; outlives db_ (declared first).
  std::shared_ptr<rocksdb::Cache> block_cache_;
  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<Handles> cf_;

  // Sample log: the writer queue and the next sequence number.
  mutable absl::Mutex mu_;
  std::deque<Writer*> writers_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;

  // Checkpoint metadata, mirrored from `meta`.
  mutable absl::Mutex checkpoint_mu_;
  uint64_t current_version_ ABSL_GUARDED_BY(checkpoint_mu_) = 0;
  uint64_t cursor_ ABSL_GUARDED_BY(checkpoint_mu_) = 0;
  uint64_t max_version_ ABSL_GUARDED_BY(checkpoint_mu_) = 0;
  std::vector<uint64_t> lineage_ ABSL_GUARDED_BY(checkpoint_mu_);

  // Serializes AddVocabulary's check-then-write.
  absl::Mutex vocab_mu_;
};

}  // namespace perennial

#endif  // PERENNIAL_STORAGE_STORE_H_
