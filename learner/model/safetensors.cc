#include "learner/model/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>
#include <string_view>

#include "learner/base/torch_status.h"
#include "learner/model/safetensors_json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors stores little-endian bytes; this reader copies them as they are"
#endif

namespace perennial {
namespace {

using safetensors_internal::JsonValue;

struct DtypeInfo {
  const char* name;
  c10::ScalarType type;
  int64_t itemsize;
  int rank;  // Position in the reference library's Dtype enum; it sorts by it, descending.
};

constexpr DtypeInfo kDtypes[] = {
    {"BOOL", c10::ScalarType::Bool, 1, 0},  {"U8", c10::ScalarType::Byte, 1, 1},
    {"I8", c10::ScalarType::Char, 1, 2},    {"I16", c10::ScalarType::Short, 2, 3},
    {"F16", c10::ScalarType::Half, 2, 4},   {"BF16", c10::ScalarType::BFloat16, 2, 5},
    {"I32", c10::ScalarType::Int, 4, 6},    {"F32", c10::ScalarType::Float, 4, 7},
    {"F64", c10::ScalarType::Double, 8, 8}, {"I64", c10::ScalarType::Long, 8, 9},
};

// The reference library refuses headers above 100 MB; so do we (a corrupt length must not make
// us allocate gigabytes).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

const DtypeInfo* DtypeByName(const std::string& name) {
  for (const DtypeInfo& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

const DtypeInfo* DtypeByType(c10::ScalarType type) {
  for (const DtypeInfo& d : kDtypes) {
    if (type == d.type) return &d;
  }
  return nullptr;
}

struct Entry {
  std::string name;
  const DtypeInfo* dtype = nullptr;
  std::vector<int64_t> shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

struct Header {
  std::vector<Entry> entries;
  std::map<std::string, std::string> metadata;
};

Status Invalid(const std::string& file, const std::string& what) {
  return InvalidArgumentError(file + ": " + what);
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

uint64_t DecodeLength(const unsigned char* p) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | p[i];
  return n;
}

Status ParseMetadata(const std::string& file, const JsonValue& value,
                     std::map<std::string, std::string>* out) {
  if (value.kind != JsonValue::Kind::kObject) {
    return Invalid(file, "\"__metadata__\" must be an object of strings");
  }
  for (size_t i = 0; i < value.keys.size(); ++i) {
    if (value.values[i].kind != JsonValue::Kind::kString) {
      return Invalid(file, "metadata value \"" + value.keys[i] + "\" is not a string");
    }
    (*out)[value.keys[i]] = value.values[i].string_value;
  }
  return OkStatus();
}

// Reads a JSON array of non-negative integers.
Status ParseUintArray(const std::string& where, const JsonValue& value, std::vector<int64_t>* out) {
  if (value.kind != JsonValue::Kind::kArray) {
    return InvalidArgumentError(where + " is not an array");
  }
  for (const JsonValue& v : value.values) {
    if (v.kind != JsonValue::Kind::kInteger || v.integer_value < 0) {
      return InvalidArgumentError(where + " holds something other than a non-negative integer");
    }
    out->push_back(v.integer_value);
  }
  return OkStatus();
}

Status ParseEntry(const std::string& file, const std::string& name, const JsonValue& value,
                  Entry* entry) {
  const std::string where = file + ": tensor '" + name + "'";
  if (value.kind != JsonValue::Kind::kObject) {
    return InvalidArgumentError(where + ": header entry is not an object");
  }
  entry->name = name;
  bool have_dtype = false, have_shape = false, have_offsets = false;
  for (size_t i = 0; i < value.keys.size(); ++i) {
    const std::string& key = value.keys[i];
    const JsonValue& v = value.values[i];
    if (key == "dtype") {
      if (v.kind != JsonValue::Kind::kString) {
        return InvalidArgumentError(where + ": dtype is not a string");
      }
      entry->dtype = DtypeByName(v.string_value);
      if (entry->dtype == nullptr) {
        return InvalidArgumentError(where + ": unsupported dtype \"" + v.string_value + "\"");
      }
      have_dtype = true;
    } else if (key == "shape") {
      PERENNIAL_RETURN_IF_ERROR(ParseUintArray(where + ": shape", v, &entry->shape));
      have_shape = true;
    } else if (key == "data_offsets") {
      std::vector<int64_t> offsets;
      PERENNIAL_RETURN_IF_ERROR(ParseUintArray(where + ": data_offsets", v, &offsets));
      if (offsets.size() != 2) {
        return InvalidArgumentError(where + ": data_offsets must hold exactly two integers");
      }
      entry->begin = static_cast<uint64_t>(offsets[0]);
      entry->end = static_cast<uint64_t>(offsets[1]);
      have_offsets = true;
    } else {
      return InvalidArgumentError(where + ": unexpected field \"" + key + "\"");
    }
  }
  if (!have_dtype || !have_shape || !have_offsets) {
    return InvalidArgumentError(where + ": header entry needs dtype, shape and data_offsets");
  }
  if (entry->end < entry->begin) {
    return InvalidArgumentError(where + ": data_offsets end before they begin");
  }
  // shape x itemsize, refusing overflow: the product must equal the span, which is < 2^63.
  uint64_t bytes = static_cast<uint64_t>(entry->dtype->itemsize);
  for (const int64_t d : entry->shape) {
    if (d != 0 && bytes > (uint64_t{1} << 62) / static_cast<uint64_t>(d)) {
      return InvalidArgumentError(where + ": shape " + ShapeString(entry->shape) + " is too large");
    }
    bytes *= static_cast<uint64_t>(d);
  }
  if (bytes != entry->end - entry->begin) {
    return InvalidArgumentError(where + ": shape " + ShapeString(entry->shape) + " of " +
                                entry->dtype->name + " needs " + std::to_string(bytes) +
                                " bytes but data_offsets span " +
                                std::to_string(entry->end - entry->begin));
  }
  return OkStatus();
}

// Every byte of the data area must belong to exactly one tensor, as the reference library checks.
Status CheckLayout(const std::string& file, const std::vector<Entry>& entries, uint64_t data_size) {
  std::vector<const Entry*> order;
  for (const Entry& e : entries) {
    if (e.end > data_size) {
      return Invalid(file, "tensor '" + e.name + "' data_offsets [" + std::to_string(e.begin) +
                               ", " + std::to_string(e.end) + ") lie outside the " +
                               std::to_string(data_size) +
                               "-byte data area (is the file truncated?)");
    }
    order.push_back(&e);
  }
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry* e : order) {
    if (e->begin < covered) {
      return Invalid(file, "tensor '" + e->name + "' overlaps tensor '" + previous->name + "'");
    }
    if (e->begin > covered) {
      return Invalid(file, "bytes [" + std::to_string(covered) + ", " + std::to_string(e->begin) +
                               ") before tensor '" + e->name + "' belong to no tensor");
    }
    covered = e->end;
    previous = e;
  }
  if (covered != data_size) {
    return Invalid(file, "data area is " + std::to_string(data_size) + " bytes but the tensors " +
                             "cover " + std::to_string(covered));
  }
  return OkStatus();
}

StatusOr<Header> ParseHeader(std::string_view json, uint64_t data_size, const std::string& file) {
  StatusOr<JsonValue> parsed = safetensors_internal::ParseJson(json);
  if (!parsed.ok()) return Invalid(file, std::string(parsed.status().message()));
  if (parsed->kind != JsonValue::Kind::kObject) {
    return Invalid(file, "safetensors header is not a JSON object");
  }
  Header header;
  for (size_t i = 0; i < parsed->keys.size(); ++i) {
    if (parsed->keys[i] == "__metadata__") {
      PERENNIAL_RETURN_IF_ERROR(ParseMetadata(file, parsed->values[i], &header.metadata));
      continue;
    }
    Entry entry;
    PERENNIAL_RETURN_IF_ERROR(ParseEntry(file, parsed->keys[i], parsed->values[i], &entry));
    header.entries.push_back(std::move(entry));
  }
  PERENNIAL_RETURN_IF_ERROR(CheckLayout(file, header.entries, data_size));
  return header;
}

// Checks the 8-byte length prefix against the total size; returns the header length.
StatusOr<uint64_t> CheckPrefix(const unsigned char* prefix, uint64_t total_size,
                               const std::string& file) {
  if (total_size < 8) {
    return Invalid(file, "file is " + std::to_string(total_size) +
                             " bytes, too short for a safetensors header");
  }
  const uint64_t n = DecodeLength(prefix);
  if (n > kMaxHeaderBytes) {
    return Invalid(file, "header length " + std::to_string(n) + " exceeds the 100 MB limit " +
                             "(not a safetensors file?)");
  }
  if (n > total_size - 8) {
    return Invalid(file, "header length " + std::to_string(n) + " is larger than the " +
                             std::to_string(total_size - 8) + " bytes that follow it " +
                             "(truncated, or not a safetensors file)");
  }
  if (n == 0) return Invalid(file, "empty safetensors header");
  return n;
}

// Copies `length` bytes at offset `begin` of the data area into `dst`.
using ReadFn = std::function<Status(uint64_t begin, uint64_t length, void* dst)>;

StatusOr<TensorFile> Materialize(Header header, const std::string& file, const ReadFn& read) {
  TensorFile out;
  out.metadata = std::move(header.metadata);
  for (const Entry& e : header.entries) {
    torch::Tensor t;
    PERENNIAL_RETURN_IF_ERROR(CatchTorch(file + ": allocating tensor '" + e.name + "'", [&] {
      t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype->type));
      return OkStatus();
    }));
    const uint64_t length = e.end - e.begin;
    if (length > 0) PERENNIAL_RETURN_IF_ERROR(read(e.begin, length, t.data_ptr()));
    if (e.dtype->type == c10::ScalarType::Bool) {
      const auto* p = static_cast<const unsigned char*>(t.data_ptr());
      for (uint64_t i = 0; i < length; ++i) {
        if (p[i] > 1) {
          return Invalid(file, "tensor '" + e.name + "' has a BOOL byte other than 0/1");
        }
      }
    }
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

// Closes a file descriptor when it goes out of scope.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

Status PreadAll(int fd, uint64_t offset, uint64_t length, void* dst, const std::string& file) {
  auto* p = static_cast<char*>(dst);
  while (length > 0) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(length, uint64_t{1} << 30));
    const ssize_t got = pread(fd, p, chunk, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return InternalError(file + ": read failed: " + std::strerror(errno));
    if (got == 0) return Invalid(file, "file ended early (truncated while reading?)");
    p += got;
    offset += static_cast<uint64_t>(got);
    length -= static_cast<uint64_t>(got);
  }
  return OkStatus();
}

// ---- writing ----

struct Prepared {
  std::string prefix;                  // 8-byte length + padded JSON header
  std::vector<torch::Tensor> ordered;  // CPU, contiguous, in data order
  uint64_t data_size = 0;
};

StatusOr<Prepared> Prepare(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                           const std::map<std::string, std::string>& metadata) {
  struct Item {
    const std::string* name;
    const DtypeInfo* dtype;
    torch::Tensor tensor;
  };
  std::vector<Item> items;
  std::set<std::string> seen;
  for (const auto& [name, tensor] : tensors) {
    if (name.empty() || name == "__metadata__") {
      return InvalidArgumentError("safetensors: invalid tensor name \"" + name + "\"");
    }
    if (!seen.insert(name).second) {
      return InvalidArgumentError("safetensors: duplicate tensor name '" + name + "'");
    }
    if (!tensor.defined()) {
      return InvalidArgumentError("safetensors: tensor '" + name + "' is undefined");
    }
    const DtypeInfo* dtype = DtypeByType(tensor.scalar_type());
    if (dtype == nullptr) {
      return InvalidArgumentError("safetensors: tensor '" + name + "' has unsupported dtype " +
                                  std::string(c10::toString(tensor.scalar_type())));
    }
    torch::Tensor cpu;
    PERENNIAL_RETURN_IF_ERROR(CatchTorch("safetensors: copying tensor '" + name + "'", [&] {
      cpu = tensor.detach().to(torch::kCPU).contiguous();
      return OkStatus();
    }));
    items.push_back({&name, dtype, std::move(cpu)});
  }
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.dtype->rank != b.dtype->rank) return a.dtype->rank > b.dtype->rank;
    return *a.name < *b.name;
  });

