// File: storage/crc32c.h
//
// CRC-32C (Castagnoli polynomial, as in iSCSI, LevelDB and RocksDB): the integrity check framed
// around stored checkpoints. Portable table-driven implementation; about 1 GB/s, which is plenty
// for megabyte-sized adapters.
#ifndef PERENNIAL_STORAGE_CRC32C_H_
#define PERENNIAL_STORAGE_CRC32C_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace perennial {

// CRC-32C of `data` continued from `crc` (the CRC of the bytes before it; 0 to start).
// Crc32c("123456789") == 0xE3069283.
uint32_t Crc32cExtend(uint32_t crc, absl::string_view data);

inline uint32_t Crc32c(absl::string_view data) { return Crc32cExtend(0, data); }

}  // namespace perennial

#endif  // PERENNIAL_STORAGE_CRC32C_H_
