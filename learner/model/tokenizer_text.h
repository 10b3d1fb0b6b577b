// File: learner/model/tokenizer_text.h
//
// Internal to the CLIP tokenizer (learner/model/tokenizer.h): the text clean-up and the
// pre-tokenisation regex of clip/simple_tokenizer.py, re-implemented over Unicode code points
// with tables generated from Python by scripts/gen_unicode_tables.py, so that they agree with the
// reference (html.unescape, str.strip, str.lower, and the `regex` module's \s, \p{L}, \p{N} under
// IGNORECASE) code point for code point. Not a public API; include tokenizer.h instead.
//
// All functions are pure and thread-safe.
#ifndef PERENNIAL_LEARNER_MODEL_TOKENIZER_TEXT_H_
#define PERENNIAL_LEARNER_MODEL_TOKENIZER_TEXT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "learner/base/utf8.h"

namespace perennial {
namespace tokenizer_internal {

// Code point class bits, as written by scripts/gen_unicode_tables.py.
enum CodePointFlag : uint8_t {
  kLetter = 1,          // [\p{L}] (regex module, IGNORECASE)
  kNumber = 2,          // [\p{N}]
  kOther = 4,           // [^\s\p{L}\p{N}]
  kRegexSpace = 8,      // regex's \s
  kPySpace = 16,        // str.isspace(): what str.strip() removes
  kCaseIgnorable = 32,  // skipped when str.lower() looks for a final sigma's context
  kCased = 64,          // cased (and not case-ignorable) for the final-sigma rule
};

// The flags of one code point (0 for surrogates and values above U+10FFFF).
uint8_t CodePointFlags(char32_t cp);

// Decodes UTF-8 the way Python's bytes.decode("utf-8", errors="replace") does: each maximal
// invalid subsequence becomes one U+FFFD.
std::u32string DecodeUtf8(std::string_view utf8);

// AppendUtf8 (the encoder of one code point) lives in learner/base/utf8.h.
using ::perennial::AppendUtf8;
std::string EncodeUtf8(std::u32string_view text);

// Python's html.unescape(): named (HTML5) and numeric character references.
std::u32string HtmlUnescape(std::u32string_view text);

// Python's str.strip() with no argument.
std::u32string_view StripPySpace(std::u32string_view text);

// simple_tokenizer.whitespace_clean(): runs of \s become one space, then strip().
std::u32string WhitespaceClean(std::u32string_view text);

// Python's str.lower(), including the final-sigma rule.
std::u32string ToLower(std::u32string_view text);

// whitespace_clean(basic_clean(text)).lower() without ftfy: html.unescape twice, strip,
// whitespace collapse, lower-case.
std::u32string CleanText(std::string_view utf8);

// re.findall(pat, text) for CLIP's pattern
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// with IGNORECASE. Returns the matched pieces in order.
std::vector<std::u32string_view> PreTokenize(std::u32string_view text);

}  // namespace tokenizer_internal
}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_TOKENIZER_TEXT_H_
