// File: learner/model/tokenizer.h
//
// CLIP's byte-level BPE tokenizer, giving the same ids as the reference
// clip/simple_tokenizer.py (OpenAI CLIP) and open_clip's tokenize(): "a photo of a cat." ->
// 49406 320 1125 539 320 2368 269 49407.
//
// Text goes through the reference's steps: html.unescape twice, strip, whitespace collapse,
// lower-case (Python's str.lower(), final sigma included), the pre-tokenisation pattern, byte
// encoding and BPE with the merge ranks. The Unicode classes and case map are generated from
// Python (scripts/gen_unicode_tables.py), so they agree with the reference for every code point.
//
// Not reproduced: ftfy.fix_text(), which the reference runs first. For ordinary, already
// NFC-normalised text it changes nothing; it does change mojibake ("cafÃ©"), text in decomposed
// form (NFD), curly quotes (’ -> '), Latin ligatures (ﬁ -> fi), full-width forms and a few
// control/escape sequences. Pass NFC text with plain quotes to be exact. Invalid UTF-8 input is
// read as if decoded with errors="replace" (one U+FFFD per invalid sequence).
//
// Example:
//   PERENNIAL_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::LoadDefault());
//   std::vector<int32_t> ids = tokenizer.Tokenize("a photo of a cat.");
#ifndef PERENNIAL_LEARNER_MODEL_TOKENIZER_H_
#define PERENNIAL_LEARNER_MODEL_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "learner/base/status.h"

namespace perennial {

// Thread-safety: all const methods may be called from any number of threads at once. Copies are
// cheap (they share the immutable vocabulary and the BPE cache).
//
// Cost: Load() parses the first 48895 lines of the merges file (well under 0.1 s) and holds a
// few MB. Encode() is linear in the text for words already seen; a new word costs O(n^2) in its
// length (n bytes) once and is then cached. The cache is guarded by a mutex and bounded (it is
// cleared when it exceeds 65536 words), so memory does not grow with the stream of texts.
class Tokenizer {
 public:
  static constexpr int32_t kStartOfText = 49406;  // <|startoftext|>
  static constexpr int32_t kEndOfText = 49407;    // <|endoftext|>
  static constexpr int32_t kVocabSize = 49408;
  static constexpr int kContextLength = 77;

  // Reads a merges file in the reference's format (bpe_simple_vocab_16e6.txt, uncompressed): a
  // header line, then "first second" merges of which the reference uses lines 1..48894.
  // Errors (naming the file): NotFoundError if it cannot be opened; InvalidArgumentError if it is
  // gzip-compressed, too short, or a merge line is not two symbols of byte-encoded characters.
  static StatusOr<Tokenizer> Load(const std::string& merges_path);

  // Load() on the first of these that exists:
  //   $PERENNIAL_BPE_VOCAB when set (then it is the only candidate),
  //   <directory of the executable>/../share/perennial/bpe_simple_vocab_16e6.txt,
  //   <source tree>/third_party/clip/bpe_simple_vocab_16e6.txt.
  // NotFoundError listing the paths tried when none exists.
  static StatusOr<Tokenizer> LoadDefault();

  // BPE ids of `utf8_text`, without <|startoftext|>/<|endoftext|>, as SimpleTokenizer.encode()
  // (the literal strings "<|startoftext|>" and "<|endoftext|>" in the text map to their ids, as
  // in the reference). Never fails; empty or all-whitespace text gives no ids.
  std::vector<int32_t> Encode(std::string_view utf8_text) const;

  // [kStartOfText] + Encode(text) + [kEndOfText], truncated to `context_length` ids with
  // kEndOfText kept last (open_clip's truncate=True). No padding. context_length <= 0 gives {}.
  std::vector<int32_t> Tokenize(std::string_view text, int context_length = kContextLength) const;

  // SimpleTokenizer.decode(): concatenated token bytes, invalid UTF-8 replaced by U+FFFD and
  // "</w>" by a space (so the text ends with a space). Ids outside [0, kVocabSize) are skipped
  // (the reference raises KeyError).
  std::string Decode(const std::vector<int32_t>& ids) const;

 private:
  struct Vocabulary;
  class BpeCache;

  Tokenizer(std::shared_ptr<const Vocabulary> vocab, std::shared_ptr<BpeCache> cache);

  // The ids of one pre-tokenised piece (its UTF-8 bytes), via the cache.
  void AppendPieceIds(const std::string& piece, std::vector<int32_t>* ids) const;
  std::vector<int32_t> Bpe(const std::string& piece) const;

  std::shared_ptr<const Vocabulary> vocab_;
  std::shared_ptr<BpeCache> cache_;
};

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_TOKENIZER_H_
