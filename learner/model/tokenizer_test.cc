// File: learner/model/tokenizer_test.cc
#include "learner/model/tokenizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "learner/model/tokenizer_text.h"

namespace perennial {
namespace {

constexpr char kMergesPath[] = "third_party/clip/bpe_simple_vocab_16e6.txt";
constexpr char kFixturePath[] = "tests/fixtures/tokenizer_ids.json";

// One reference case from tests/fixtures/make_tokenizer_fixtures.py.
struct Case {
  std::string text;
  std::vector<int32_t> ids;
  std::vector<int32_t> ids77;  // empty unless the ids are longer than 77
  std::string decoded;
};

// A parser for exactly the fixture's shape: one {"key": string | [ints], ...} object per line,
// strings with JSON escapes (\uXXXX with surrogate pairs). Returns nullopt on anything else.
class LineParser {
 public:
  explicit LineParser(std::string_view line) : s_(line) {}

  std::optional<Case> ParseCase() {
    Case c;
    if (!Eat('{')) return std::nullopt;
    do {
      std::optional<std::string> key = ParseString();
      if (!key || !Eat(':')) return std::nullopt;
      bool ok = false;
      if (*key == "text" || *key == "decoded") {
        std::optional<std::string> value = ParseString();
        ok = value.has_value();
        if (ok) (*key == "text" ? c.text : c.decoded) = *value;
      } else if (*key == "ids" || *key == "ids77") {
        ok = ParseInts(*key == "ids" ? &c.ids : &c.ids77);
      }
      if (!ok) return std::nullopt;
    } while (Eat(','));
    if (!Eat('}')) return std::nullopt;
    return c;
  }

 private:
  void SkipSpace() {
    while (pos_ < s_.size() && s_[pos_] == ' ') ++pos_;
  }
  bool Eat(char c) {
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  std::optional<uint32_t> Hex4() {
    if (pos_ + 4 > s_.size()) return std::nullopt;
    uint32_t v = std::stoul(std::string(s_.substr(pos_, 4)), nullptr, 16);
    pos_ += 4;
    return v;
  }
  std::optional<std::string> ParseString() {
    if (!Eat('"')) return std::nullopt;
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_++];
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) return std::nullopt;
      char e = s_[pos_++];
      static constexpr std::string_view kLetters = "ntrbf", kChars = "\n\t\r\b\f";
      if (const size_t k = kLetters.find(e); k != std::string_view::npos) {
        out.push_back(kChars[k]);
        continue;
      }
      if (e != 'u') {
        out.push_back(e);  // \" \\ \/
        continue;
      }
      std::optional<uint32_t> cp = Hex4();
      if (!cp) return std::nullopt;
      if (*cp >= 0xD800 && *cp <= 0xDBFF && s_.substr(pos_, 2) == "\\u") {
        pos_ += 2;
        std::optional<uint32_t> low = Hex4();
        if (!low) return std::nullopt;
        *cp = 0x10000 + ((*cp - 0xD800) << 10) + (*low - 0xDC00);
      }
      tokenizer_internal::AppendUtf8(*cp, &out);
    }
    if (pos_ >= s_.size()) return std::nullopt;
    ++pos_;
    return out;
  }
  bool ParseInts(std::vector<int32_t>* out) {
    if (!Eat('[')) return false;
    if (Eat(']')) return true;
    do {
      SkipSpace();
      size_t begin = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      if (pos_ == begin) return false;
      out->push_back(std::stoi(std::string(s_.substr(begin, pos_ - begin))));
    } while (Eat(','));
    return Eat(']');
  }

  std::string_view s_;
  size_t pos_ = 0;
};

std::vector<Case> LoadCases() {
  std::ifstream in(kFixturePath);
  std::vector<Case> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line == "[" || line == "]") continue;
    if (!line.empty() && line.back() == ',') line.pop_back();
    std::optional<Case> c = LineParser(line).ParseCase();
    EXPECT_TRUE(c.has_value()) << "unparsable fixture line: " << line;
    if (c) cases.push_back(std::move(*c));
  }
  return cases;
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("perennial_tokenizer_test_" + std::to_string(getpid()) + "_" + name))
      .string();
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
}

