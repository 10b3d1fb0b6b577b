// File: learner/model/tokenizer.cc
#include "learner/model/tokenizer.h"

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "learner/model/tokenizer_text.h"

namespace perennial {
namespace {

using tokenizer_internal::AppendUtf8;
using tokenizer_internal::DecodeUtf8;
using tokenizer_internal::EncodeUtf8;

// The reference keeps merges[1 : 49152 - 256 - 2 + 1]: lines 1..48894 of the file.
constexpr size_t kFirstMergeLine = 1;
constexpr size_t kEndMergeLine = 49152 - 256 - 2 + 1;
constexpr size_t kMaxCachedWords = 65536;
constexpr char kEndOfWord[] = "</w>";
constexpr char kSotText[] = "<|startoftext|>";
constexpr char kEotText[] = "<|endoftext|>";

// bytes_to_unicode(): byte b is written as the code point ByteEncoder()[b], chosen so that no
// byte maps to whitespace or a control character. Index i of the returned order is the byte
// whose token id is i (the reference's dict insertion order).
struct ByteTable {
  std::array<char32_t, 256> encoder{};  // byte -> code point
  std::array<uint8_t, 256> order{};     // vocabulary position -> byte
};

ByteTable MakeByteTable() {
  ByteTable table;
  std::array<bool, 256> printable{};
  size_t n = 0;
  auto add_range = [&](int lo, int hi) {
    for (int b = lo; b <= hi; ++b) {
      printable[b] = true;
      table.encoder[b] = static_cast<char32_t>(b);
      table.order[n++] = static_cast<uint8_t>(b);
    }
  };
  add_range('!', '~');
  add_range(0xA1, 0xAC);
  add_range(0xAE, 0xFF);
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    if (printable[b]) continue;
    table.encoder[b] = next++;
    table.order[n++] = static_cast<uint8_t>(b);
  }
  return table;
}

uint64_t PairKey(int32_t first, int32_t second) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(first)) << 32) |
         static_cast<uint32_t>(second);
}

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t begin = 0;
  while (true) {
    size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) {
      lines.push_back(text.substr(begin));
      return lines;
    }
    lines.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
}

bool IsAsciiSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsAsciiSpace(line[i])) ++i;
    size_t begin = i;
    while (i < line.size() && !IsAsciiSpace(line[i])) ++i;
    if (i > begin) fields.push_back(line.substr(begin, i - begin));
  }
  return fields;
}

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("tokenizer: cannot open merges file '" + path + "'");
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return DataLossError("tokenizer: error reading merges file '" + path + "'");
  return contents.str();
}

std::string ExecutableRelativePath() {
  std::error_code error;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error || exe.empty()) return "";
  return (exe.parent_path() / ".." / "share" / "perennial" / "bpe_simple_vocab_16e6.txt")
      .lexically_normal()
      .string();
}

using MergeList = std::vector<std::pair<std::string, std::string>>;

// The lines of a merges file, checked to be plain text with at least the merges CLIP uses.
StatusOr<std::vector<std::string_view>> MergeFileLines(const std::string& contents,
                                                       const std::string& where) {
  if (contents.size() >= 2 && static_cast<unsigned char>(contents[0]) == 0x1F &&
      static_cast<unsigned char>(contents[1]) == 0x8B) {
    return InvalidArgumentError(where + " is gzip-compressed; decompress it first");
  }
  std::vector<std::string_view> lines = SplitLines(contents);
  if (lines.size() < kEndMergeLine) {
    return InvalidArgumentError(where + " has " + std::to_string(lines.size()) +
                                " lines; CLIP's BPE needs at least " +
                                std::to_string(kEndMergeLine));
  }
  return lines;
}

// The merges CLIP keeps (lines kFirstMergeLine..kEndMergeLine - 1), in rank order; each line
// must be two symbols of byte-encoded text.
StatusOr<MergeList> ParseMerges(const std::vector<std::string_view>& lines,
                                const std::unordered_map<char32_t, uint8_t>& byte_decoder,
                                const std::string& where) {
  MergeList merges;
  merges.reserve(kEndMergeLine - kFirstMergeLine);
  for (size_t line = kFirstMergeLine; line < kEndMergeLine; ++line) {
    std::vector<std::string_view> fields = SplitFields(lines[line]);
    bool ok = fields.size() == 2;
    for (size_t f = 0; ok && f < fields.size(); ++f) {
      for (char32_t cp : DecodeUtf8(fields[f])) ok = ok && byte_decoder.count(cp) > 0;
    }
    if (!ok) {
      return InvalidArgumentError(where + " line " + std::to_string(line + 1) +
                                  " is not a merge of two byte-encoded symbols: '" +
                                  std::string(lines[line].substr(0, 80)) + "'");
    }
    merges.emplace_back(std::string(fields[0]), std::string(fields[1]));
  }
  return merges;
}

