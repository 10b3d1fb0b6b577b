#include "clients/cli/batch_limit.h"

namespace perennial::cli {

std::vector<size_t> BatchEnds(const std::vector<size_t>& item_bytes, const BatchLimit& limit) {
  std::vector<size_t> ends;
  size_t items = 0, bytes = 0;
  for (size_t i = 0; i < item_bytes.size(); ++i) {
    if (!limit.Admits(items, bytes, item_bytes[i])) {
      ends.push_back(i);
      items = bytes = 0;
    }
    ++items;
    bytes += item_bytes[i];
  }
  if (items > 0) ends.push_back(item_bytes.size());
  return ends;
}

}  // namespace perennial::cli