  std::string json = "{";
  if (!metadata.empty()) {
    json += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      if (!first) json += ",";
      first = false;
      json += safetensors_internal::JsonQuote(key) + ":" + safetensors_internal::JsonQuote(value);
    }
    json += "}";
  }
  Prepared prepared;
  uint64_t offset = 0;
  for (const Item& item : items) {
    if (json.size() > 1) json += ",";
    const uint64_t bytes = static_cast<uint64_t>(item.tensor.numel()) * item.dtype->itemsize;
    std::vector<int64_t> shape(item.tensor.sizes().begin(), item.tensor.sizes().end());
    std::string shape_json = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
      if (i > 0) shape_json += ",";
      shape_json += std::to_string(shape[i]);
    }
    shape_json += "]";
    json += safetensors_internal::JsonQuote(*item.name) + ":{\"dtype\":\"" + item.dtype->name +
            "\",\"shape\":" + shape_json + ",\"data_offsets\":[" + std::to_string(offset) + "," +
            std::to_string(offset + bytes) + "]}";
    offset += bytes;
    prepared.ordered.push_back(item.tensor);
  }
  json += "}";
  // Our own reader must accept what we write; this catches names or metadata that are not UTF-8.
  StatusOr<JsonValue> check = safetensors_internal::ParseJson(json);
  if (!check.ok()) {
    return InvalidArgumentError("safetensors: names and metadata must be valid UTF-8 (" +
                                std::string(check.status().message()) + ")");
  }
  json.append((8 - json.size() % 8) % 8, ' ');
  prepared.prefix.resize(8);
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) {
    prepared.prefix[i] = static_cast<char>(n & 0xFF);
    n >>= 8;
  }
  prepared.prefix += json;
  prepared.data_size = offset;
  return prepared;
}

