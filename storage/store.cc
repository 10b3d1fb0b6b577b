// Store::Open, metadata loading and shutdown. The sample log, checkpoints and vocabulary live in
// sample_log.cc, checkpoints.cc and vocabulary.cc.
#include "storage/store.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "learner/base/status.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/write_buffer_manager.h"
#include "storage/keys.h"
#include "storage/rocksdb_status.h"
#include "storage/store_internal.h"

namespace perennial {
namespace {

constexpr uint64_t kSchemaVersion = 1;

// Options for the database and each family. Memory is bounded by `block_cache` (blocks of every
// family, index and filter blocks included) and a WriteBufferManager (memtables of every family).
rocksdb::Options MakeDbOptions(const StoreOptions& options,
                               const std::shared_ptr<rocksdb::Cache>& block_cache) {
  rocksdb::Options db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = options.max_background_jobs;
  db_options.write_buffer_size = options.write_buffer_bytes;
  db_options.keep_log_file_num = 3;  // RocksDB's own info LOG files.
  if (options.memtable_budget_bytes > 0) {
    db_options.write_buffer_manager =
        std::make_shared<rocksdb::WriteBufferManager>(options.memtable_budget_bytes);
  }
  rocksdb::BlockBasedTableOptions table_options;
  table_options.block_cache = block_cache;
  table_options.cache_index_and_filter_blocks = true;
  // Level-0 files are read on every lookup; keeping their index in the cache costs little.
  table_options.pin_l0_filter_and_index_blocks_in_cache = true;
  db_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options));
  return db_options;
}

uint64_t SumFamilyProperty(rocksdb::DB* db,
                           const std::vector<rocksdb::ColumnFamilyHandle*>& families,
                           const rocksdb::Slice& property) {
  uint64_t total = 0;
  for (rocksdb::ColumnFamilyHandle* family : families) {
    uint64_t value = 0;
    if (db->GetIntProperty(family, property, &value)) total += value;
  }
  return total;
}

// Families to open: ours plus any already in the database (RocksDB refuses to open a database
// without naming all of them).
std::vector<std::string> FamilyNames(const std::string& dir) {
  std::vector<std::string> names = {rocksdb::kDefaultColumnFamilyName,
                                    kSamplesFamily,
                                    kDedupFamily,
                                    kCheckpointsFamily,
                                    kVocabFamily,
                                    kMetaFamily};
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &existing).ok()) {
    for (const std::string& name : existing) {
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  return names;
}

absl::StatusOr<std::optional<std::string>> GetMeta(rocksdb::DB* db,
                                                   rocksdb::ColumnFamilyHandle* meta,
                                                   const char* key) {
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), meta, key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocksDbStatus(s, absl::StrCat("read meta key '", key, "'"));
  return std::optional<std::string>(std::move(value));
}

absl::StatusOr<uint64_t> GetMetaUint64(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* meta,
                                       const char* key, uint64_t default_value) {
  PERENNIAL_ASSIGN_OR_RETURN(std::optional<std::string> bytes, GetMeta(db, meta, key));
  if (!bytes) return default_value;
  std::optional<uint64_t> value = DecodeUint64(*bytes);
  if (!value) {
    return absl::DataLossError(
        absl::StrCat("meta key '", key, "' holds ", bytes->size(), " bytes, want 8"));
  }
  return *value;
}

// The base model id the database in `dir` was created for. A new database records `given` (and
// the schema version); an existing one must have this build's schema and, when `given` is not
// empty, the same id.
absl::StatusOr<std::string> CheckOrRecordBaseModel(rocksdb::DB* db,
                                                   rocksdb::ColumnFamilyHandle* meta,
                                                   const std::string& dir,
                                                   const std::string& given) {
  PERENNIAL_ASSIGN_OR_RETURN(std::optional<std::string> recorded,
                             GetMeta(db, meta, kMetaBaseModelId));
  PERENNIAL_ASSIGN_OR_RETURN(uint64_t schema, GetMetaUint64(db, meta, kMetaSchemaVersion, 0));
  if (!recorded) {
    if (given.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(dir, " records no base model id and none was given"));
    }
    rocksdb::WriteBatch batch;
    batch.Put(meta, kMetaBaseModelId, given);
    batch.Put(meta, kMetaSchemaVersion, EncodeUint64(kSchemaVersion));
    PERENNIAL_RETURN_IF_ERROR(
        FromRocksDbStatus(db->Write(store_internal::DurableWrite(true), &batch),
                          absl::StrCat("initialize database ", dir)));
    return given;
  }
  if (schema != kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(dir, " has storage schema version ", schema,
                                                      "; this build reads version ",
                                                      kSchemaVersion));
  }
  if (!given.empty() && *recorded != given) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", dir, " was created for base model '", *recorded,
        "' but the base model now is '", given,
        "'; its adapters do not fit this model: use another --data-dir or the original model"));
  }
  return *recorded;
}

