// File: clients/cli/batch_limit.h
//
// How many items the CLI puts into one request: at most a count (the server's per-call limit)
// and at most a number of serialized bytes, so that a request of big items (camera photos)
// stays under the server's message limit. An item bigger than the byte limit goes alone
// rather than not at all. `perennial ingest`, `loadgen` and `query-embed` batch by it.
#ifndef PERENNIAL_CLIENTS_CLI_BATCH_LIMIT_H_
#define PERENNIAL_CLIENTS_CLI_BATCH_LIMIT_H_

#include <cstddef>
#include <vector>

namespace perennial::cli {

// Bytes of items per request by default: a quarter of perennial-server's default
// --max-message-bytes (16 MiB), so that batches of camera photos fit. 64 full-HD JPEGs are
// ~50 MB, which no default server accepts in one message.
inline constexpr size_t kDefaultMaxBatchBytes = size_t{4} << 20;

struct BatchLimit {
  // Items per request; at least 1. Default: 64.
  size_t max_items = 64;
  // Serialized bytes per request. Default: kDefaultMaxBatchBytes.
  size_t max_bytes = kDefaultMaxBatchBytes;

  // Whether an item of `item_bytes` joins a batch that holds `items` items of `bytes` bytes.
  bool Admits(size_t items, size_t bytes, size_t item_bytes) const {
    return items == 0 || (items < max_items && bytes + item_bytes <= max_bytes);
  }
};

// Consecutive batches of items with these serialized sizes, in order: the end index of each
// (the first batch is [0, ends[0]), the next [ends[0], ends[1]), ...). Empty for no items.
std::vector<size_t> BatchEnds(const std::vector<size_t>& item_bytes, const BatchLimit& limit);

}  // namespace perennial::cli

#endif  // PERENNIAL_CLIENTS_CLI_BATCH_LIMIT_H_