Status WriteAll(int fd, const char* p, uint64_t length, const std::string& file) {
  while (length > 0) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(length, uint64_t{1} << 30));
    const ssize_t put = write(fd, p, chunk);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) {
      const int err = errno;
      const std::string what = file + ": write failed: " + std::strerror(err);
      return err == ENOSPC ? ResourceExhaustedError(what) : InternalError(what);
    }
    p += put;
    length -= static_cast<uint64_t>(put);
  }
  return OkStatus();
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status WritePreparedTo(int fd, const Prepared& prepared, const std::string& file) {
  PERENNIAL_RETURN_IF_ERROR(WriteAll(fd, prepared.prefix.data(), prepared.prefix.size(), file));
  for (const torch::Tensor& t : prepared.ordered) {
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    if (bytes == 0) continue;
    PERENNIAL_RETURN_IF_ERROR(WriteAll(fd, static_cast<const char*>(t.data_ptr()), bytes, file));
  }
  if (fsync(fd) != 0) return InternalError(file + ": fsync failed: " + std::strerror(errno));
  return OkStatus();
}

}  // namespace

StatusOr<TensorFile> ParseSafetensors(const std::string& bytes,
                                      const std::string& name_for_errors) {
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  PERENNIAL_ASSIGN_OR_RETURN(const uint64_t n, CheckPrefix(data, bytes.size(), name_for_errors));
  const uint64_t data_size = bytes.size() - 8 - n;
  PERENNIAL_ASSIGN_OR_RETURN(Header header, ParseHeader(std::string_view(bytes.data() + 8, n),
                                                        data_size, name_for_errors));
  const char* area = bytes.data() + 8 + n;
  return Materialize(std::move(header), name_for_errors,
                     [area](uint64_t begin, uint64_t length, void* dst) {
                       std::memcpy(dst, area + begin, length);
                       return OkStatus();
                     });
}

