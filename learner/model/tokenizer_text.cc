// File: learner/model/tokenizer_text.cc
#include "learner/model/tokenizer_text.h"

#include <algorithm>
#include <iterator>

namespace perennial {
namespace tokenizer_internal {
namespace {

struct CodePointRange {
  char32_t first;
  uint8_t flags;
};
struct LowerPair {
  char32_t from;
  char32_t to;
};
struct HtmlEntity {
  const char* name;
  const char* value;
};
struct HtmlCharref {
  char32_t number;
  char32_t value;
};

#include "learner/model/html_entities.inc"
#include "learner/model/unicode_tables.inc"

constexpr char32_t kReplacement = 0xFFFD;
constexpr char32_t kMaxCodePoint = 0x10FFFF;

bool Has(char32_t cp, uint8_t flag) { return (CodePointFlags(cp) & flag) != 0; }

// --- UTF-8 ---

bool InRange(unsigned char byte, unsigned char lo, unsigned char hi) {
  return byte >= lo && byte <= hi;
}

// The valid range of the second byte after lead byte `lead`, per the Unicode Standard's table
// of well-formed UTF-8 (which also rules out overlongs and surrogates).
void SecondByteRange(unsigned char lead, unsigned char* lo, unsigned char* hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (lead == 0xE0) *lo = 0xA0;
  if (lead == 0xED) *hi = 0x9F;
  if (lead == 0xF0) *lo = 0x90;
  if (lead == 0xF4) *hi = 0x8F;
}

// --- html.unescape ---

bool IsAsciiDigit(char32_t c) { return c >= '0' && c <= '9'; }
bool IsHexDigit(char32_t c) {
  return IsAsciiDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int HexValue(char32_t c) {
  if (IsAsciiDigit(c)) return static_cast<int>(c - '0');
  return static_cast<int>((c | 0x20) - 'a' + 10);
}

const HtmlEntity* FindEntity(std::string_view name) {
  const HtmlEntity* end = kHtmlEntities + std::size(kHtmlEntities);
  const HtmlEntity* it = std::lower_bound(
      kHtmlEntities, end, name,
      [](const HtmlEntity& e, std::string_view n) { return std::string_view(e.name) < n; });
  return it != end && std::string_view(it->name) == name ? it : nullptr;
}

// html._replace_charref for a numeric reference whose value is `number` (saturated above
// U+10FFFF).
void AppendNumericCharref(uint32_t number, std::u32string* out) {
  for (const HtmlCharref& ref : kHtmlInvalidCharrefs) {
    if (ref.number == number) {
      out->push_back(ref.value);
      return;
    }
  }
  if ((number >= 0xD800 && number <= 0xDFFF) || number > kMaxCodePoint) {
    out->push_back(kReplacement);
    return;
  }
  if (std::binary_search(std::begin(kHtmlInvalidCodepoints), std::end(kHtmlInvalidCodepoints),
                         static_cast<char32_t>(number))) {
    return;
  }
  out->push_back(static_cast<char32_t>(number));
}

// Tries a numeric reference at text[pos] == '#'. On a match appends its replacement, returns the
// number of code points consumed (after the '&'); returns 0 if the text is not one.
size_t MatchNumericCharref(std::u32string_view text, size_t pos, std::u32string* out) {
  size_t i = pos + 1;
  bool hex = i < text.size() && (text[i] == 'x' || text[i] == 'X');
  if (hex) ++i;
  size_t digits_begin = i;
  uint32_t number = 0;
  while (i < text.size() && (hex ? IsHexDigit(text[i]) : IsAsciiDigit(text[i]))) {
    uint32_t digit = hex ? HexValue(text[i]) : static_cast<uint32_t>(text[i] - '0');
    number = number > kMaxCodePoint ? number : number * (hex ? 16 : 10) + digit;
    ++i;
  }
  if (i == digits_begin) return 0;
  if (i < text.size() && text[i] == ';') ++i;
  AppendNumericCharref(number, out);
  return i - pos;
}

bool IsEntityNameChar(char32_t c) {
  return c != '\t' && c != '\n' && c != '\f' && c != ' ' && c != '<' && c != '&' && c != '#' &&
         c != ';';
}

// The named reference `name` (up to 32 code points, maybe ending in ';'), as html.unescape
// replaces it: the whole name, else its longest known prefix of length >= 2, else unchanged.
void AppendNamedCharref(std::u32string_view name, std::u32string* out) {
  for (size_t len = name.size(); len >= 2; --len) {
    std::string key = EncodeUtf8(name.substr(0, len));
    if (const HtmlEntity* entity = FindEntity(key)) {
      out->append(DecodeUtf8(entity->value));
      out->append(name.substr(len));
      return;
    }
  }
  out->push_back('&');
  out->append(name);
}

// --- lower-casing ---

char32_t SimpleLower(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  const LowerPair* end = kLowerPairs + std::size(kLowerPairs);
  const LowerPair* it = std::lower_bound(kLowerPairs, end, cp,
                                         [](const LowerPair& p, char32_t c) { return p.from < c; });
  return it != end && it->from == cp ? it->to : cp;
}

// CPython's handle_capital_sigma(): U+03A3 is final (ς) when preceded by a cased letter and not
// followed by one, skipping case-ignorable code points both ways.
bool IsFinalSigma(std::u32string_view text, size_t i) {
  size_t j = i;
  while (j > 0 && Has(text[j - 1], kCaseIgnorable)) --j;
  if (j == 0 || !Has(text[j - 1], kCased)) return false;
  size_t k = i + 1;
  while (k < text.size() && Has(text[k], kCaseIgnorable)) ++k;
  return k == text.size() || !Has(text[k], kCased);
}

// --- pre-tokenisation ---

// Whether `c` matches the lower-case ASCII letter `letter` under the pattern's IGNORECASE.
bool MatchesLetterIgnoreCase(char32_t c, char letter) {
  if (c == static_cast<char32_t>(letter) || c == static_cast<char32_t>(letter - 32)) return true;
  for (const LowerPair& v : kCaseInsensitiveVariants) {
    if (v.from == static_cast<char32_t>(letter) && v.to == c) return true;
  }
  return false;
}

// Length of the literal `literal` (ASCII) at text[pos], or 0 if it does not match there.
size_t MatchLiteral(std::u32string_view text, size_t pos, std::string_view literal) {
  if (text.size() - pos < literal.size()) return 0;
  for (size_t i = 0; i < literal.size(); ++i) {
    char l = literal[i];
    char32_t c = text[pos + i];
    bool ok =
        (l >= 'a' && l <= 'z') ? MatchesLetterIgnoreCase(c, l) : c == static_cast<char32_t>(l);
    if (!ok) return 0;
  }
  return literal.size();
}

size_t MatchRun(std::u32string_view text, size_t pos, uint8_t flag) {
  size_t end = pos;
  while (end < text.size() && Has(text[end], flag)) ++end;
  return end - pos;
}

// The length of the pattern's match at text[pos], or 0 if no alternative matches there.
size_t MatchAt(std::u32string_view text, size_t pos) {
  static constexpr std::string_view kLiterals[] = {
      "<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
  for (std::string_view literal : kLiterals) {
    if (size_t n = MatchLiteral(text, pos, literal)) return n;
  }
  uint8_t flags = CodePointFlags(text[pos]);
  if (flags & kLetter) return MatchRun(text, pos, kLetter);
  if (flags & kNumber) return 1;
  if (flags & kOther) return MatchRun(text, pos, kOther);
  return 0;
}

}  // namespace

uint8_t CodePointFlags(char32_t cp) {
  if (cp > kMaxCodePoint) return 0;
  const CodePointRange* end = kCodePointRanges + std::size(kCodePointRanges);
  const CodePointRange* it = std::upper_bound(
      kCodePointRanges, end, cp, [](char32_t c, const CodePointRange& r) { return c < r.first; });
  return it == kCodePointRanges ? 0 : (it - 1)->flags;
}

std::u32string DecodeUtf8(std::string_view utf8) {
  std::u32string out;
  out.reserve(utf8.size());
  size_t i = 0;
  while (i < utf8.size()) {
    unsigned char lead = static_cast<unsigned char>(utf8[i]);
    if (lead < 0x80) {
      out.push_back(lead);
      ++i;
      continue;
    }
    int length = InRange(lead, 0xC2, 0xDF)   ? 2
                 : InRange(lead, 0xE0, 0xEF) ? 3
                 : InRange(lead, 0xF0, 0xF4) ? 4
                                             : 0;
    if (length == 0) {
      out.push_back(kReplacement);
      ++i;
      continue;
    }
    char32_t cp = lead & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07);
    size_t j = i + 1;
    bool complete = true;
    for (int k = 1; k < length; ++k, ++j) {
      unsigned char lo = 0x80, hi = 0xBF;
      if (k == 1) SecondByteRange(lead, &lo, &hi);
      if (j >= utf8.size() || !InRange(static_cast<unsigned char>(utf8[j]), lo, hi)) {
        complete = false;
        break;
      }
      cp = (cp << 6) | (static_cast<unsigned char>(utf8[j]) & 0x3F);
    }
    out.push_back(complete ? cp : kReplacement);
    i = j;
  }
  return out;
}

std::string EncodeUtf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : text) AppendUtf8(cp, &out);
  return out;
}

std::u32string HtmlUnescape(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    if (text[pos] != '&' || pos + 1 == text.size()) {
      out.push_back(text[pos++]);
      continue;
    }
    size_t start = pos + 1;
    if (text[start] == '#') {
      size_t consumed = MatchNumericCharref(text, start, &out);
      if (consumed == 0) out.push_back(text[pos++]);
      pos = consumed == 0 ? pos : start + consumed;
      continue;
    }
    size_t end = start;
    while (end < text.size() && end - start < 32 && IsEntityNameChar(text[end])) ++end;
    if (end == start) {
      out.push_back(text[pos++]);
      continue;
    }
    if (end < text.size() && text[end] == ';') ++end;
    AppendNamedCharref(text.substr(start, end - start), &out);
    pos = end;
  }
  return out;
}