// Loads `contents` from a temporary file `name` and returns the status (the file is removed).
// `*path` receives the file's path, which error messages should name.
Status LoadFromContents(const std::string& name, const std::string& contents, std::string* path) {
  *path = TempPath(name);
  WriteFile(*path, contents);
  StatusOr<Tokenizer> loaded = Tokenizer::Load(*path);
  std::filesystem::remove(*path);
  return loaded.status();
}

std::string ReadMerges() {
  std::ifstream in(kMergesPath, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

class TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    StatusOr<Tokenizer> loaded = Tokenizer::Load(kMergesPath);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    tokenizer_ = new Tokenizer(std::move(*loaded));
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    tokenizer_ = nullptr;
  }
  static const Tokenizer& tok() { return *tokenizer_; }

 private:
  static Tokenizer* tokenizer_;
};
Tokenizer* TokenizerTest::tokenizer_ = nullptr;

TEST_F(TokenizerTest, PhotoOfACat) {
  EXPECT_EQ(tok().Encode("a photo of a cat."),
            (std::vector<int32_t>{320, 1125, 539, 320, 2368, 269}));
  EXPECT_EQ(tok().Tokenize("a photo of a cat."),
            (std::vector<int32_t>{49406, 320, 1125, 539, 320, 2368, 269, 49407}));
}

TEST_F(TokenizerTest, MatchesReferenceFixtures) {
  std::vector<Case> cases = LoadCases();
  ASSERT_GE(cases.size(), 40u) << "fixture " << kFixturePath << " missing or short";
  for (const Case& c : cases) {
    std::vector<int32_t> full = tok().Tokenize(c.text, 1 << 20);
    EXPECT_EQ(full, c.ids) << "text: '" << c.text << "'";
    const std::vector<int32_t>& expected77 = c.ids77.empty() ? c.ids : c.ids77;
    EXPECT_EQ(tok().Tokenize(c.text), expected77) << "text: '" << c.text << "'";
    EXPECT_EQ(tok().Decode(c.ids), c.decoded) << "text: '" << c.text << "'";
  }
}

TEST_F(TokenizerTest, TruncationKeepsEndOfTextLast) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "word ";
  std::vector<int32_t> ids = tok().Tokenize(text);
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(ids.front(), Tokenizer::kStartOfText);
  EXPECT_EQ(ids.back(), Tokenizer::kEndOfText);
  EXPECT_EQ(ids[75], tok().Encode("word")[0]);

  EXPECT_EQ(tok().Tokenize(text, 3),
            (std::vector<int32_t>{Tokenizer::kStartOfText, ids[1], Tokenizer::kEndOfText}));
  EXPECT_EQ(tok().Tokenize(text, 1), (std::vector<int32_t>{Tokenizer::kEndOfText}));
  EXPECT_TRUE(tok().Tokenize(text, 0).empty());
  EXPECT_EQ(tok().Tokenize("", 77),
            (std::vector<int32_t>{Tokenizer::kStartOfText, Tokenizer::kEndOfText}));
}

TEST_F(TokenizerTest, DecodeRoundTripsOrdinaryText) {
  // Lower-case words separated by single spaces come back as they were, plus the final space.
  for (std::string text : {"a photo of a cat", "the quick brown fox jumps over the lazy dog",
                           "supercalifragilisticexpialidocious", "caf\xc3\xa9 na\xc3\xafve",
                           "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"}) {
    EXPECT_EQ(tok().Decode(tok().Encode(text)), text + " ");
  }
  EXPECT_EQ(tok().Decode(tok().Encode("The Quick  Brown\tFox")), "the quick brown fox ");
  EXPECT_EQ(tok().Decode(tok().Encode("caf\xc3\xa9")), "caf\xc3\xa9 ");
  // Ids outside the vocabulary are skipped rather than trusted.
  EXPECT_EQ(tok().Decode({-1, 320, 49408, 1 << 30}), "a ");
}