// Every token's text, by id, in the reference's order: the bytes, the bytes + "</w>", the
// joined merges, then the two special tokens.
std::vector<std::string> TokenTexts(const ByteTable& bytes, const MergeList& merges) {
  std::vector<std::string> vocab;
  vocab.reserve(Tokenizer::kVocabSize);
  for (uint8_t b : bytes.order) {
    vocab.emplace_back();
    AppendUtf8(bytes.encoder[b], &vocab.back());
  }
  for (int i = 0; i < 256; ++i) vocab.push_back(vocab[i] + kEndOfWord);
  for (const auto& [first, second] : merges) vocab.push_back(first + second);
  vocab.push_back(kSotText);
  vocab.push_back(kEotText);
  return vocab;
}

}  // namespace

struct Tokenizer::Vocabulary {
  std::array<int32_t, 256> byte_id{};      // id of the byte's symbol inside a word
  std::array<int32_t, 256> byte_end_id{};  // id of the byte's symbol + "</w>" (word end)
  // (first id, second id) -> (rank, id of the merged symbol).
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;
  std::vector<std::string> token_bytes;  // id -> the raw bytes it stands for ("</w>" included)
  int32_t sot_id = kStartOfText;
  int32_t eot_id = kEndOfText;
};

class Tokenizer::BpeCache {
 public:
  bool Find(const std::string& piece, std::vector<int32_t>* ids) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = words_.find(piece);
    if (it == words_.end()) return false;
    ids->insert(ids->end(), it->second.begin(), it->second.end());
    return true;
  }
  void Insert(const std::string& piece, const std::vector<int32_t>& ids) {
    std::lock_guard<std::mutex> lock(mu_);
    if (words_.size() >= kMaxCachedWords) words_.clear();
    words_.emplace(piece, ids);
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<int32_t>> words_;
};

Tokenizer::Tokenizer(std::shared_ptr<const Vocabulary> vocab, std::shared_ptr<BpeCache> cache)
    : vocab_(std::move(vocab)), cache_(std::move(cache)) {}

StatusOr<Tokenizer> Tokenizer::Load(const std::string& merges_path) {
  PERENNIAL_ASSIGN_OR_RETURN(std::string contents, ReadFile(merges_path));
  const std::string where = "tokenizer: merges file '" + merges_path + "'";
  PERENNIAL_ASSIGN_OR_RETURN(std::vector<std::string_view> lines, MergeFileLines(contents, where));
  const ByteTable bytes = MakeByteTable();
  std::unordered_map<char32_t, uint8_t> byte_decoder;
  for (int b = 0; b < 256; ++b) byte_decoder[bytes.encoder[b]] = static_cast<uint8_t>(b);
  PERENNIAL_ASSIGN_OR_RETURN(MergeList merges, ParseMerges(lines, byte_decoder, where));
  const std::vector<std::string> vocab = TokenTexts(bytes, merges);

  auto result = std::make_shared<Vocabulary>();
  std::unordered_map<std::string, int32_t> encoder;  // later duplicates win, as in a dict
  for (size_t id = 0; id < vocab.size(); ++id) encoder[vocab[id]] = static_cast<int32_t>(id);
  for (int i = 0; i < 256; ++i) {
    uint8_t b = bytes.order[i];
    result->byte_id[b] = encoder.at(vocab[i]);
    result->byte_end_id[b] = encoder.at(vocab[i + 256]);
  }
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    auto first = encoder.find(merges[rank].first);
    auto second = encoder.find(merges[rank].second);
    // A merge of a symbol that is no token can never apply to a word.
    if (first == encoder.end() || second == encoder.end()) continue;
    int32_t merged = encoder.at(merges[rank].first + merges[rank].second);
    result->merges[PairKey(first->second, second->second)] = {static_cast<int32_t>(rank), merged};
  }
  result->token_bytes.reserve(vocab.size());
  for (const std::string& token : vocab) {
    std::string raw;
    for (char32_t cp : DecodeUtf8(token)) raw.push_back(static_cast<char>(byte_decoder.at(cp)));
    result->token_bytes.push_back(std::move(raw));
  }
  result->sot_id = encoder.at(kSotText);
  result->eot_id = encoder.at(kEotText);
  return Tokenizer(std::move(result), std::make_shared<BpeCache>());
}

