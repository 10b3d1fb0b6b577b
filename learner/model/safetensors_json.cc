#include "learner/model/safetensors_json.h"

#include <string_view>
#include <utility>

#include "learner/base/utf8.h"

namespace perennial {
namespace safetensors_internal {
namespace {

constexpr int kMaxDepth = 64;

// JSON's one-letter escapes: a backslash and kEscapeLetters[i] stand for kEscapedChars[i].
// The last, '/', is read but never written (it needs no escape).
constexpr std::string_view kEscapeLetters = "\"\\bfnrt/";
constexpr std::string_view kEscapedChars = "\"\\\b\f\n\r\t/";
constexpr std::string_view kCharsToEscape = kEscapedChars.substr(0, kEscapedChars.size() - 1);

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  StatusOr<JsonValue> ParseDocument() {
    JsonValue value;
    PERENNIAL_RETURN_IF_ERROR(ParseValue(0, &value));
    SkipWhitespace();
    if (pos_ != text_.size()) return Error("unexpected data after the JSON value");
    return value;
  }

 private:
  Status Error(const std::string& what) const {
    return InvalidArgumentError("malformed JSON header at byte " + std::to_string(pos_) + ": " +
                                what);
  }

  void SkipWhitespace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Consume(char c) {
    SkipWhitespace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  Status ParseValue(int depth, JsonValue* out) {
    if (depth > kMaxDepth) return Error("nesting deeper than 64");
    SkipWhitespace();
    if (pos_ >= text_.size()) return Error("unexpected end of header");
    const char c = text_[pos_];
    if (c == '{') return ParseObject(depth, out);
    if (c == '[') return ParseArray(depth, out);
    if (c == '"') {
      out->kind = JsonValue::Kind::kString;
      return ParseString(&out->string_value);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return ParseInteger(out);
    return Error(std::string("unexpected character '") + c + "' (only objects, arrays, strings " +
                 "and integers are allowed)");
  }

  Status ParseObject(int depth, JsonValue* out) {
    out->kind = JsonValue::Kind::kObject;
    ++pos_;  // '{'
    if (Consume('}')) return OkStatus();
    while (true) {
      SkipWhitespace();
      if (pos_ >= text_.size() || text_[pos_] != '"') return Error("expected an object key");
      std::string key;
      PERENNIAL_RETURN_IF_ERROR(ParseString(&key));
      for (const std::string& existing : out->keys) {
        if (existing == key) return Error("duplicate key \"" + key + "\"");
      }
      if (!Consume(':')) return Error("expected ':' after key \"" + key + "\"");
      JsonValue value;
      PERENNIAL_RETURN_IF_ERROR(ParseValue(depth + 1, &value));
      out->keys.push_back(std::move(key));
      out->values.push_back(std::move(value));
      if (Consume(',')) continue;
      if (Consume('}')) return OkStatus();
      return Error("expected ',' or '}' in object");
    }
  }

  Status ParseArray(int depth, JsonValue* out) {
    out->kind = JsonValue::Kind::kArray;
    ++pos_;  // '['
    if (Consume(']')) return OkStatus();
    while (true) {
      JsonValue value;
      PERENNIAL_RETURN_IF_ERROR(ParseValue(depth + 1, &value));
      out->values.push_back(std::move(value));
      if (Consume(',')) continue;
      if (Consume(']')) return OkStatus();
      return Error("expected ',' or ']' in array");
    }
  }

  Status ParseInteger(JsonValue* out) {
    out->kind = JsonValue::Kind::kInteger;
    const bool negative = text_[pos_] == '-';
    if (negative) ++pos_;
    if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9') {
      return Error("expected a digit");
    }
    if (text_[pos_] == '0' && pos_ + 1 < text_.size() && text_[pos_ + 1] >= '0' &&
        text_[pos_ + 1] <= '9') {
      return Error("leading zero in integer");
    }
    // Accumulate as a negative number so that INT64_MIN is representable.
    int64_t value = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const int digit = text_[pos_] - '0';
      if (value < (INT64_MIN + digit) / 10) return Error("integer out of range");
      value = value * 10 - digit;
      ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E')) {
      return Error("non-integer numbers are not allowed");
    }
    if (!negative) {
      if (value == INT64_MIN) return Error("integer out of range");
      value = -value;
    }
    out->integer_value = value;
    return OkStatus();
  }

  Status ParseHex4(uint32_t* out) {
    if (text_.size() - pos_ < 4) return Error("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return Error("bad hex digit in \\u escape");
      }
    }
    *out = v;
    return OkStatus();
  }

  Status ParseEscape(std::string* out) {
    if (pos_ >= text_.size()) return Error("unterminated string");
    const char c = text_[pos_++];
    if (const size_t k = kEscapeLetters.find(c); k != std::string_view::npos) {
      out->push_back(kEscapedChars[k]);
      return OkStatus();
    }
    if (c != 'u') return Error(std::string("bad escape '\\") + c + "'");
    uint32_t cp = 0;
    PERENNIAL_RETURN_IF_ERROR(ParseHex4(&cp));
    if (cp >= 0xDC00 && cp <= 0xDFFF) return Error("unpaired low surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (text_.size() - pos_ < 2 || text_[pos_] != '\\' || text_[pos_ + 1] != 'u') {
        return Error("unpaired high surrogate");
      }
      pos_ += 2;
      uint32_t low = 0;
      PERENNIAL_RETURN_IF_ERROR(ParseHex4(&low));
      if (low < 0xDC00 || low > 0xDFFF) return Error("unpaired high surrogate");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    AppendUtf8(static_cast<char32_t>(cp), out);
    return OkStatus();
  }

  // Copies one UTF-8 sequence starting at pos_, rejecting overlong forms, surrogates and
  // code points above U+10FFFF.
  Status CopyUtf8(std::string* out) {
    const auto b0 = static_cast<unsigned char>(text_[pos_]);
    int length = 0;
    uint32_t cp = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      length = 2;
      cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      length = 3;
      cp = b0 & 0x0F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      length = 4;
      cp = b0 & 0x07;
    } else {
      return Error("invalid UTF-8");
    }
    if (text_.size() - pos_ < static_cast<size_t>(length)) return Error("truncated UTF-8");
    for (int i = 1; i < length; ++i) {
      const auto b = static_cast<unsigned char>(text_[pos_ + i]);
      if ((b & 0xC0) != 0x80) return Error("invalid UTF-8");
      cp = (cp << 6) | (b & 0x3F);
    }
    if ((length == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (length == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
      return Error("invalid UTF-8");
    }
    out->append(text_.data() + pos_, length);
    pos_ += length;
    return OkStatus();
  }

  Status ParseString(std::string* out) {
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= text_.size()) return Error("unterminated string");
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return OkStatus();
      }
      if (c == '\\') {
        ++pos_;
        PERENNIAL_RETURN_IF_ERROR(ParseEscape(out));
      } else if (c < 0x20) {
        return Error("control character in string");
      } else if (c < 0x80) {
        out->push_back(static_cast<char>(c));
        ++pos_;
      } else {
        PERENNIAL_RETURN_IF_ERROR(CopyUtf8(out));
      }
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

StatusOr<JsonValue> ParseJson(std::string_view text) { return Parser(text).ParseDocument(); }

std::string JsonQuote(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (const size_t k = kCharsToEscape.find(ch); k != std::string_view::npos) {
      out.push_back('\\');
      out.push_back(kEscapeLetters[k]);
    } else if (c < 0x20) {
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace safetensors_internal
}  // namespace perennial
