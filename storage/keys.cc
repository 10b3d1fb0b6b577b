#include "storage/keys.h"

namespace perennial {

std::string EncodeUint64(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 7; i >= 0; --i) {
    bytes[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return bytes;
}

std::optional<uint64_t> DecodeUint64(absl::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  uint64_t value = 0;
  for (unsigned char c : bytes) value = (value << 8) | c;
  return value;
}

std::string EncodeUint64List(const std::vector<uint64_t>& values) {
  std::string bytes;
  bytes.reserve(values.size() * 8);
  for (uint64_t value : values) bytes += EncodeUint64(value);
  return bytes;
}

std::optional<std::vector<uint64_t>> DecodeUint64List(absl::string_view bytes) {
  if (bytes.size() % 8 != 0) return std::nullopt;
  std::vector<uint64_t> values;
  values.reserve(bytes.size() / 8);
  for (size_t i = 0; i < bytes.size(); i += 8) values.push_back(*DecodeUint64(bytes.substr(i, 8)));
  return values;
}

}  // namespace perennial
