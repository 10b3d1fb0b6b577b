// File: learner/base/utf8.h
//
// The one UTF-8 encoder (the tokenizer and the safetensors JSON parser both need it).
#ifndef PERENNIAL_LEARNER_BASE_UTF8_H_
#define PERENNIAL_LEARNER_BASE_UTF8_H_

#include <string>

namespace perennial {

// Appends the UTF-8 encoding of `cp` (which must be a Unicode scalar value) to `out`.
inline void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_BASE_UTF8_H_
