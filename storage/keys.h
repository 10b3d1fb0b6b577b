// File: storage/keys.h
//
// Key and value encodings of the store's column families. Integers are fixed-width big-endian so
// that RocksDB's bytewise order equals numeric order: iterating `samples` walks sequence numbers
// upward and `checkpoints` walks versions upward.
#ifndef PERENNIAL_STORAGE_KEYS_H_
#define PERENNIAL_STORAGE_KEYS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace perennial {

// Column family names (DESIGN.md §5).
inline constexpr char kSamplesFamily[] = "samples";          // BE64 seq -> StoredSample
inline constexpr char kDedupFamily[] = "dedup";              // idempotency key -> BE64 seq
inline constexpr char kCheckpointsFamily[] = "checkpoints";  // BE64 version -> framed record
inline constexpr char kVocabFamily[] = "vocab";              // "w/"+word -> "", "b/"+name -> blob
inline constexpr char kMetaFamily[] = "meta";                // names below -> values

// Keys of the `meta` family.
inline constexpr char kMetaSchemaVersion[] = "schema_version";    // BE64
inline constexpr char kMetaBaseModelId[] = "base_model_id";       // string
inline constexpr char kMetaNextSeq[] = "next_seq";                // BE64
inline constexpr char kMetaCursor[] = "cursor";                   // BE64
inline constexpr char kMetaCurrentVersion[] = "current_version";  // BE64
inline constexpr char kMetaMaxVersion[] = "max_version";          // BE64
inline constexpr char kMetaLineage[] = "lineage";                 // BE64 list, oldest first

// Prefixes inside the `vocab` family.
inline constexpr char kVocabWordPrefix[] = "w/";
inline constexpr char kVocabBlobPrefix[] = "b/";

// 8 bytes, most significant first.
std::string EncodeUint64(uint64_t value);

// Inverse of EncodeUint64; nullopt unless `bytes` is exactly 8 bytes long.
std::optional<uint64_t> DecodeUint64(absl::string_view bytes);

// Concatenated EncodeUint64 values, and back (nullopt unless the size is a multiple of 8).
std::string EncodeUint64List(const std::vector<uint64_t>& values);
std::optional<std::vector<uint64_t>> DecodeUint64List(absl::string_view bytes);

}  // namespace perennial

#endif  // PERENNIAL_STORAGE_KEYS_H_