TEST_F(TokenizerTest, InvalidUtf8ReadsAsReplacementCharacters) {
  // Python's decode(errors="replace"): one U+FFFD per maximal invalid subsequence.
  EXPECT_EQ(tok().Encode("a\xff"
                         "b"),
            tok().Encode("a\xef\xbf\xbd"
                         "b"));
  EXPECT_EQ(tok().Encode("\xe2\x82"), tok().Encode("\xef\xbf\xbd"));
  EXPECT_EQ(tok().Encode("\xed\xa0\x80"), tok().Encode("\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"));
}

TEST_F(TokenizerTest, ConcurrentEncodingGivesIdenticalIds) {
  std::vector<Case> cases = LoadCases();
  ASSERT_FALSE(cases.empty());
  StatusOr<Tokenizer> fresh = Tokenizer::Load(kMergesPath);  // empty cache: threads race to fill it
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  constexpr int kThreads = 6;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (size_t i = 0; i < cases.size(); ++i) {
          const Case& c = cases[(i + t * 7) % cases.size()];
          if (fresh->Tokenize(c.text, 1 << 20) != c.ids) ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST(TokenizerLoadTest, MissingFileIsNotFoundNamingIt) {
  StatusOr<Tokenizer> loaded = Tokenizer::Load("/nonexistent/dir/merges.txt");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kNotFound);
  EXPECT_NE(std::string(loaded.status().message()).find("/nonexistent/dir/merges.txt"),
            std::string::npos);
}

TEST(TokenizerLoadTest, ShortFileIsRejected) {
  std::string path;
  const Status status = LoadFromContents("short.txt", "#version: 0.2\ni n\nt h\n", &path);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  std::string message(status.message());
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("48895"), std::string::npos) << message;
}

TEST(TokenizerLoadTest, MalformedMergeLineIsRejectedWithItsLineNumber) {
  std::string merges = ReadMerges();
  ASSERT_GT(merges.size(), 1000u);
  // Replace the third merge line ("t h" region) with a single field.
  size_t line2 = merges.find('\n', merges.find('\n') + 1) + 1;
  size_t line2_end = merges.find('\n', line2);
  std::string corrupt = merges.substr(0, line2) + "justonefield" + merges.substr(line2_end);
  std::string path;
  const Status status = LoadFromContents("corrupt.txt", corrupt, &path);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  std::string message(status.message());
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("line 3 "), std::string::npos) << message;
}

TEST(TokenizerLoadTest, GzipFileIsRejectedWithAHint) {
  std::string path;
  const Status status =
      LoadFromContents("merges.txt.gz", std::string("\x1f\x8b\x08\x00garbage", 11), &path);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(std::string(status.message()).find("gzip"), std::string::npos);
}

TEST(TokenizerLoadTest, LoadDefaultHonoursEnvironmentVariable) {
  ASSERT_EQ(setenv("PERENNIAL_BPE_VOCAB", "/nonexistent/bpe.txt", 1), 0);
  StatusOr<Tokenizer> missing = Tokenizer::LoadDefault();
  ASSERT_EQ(setenv("PERENNIAL_BPE_VOCAB", kMergesPath, 1), 0);
  StatusOr<Tokenizer> found = Tokenizer::LoadDefault();
  unsetenv("PERENNIAL_BPE_VOCAB");
  StatusOr<Tokenizer> fallback = Tokenizer::LoadDefault();  // the source tree copy

  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(std::string(missing.status().message()).find("/nonexistent/bpe.txt"),
            std::string::npos);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->Encode("a photo of a cat."),
            (std::vector<int32_t>{320, 1125, 539, 320, 2368, 269}));
  ASSERT_TRUE(fallback.ok()) << fallback.status().ToString();
  EXPECT_EQ(fallback->Tokenize("cat").size(), 3u);
}

}  // namespace
}  // namespace perennial
