#include "learner/online/replay_vocabulary.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <unordered_set>

#include "learner/data/stream.h"
#include "learner/model/zero_shot.h"

namespace perennial {
namespace {

bool IsPlainWord(const std::string& w) {
  if (w.size() < 3 || w.size() > 20) return false;
  for (char c : w) {
    if (c < 'a' || c > 'z') return false;
  }
  return true;
}

bool FileExists(const std::string& path) {
  std::ifstream in(path);
  return in.good();
}

}  // namespace

StatusOr<std::vector<std::string>> LoadWordList(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError("cannot read word list " + path);
  std::vector<std::string> words;
  std::unordered_set<std::string> seen;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (IsPlainWord(line) && seen.insert(line).second) words.push_back(line);
  }
  if (words.empty()) return InvalidArgumentError("word list " + path + " has no usable word");
  return words;
}

std::string DefaultWordListPath() {
  for (const char* p : {"/usr/share/dict/words", "/usr/share/dict/american-english"}) {
    if (FileExists(p)) return p;
  }
  return "";
}

StatusOr<ReplayVocabulary> ReplayVocabulary::Create(std::vector<std::string> words, int max_size,
                                                    uint64_t seed, std::string prompt_template) {
  if (words.empty()) return InvalidArgumentError("replay vocabulary is empty");
  if (max_size < 1) return InvalidArgumentError("replay vocabulary size must be >= 1");
  if (static_cast<int64_t>(words.size()) > max_size) {
    StreamRng rng(seed);
    rng.Shuffle(words);
    words.resize(static_cast<size_t>(max_size));
  }
  std::vector<std::string> prompts;
  prompts.reserve(words.size());
  for (const std::string& w : words) {
    if (w.empty()) return InvalidArgumentError("replay vocabulary holds an empty word");
    PERENNIAL_ASSIGN_OR_RETURN(std::string prompt, FormatTemplate(prompt_template, w));
    prompts.push_back(std::move(prompt));
  }
  ReplayVocabulary v(std::move(words), std::move(prompts));
  v.chunks_.resize(static_cast<size_t>((v.size() + kChunkSize - 1) / kChunkSize));
  return v;
}

std::vector<int64_t> ReplayVocabulary::Draw(int k, uint64_t draw_seed) const {
  const int64_t n = std::min<int64_t>(k, size());
  StreamRng rng(draw_seed);
  std::vector<int64_t> out;
  std::set<int64_t> taken;
  if (2 * n > size()) {  // dense: shuffle all, keep a prefix
    std::vector<int64_t> all(static_cast<size_t>(size()));
    for (int64_t i = 0; i < size(); ++i) all[static_cast<size_t>(i)] = i;
    rng.Shuffle(all);
    all.resize(static_cast<size_t>(n));
    return all;
  }
  while (static_cast<int64_t>(out.size()) < n) {
    const int64_t i = static_cast<int64_t>(rng.Uniform(static_cast<uint64_t>(size())));
    if (taken.insert(i).second) out.push_back(i);
  }
  return out;
}

torch::Tensor ReplayVocabulary::Tokens(const Tokenizer& tokenizer,
                                       const std::vector<int64_t>& indices,
                                       int context_length) const {
  std::vector<std::vector<int32_t>> ids;
  ids.reserve(indices.size());
  for (int64_t i : indices) ids.push_back(tokenizer.Tokenize(prompts_[i], context_length));
  return TokensToTensor(ids, context_length);
}

torch::Tensor ReplayVocabulary::TeacherFeatures(const ClipModel& model, const Tokenizer& tokenizer,
                                                const std::vector<int64_t>& indices) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> rows;
  rows.reserve(indices.size());
  for (int64_t i : indices) {
    const size_t c = static_cast<size_t>(i / kChunkSize);
    if (!chunks_[c].defined()) {
      const int64_t begin = static_cast<int64_t>(c) * kChunkSize;
      const int64_t end = std::min<int64_t>(begin + kChunkSize, size());
      std::vector<int64_t> members;
      for (int64_t j = begin; j < end; ++j) members.push_back(j);
      // On the CPU: EncodeText scans them there and copies them to the model's device itself.
      const torch::Tensor tokens = Tokens(tokenizer, members, model.config().context_length);
      chunks_[c] =
          torch::nn::functional::normalize(model.EncodeText(tokens, nullptr, false),
                                           torch::nn::functional::NormalizeFuncOptions().dim(-1));
      teacher_texts_encoded_ += end - begin;
    }
    rows.push_back(chunks_[c][i - static_cast<int64_t>(c) * kChunkSize]);
  }
  return torch::stack(rows);
}

}  // namespace perennial