StatusOr<TensorFile> ReadSafetensors(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string what = path + ": cannot open: " + std::strerror(err);
    return err == ENOENT ? NotFoundError(what) : FailedPreconditionError(what);
  }
  FdCloser closer(fd);
  struct stat st;
  if (fstat(fd, &st) != 0) return InternalError(path + ": stat failed: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Invalid(path, "not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  unsigned char prefix[8] = {0};
  if (size >= 8) PERENNIAL_RETURN_IF_ERROR(PreadAll(fd, 0, 8, prefix, path));
  PERENNIAL_ASSIGN_OR_RETURN(const uint64_t n, CheckPrefix(prefix, size, path));
  std::string json(n, '\0');
  PERENNIAL_RETURN_IF_ERROR(PreadAll(fd, 8, n, json.data(), path));
  PERENNIAL_ASSIGN_OR_RETURN(Header header, ParseHeader(json, size - 8 - n, path));
  const uint64_t area = 8 + n;
  return Materialize(std::move(header), path,
                     [fd, area, &path](uint64_t begin, uint64_t length, void* dst) {
                       return PreadAll(fd, area + begin, length, dst, path);
                     });
}

StatusOr<std::string> SerializeSafetensors(
    const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
    const std::map<std::string, std::string>& metadata) {
  PERENNIAL_ASSIGN_OR_RETURN(Prepared prepared, Prepare(tensors, metadata));
  std::string out;
  out.reserve(prepared.prefix.size() + prepared.data_size);
  out += prepared.prefix;
  for (const torch::Tensor& t : prepared.ordered) {
    out.append(static_cast<const char*>(t.data_ptr()),
               static_cast<size_t>(t.numel()) * t.element_size());
  }
  return out;
}

Status WriteSafetensors(const std::string& path,
                        const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  PERENNIAL_ASSIGN_OR_RETURN(Prepared prepared, Prepare(tensors, metadata));
  std::string temp = path + ".tmp.XXXXXX";
  const int fd = mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0)
    return InternalError(path + ": cannot create a temporary file: " + std::strerror(errno));
  FdCloser closer(fd);
  fchmod(fd, 0644);  // mkstemp's 0600 would hide the file from other readers; best effort.
  Status status = WritePreparedTo(fd, prepared, path);
  if (status.ok() && close(closer.Release()) != 0) {
    status = InternalError(path + ": close failed: " + std::strerror(errno));
  }
  if (status.ok() && rename(temp.c_str(), path.c_str()) != 0) {
    status = InternalError(path + ": rename failed: " + std::strerror(errno));
  }
  if (!status.ok()) {
    unlink(temp.c_str());
    return status;
  }
  // Make the rename itself durable.
  const int dir = open(DirectoryOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    fsync(dir);
    close(dir);
  }
  return OkStatus();
}

}  // namespace perennial
