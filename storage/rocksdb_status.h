// File: storage/rocksdb_status.h
//
// The one place where rocksdb::Status becomes absl::Status.
#ifndef PERENNIAL_STORAGE_ROCKSDB_STATUS_H_
#define PERENNIAL_STORAGE_ROCKSDB_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rocksdb/status.h"

namespace perennial {

// Maps `status` to the closest absl code, with `context` (what was being done: "append samples
// to /data/db") prefixed to RocksDB's message. Corruption -> DATA_LOSS; no space ->
// RESOURCE_EXHAUSTED; a data directory locked by another process -> FAILED_PRECONDITION; other
// I/O errors, busy and shutdown -> UNAVAILABLE; NotFound -> NOT_FOUND.
absl::Status FromRocksDbStatus(const rocksdb::Status& status, absl::string_view context);

}  // namespace perennial

#endif  // PERENNIAL_STORAGE_ROCKSDB_STATUS_H_
