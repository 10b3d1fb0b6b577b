// File: learner/model/safetensors_json.h
//
// A small, strict JSON reader and string quoter for safetensors headers. It exists because
// learner/ must build against LibTorch alone (PERENNIAL_MODEL_ONLY), without a JSON library.
//
// Accepted: objects, arrays, strings (all JSON escapes, \u surrogate pairs, valid UTF-8 only) and
// integers that fit int64. Rejected: floats, exponents, true/false/null, duplicate object keys,
// control characters in strings, trailing garbage, nesting deeper than 64. Whitespace around tokens
// is allowed (safetensors pads its header with spaces).
//
// Internal to the safetensors reader/writer; not a general-purpose JSON library.
#ifndef PERENNIAL_LEARNER_MODEL_SAFETENSORS_JSON_H_
#define PERENNIAL_LEARNER_MODEL_SAFETENSORS_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "learner/base/status.h"

namespace perennial {
namespace safetensors_internal {

struct JsonValue {
  enum class Kind { kObject, kArray, kString, kInteger };
  Kind kind = Kind::kObject;
  std::string string_value;   // kString
  int64_t integer_value = 0;  // kInteger
  // kObject: keys[i] -> values[i], in document order. kArray: the elements in values.
  std::vector<std::string> keys;
  std::vector<JsonValue> values;
};

// Parses `text` as exactly one JSON value. On error returns InvalidArgumentError whose message
// says what is wrong and at which byte offset (the caller prefixes the file name).
StatusOr<JsonValue> ParseJson(std::string_view text);

// `s` as a JSON string literal, escaped the way serde_json does (", \, control characters).
std::string JsonQuote(std::string_view s);

}  // namespace safetensors_internal
}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_SAFETENSORS_JSON_H_