StatusOr<Tokenizer> Tokenizer::LoadDefault() {
  std::vector<std::string> candidates;
  const char* env = std::getenv("PERENNIAL_BPE_VOCAB");
  if (env != nullptr && env[0] != '\0') {
    candidates.push_back(env);
  } else {
    std::string exe_relative = ExecutableRelativePath();
    if (!exe_relative.empty()) candidates.push_back(exe_relative);
#ifdef PERENNIAL_SOURCE_DIR
    candidates.push_back(std::string(PERENNIAL_SOURCE_DIR) +
                         "/third_party/clip/bpe_simple_vocab_16e6.txt");
#endif
  }
  std::string tried;
  for (const std::string& path : candidates) {
    std::error_code error;
    if (std::filesystem::is_regular_file(path, error)) return Load(path);
    tried += (tried.empty() ? "'" : ", '") + path + "'";
  }
  return NotFoundError("tokenizer: CLIP merges file bpe_simple_vocab_16e6.txt not found; tried " +
                       (tried.empty() ? std::string("nothing") : tried) +
                       " (set PERENNIAL_BPE_VOCAB to its path)");
}

std::vector<int32_t> Tokenizer::Bpe(const std::string& piece) const {
  std::vector<int32_t> word;
  word.reserve(piece.size());
  for (size_t i = 0; i < piece.size(); ++i) {
    uint8_t b = static_cast<uint8_t>(piece[i]);
    word.push_back(i + 1 == piece.size() ? vocab_->byte_end_id[b] : vocab_->byte_id[b]);
  }
  std::vector<int32_t> merged;
  while (word.size() > 1) {
    // The adjacent pair of lowest rank, then every non-overlapping occurrence of it, left to
    // right: the reference's loop.
    int32_t best_rank = -1, first = 0, second = 0, result = 0;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = vocab_->merges.find(PairKey(word[i], word[i + 1]));
      if (it == vocab_->merges.end()) continue;
      if (best_rank < 0 || it->second.first < best_rank) {
        best_rank = it->second.first;
        first = word[i];
        second = word[i + 1];
        result = it->second.second;
      }
    }
    if (best_rank < 0) break;
    merged.clear();
    for (size_t i = 0; i < word.size();) {
      if (word[i] == first && i + 1 < word.size() && word[i + 1] == second) {
        merged.push_back(result);
        i += 2;
      } else {
        merged.push_back(word[i++]);
      }
    }
    word.swap(merged);
  }
  return word;
}

void Tokenizer::AppendPieceIds(const std::string& piece, std::vector<int32_t>* ids) const {
  if (piece == kSotText) {
    ids->push_back(vocab_->sot_id);
    return;
  }
  if (piece == kEotText) {
    ids->push_back(vocab_->eot_id);
    return;
  }
  if (cache_->Find(piece, ids)) return;
  std::vector<int32_t> word = Bpe(piece);
  cache_->Insert(piece, word);
  ids->insert(ids->end(), word.begin(), word.end());
}

std::vector<int32_t> Tokenizer::Encode(std::string_view utf8_text) const {
  std::u32string text = tokenizer_internal::CleanText(utf8_text);
  std::vector<int32_t> ids;
  for (std::u32string_view piece : tokenizer_internal::PreTokenize(text)) {
    AppendPieceIds(EncodeUtf8(piece), &ids);
  }
  return ids;
}

std::vector<int32_t> Tokenizer::Tokenize(std::string_view text, int context_length) const {
  if (context_length <= 0) return {};
  std::vector<int32_t> ids = {vocab_->sot_id};
  std::vector<int32_t> body = Encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.push_back(vocab_->eot_id);
  if (ids.size() > static_cast<size_t>(context_length)) {
    ids.resize(context_length);
    ids.back() = vocab_->eot_id;
  }
  return ids;
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids) const {
  std::string raw;
  for (int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= vocab_->token_bytes.size()) continue;
    raw += vocab_->token_bytes[id];
  }
  std::string text = EncodeUtf8(DecodeUtf8(raw));
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 4, kEndOfWord) == 0) {
      out.push_back(' ');
      i += 4;
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

}  // namespace perennial
