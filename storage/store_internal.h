// File: storage/store_internal.h
//
// Definitions shared by the .cc files that implement Store; not part of its API.
#ifndef PERENNIAL_STORAGE_STORE_INTERNAL_H_
#define PERENNIAL_STORAGE_STORE_INTERNAL_H_

#include <vector>

#include "absl/strings/string_view.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "storage/store.h"

namespace perennial {

struct Store::Handles {
  rocksdb::ColumnFamilyHandle* samples = nullptr;
  rocksdb::ColumnFamilyHandle* dedup = nullptr;
  rocksdb::ColumnFamilyHandle* checkpoints = nullptr;
  rocksdb::ColumnFamilyHandle* vocab = nullptr;
  rocksdb::ColumnFamilyHandle* meta = nullptr;
  // Every handle RocksDB returned (also the default and unknown families); destroyed on close.
  std::vector<rocksdb::ColumnFamilyHandle*> all;
};

namespace store_internal {

// RocksDB's Slice as an absl::string_view (Debian's Abseil has its own string_view type).
inline absl::string_view View(const rocksdb::Slice& slice) {
  return absl::string_view(slice.data(), slice.size());
}

// WriteOptions for durable writes.
inline rocksdb::WriteOptions DurableWrite(bool sync) {
  rocksdb::WriteOptions options;
  options.sync = sync;
  return options;
}

}  // namespace store_internal
}  // namespace perennial

#endif  // PERENNIAL_STORAGE_STORE_INTERNAL_H_