// The sequence number the next appended sample gets. The log's last key wins over a stale
// counter (both are written in one batch, so they agree unless the meta value was damaged).
absl::StatusOr<uint64_t> NextSeq(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* meta,
                                 rocksdb::ColumnFamilyHandle* samples, const std::string& dir) {
  PERENNIAL_ASSIGN_OR_RETURN(uint64_t next_seq, GetMetaUint64(db, meta, kMetaNextSeq, 1));
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), samples));
  it->SeekToLast();
  if (it->Valid()) {
    std::optional<uint64_t> last = DecodeUint64(store_internal::View(it->key()));
    if (!last) return absl::DataLossError(absl::StrCat("malformed sample key in ", dir));
    next_seq = std::max(next_seq, *last + 1);
  }
  PERENNIAL_RETURN_IF_ERROR(FromRocksDbStatus(it->status(), "scan sample log"));
  return next_seq;
}

}  // namespace

Store::Store(std::string dir, std::string base_model_id, bool sync_writes,
             size_t max_group_commit_bytes)
    : dir_(std::move(dir)),
      base_model_id_(std::move(base_model_id)),
      sync_writes_(sync_writes),
      max_group_commit_bytes_(max_group_commit_bytes),
      cf_(std::make_unique<Handles>()) {}

Store::~Store() {
  if (db_ == nullptr) return;
  for (rocksdb::ColumnFamilyHandle* handle : cf_->all) {
    db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  }
  db_->Close().PermitUncheckedError();
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("StoreOptions.dir is empty");
  if (options.create_if_missing) {
    std::error_code error;
    std::filesystem::create_directories(options.dir, error);
    if (error) {
      return absl::UnavailableError(
          absl::StrCat("cannot create data directory ", options.dir, ": ", error.message()));
    }
  }
  std::error_code exists_error;  // The error_code overload: no exceptions out of Open.
  const bool exists =
      std::filesystem::exists(std::filesystem::path(options.dir) / "CURRENT", exists_error);
  if (!exists && options.base_model_id.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("StoreOptions.base_model_id is empty but ",
                                                   options.dir, " holds no database yet"));
  }
  if (!exists && !options.create_if_missing) {
    return absl::NotFoundError(absl::StrCat("no perennial database in ", options.dir));
  }

  auto store = absl::WrapUnique(new Store(options.dir, options.base_model_id, options.sync_writes,
                                          options.max_group_commit_bytes));
  store->block_cache_ = rocksdb::NewLRUCache(options.block_cache_bytes);
  const rocksdb::Options db_options = MakeDbOptions(options, store->block_cache_);
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& name : FamilyNames(options.dir)) {
    families.emplace_back(name, rocksdb::ColumnFamilyOptions(db_options));
  }
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.dir, families, &store->cf_->all, &db);
  if (!s.ok()) return FromRocksDbStatus(s, absl::StrCat("open database ", options.dir));
  store->db_.reset(db);
  Handles& cf = *store->cf_;
  cf.samples = cf.all[1];
  cf.dedup = cf.all[2];
  cf.checkpoints = cf.all[3];
  cf.vocab = cf.all[4];
  cf.meta = cf.all[5];
  PERENNIAL_RETURN_IF_ERROR(store->LoadMeta());
  return store;
}

StoreUsage Store::Usage() const {
  StoreUsage usage;
  rocksdb::DB* db = db_.get();
  usage.memtable_bytes =
      SumFamilyProperty(db, cf_->all, rocksdb::DB::Properties::kCurSizeAllMemTables);
  usage.table_reader_bytes =
      SumFamilyProperty(db, cf_->all, rocksdb::DB::Properties::kEstimateTableReadersMem);
  usage.sst_file_bytes =
      SumFamilyProperty(db, cf_->all, rocksdb::DB::Properties::kLiveSstFilesSize);
  usage.block_cache_bytes = block_cache_->GetUsage();
  return usage;
}

absl::Status Store::LoadMeta() {
  rocksdb::DB* db = db_.get();
  PERENNIAL_ASSIGN_OR_RETURN(base_model_id_,
                             CheckOrRecordBaseModel(db, cf_->meta, dir_, base_model_id_));
  PERENNIAL_ASSIGN_OR_RETURN(uint64_t next_seq, NextSeq(db, cf_->meta, cf_->samples, dir_));
  PERENNIAL_ASSIGN_OR_RETURN(uint64_t cursor, GetMetaUint64(db, cf_->meta, kMetaCursor, 0));
  PERENNIAL_ASSIGN_OR_RETURN(uint64_t current,
                             GetMetaUint64(db, cf_->meta, kMetaCurrentVersion, 0));
  PERENNIAL_ASSIGN_OR_RETURN(uint64_t max_version,
                             GetMetaUint64(db, cf_->meta, kMetaMaxVersion, 0));
  PERENNIAL_ASSIGN_OR_RETURN(std::optional<std::string> lineage_bytes,
                             GetMeta(db, cf_->meta, kMetaLineage));
  std::optional<std::vector<uint64_t>> lineage =
      DecodeUint64List(lineage_bytes.value_or(std::string()));
  if (!lineage) return absl::DataLossError(absl::StrCat("malformed checkpoint lineage in ", dir_));
  {
    absl::MutexLock lock(&mu_);
    next_seq_ = next_seq;
  }
  absl::MutexLock lock(&checkpoint_mu_);
  cursor_ = cursor;
  current_version_ = current;
  max_version_ = max_version;
  lineage_ = std::move(*lineage);
  return absl::OkStatus();
}

}  // namespace perennial