std::u32string_view StripPySpace(std::u32string_view text) {
  size_t begin = 0, end = text.size();
  while (begin < end && Has(text[begin], kPySpace)) ++begin;
  while (end > begin && Has(text[end - 1], kPySpace)) --end;
  return text.substr(begin, end - begin);
}

std::u32string WhitespaceClean(std::u32string_view text) {
  std::u32string collapsed;
  collapsed.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (!Has(text[i], kRegexSpace)) {
      collapsed.push_back(text[i++]);
      continue;
    }
    while (i < text.size() && Has(text[i], kRegexSpace)) ++i;
    collapsed.push_back(' ');
  }
  return std::u32string(StripPySpace(collapsed));
}

std::u32string ToLower(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char32_t cp = text[i];
    if (cp == 0x3A3) {
      out.push_back(IsFinalSigma(text, i) ? 0x3C2 : 0x3C3);
    } else if (cp == 0x130) {
      out.append(std::begin(kLowerU0130), std::end(kLowerU0130));
    } else {
      out.push_back(SimpleLower(cp));
    }
  }
  return out;
}

std::u32string CleanText(std::string_view utf8) {
  std::u32string text = HtmlUnescape(HtmlUnescape(DecodeUtf8(utf8)));
  return ToLower(WhitespaceClean(StripPySpace(text)));
}

std::vector<std::u32string_view> PreTokenize(std::u32string_view text) {
  std::vector<std::u32string_view> pieces;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t length = MatchAt(text, pos);
    if (length == 0) {
      ++pos;  // like re.findall, skip what no alternative matches (e.g. U+0345)
      continue;
    }
    pieces.push_back(text.substr(pos, length));
    pos += length;
  }
  return pieces;
}

}  // namespace tokenizer_internal
}  // namespace perennial
