// File: learner/online/replay_vocabulary.h
//
// The replayed vocabulary of VR-LwF (Ding et al., "Don't Stop Learning: Towards Continual
// Learning for the CLIP Model"): a fixed list of words, each embedded as a pseudo-class through a
// prompt template. Every step draws K of them; the teacher's (base model's) text features of the
// drawn words come from a cache, the student embeds them with its adapters.
//
// The teacher cache is filled lazily in fixed chunks of kChunkSize words (vocabulary order): a
// chunk is encoded once, the first time one of its words is drawn, and never again (the base
// model does not change). Fixed chunks make a word's cached feature independent of the order in
// which words were drawn (the text encoder's padding depends on its batch), so a restored run
// reproduces an uninterrupted one bit-for-bit without saving the cache.
//
// Thread-safety: none; owned by the learner thread.
#ifndef PERENNIAL_LEARNER_ONLINE_REPLAY_VOCABULARY_H_
#define PERENNIAL_LEARNER_ONLINE_REPLAY_VOCABULARY_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "learner/base/status.h"
#include "learner/model/clip_model.h"
#include "learner/model/tokenizer.h"

namespace perennial {

// Reads a word list (one word per line, e.g. Debian's wamerican /usr/share/dict/words) and keeps
// words of 3 to 20 lower-case ASCII letters: this drops possessives ("cat's"), proper nouns and
// abbreviations. Duplicates are removed; file order is kept. NotFoundError naming the file if it
// cannot be read; InvalidArgumentError if no word survives.
StatusOr<std::vector<std::string>> LoadWordList(const std::string& path);

// The system word list, if one is installed: /usr/share/dict/words, then
// /usr/share/dict/american-english. Empty string when neither exists.
std::string DefaultWordListPath();

class ReplayVocabulary {
 public:
  static constexpr int kChunkSize = 256;

  // Keeps at most `max_size` of `words` (a sample seeded by `seed` when there are more).
  // `prompt_template` holds one "{}". Errors: no words, an empty word, a template without "{}".
  static StatusOr<ReplayVocabulary> Create(std::vector<std::string> words, int max_size,
                                           uint64_t seed, std::string prompt_template);

  int64_t size() const { return static_cast<int64_t>(words_.size()); }
  const std::string& word(int64_t i) const { return words_[i]; }

  // min(k, size()) distinct word indices drawn by a generator seeded with `draw_seed`.
  std::vector<int64_t> Draw(int k, uint64_t draw_seed) const;

  // [k, L] token ids of the prompted words (for the student's text encoder).
  torch::Tensor Tokens(const Tokenizer& tokenizer, const std::vector<int64_t>& indices,
                       int context_length) const;

  // [k, E] unit-norm base-model (no adapters) text features of the words, on the model's device.
  // Encodes the chunks not yet cached. Throws c10::Error on model failure (the learner catches).
  torch::Tensor TeacherFeatures(const ClipModel& model, const Tokenizer& tokenizer,
                                const std::vector<int64_t>& indices);

  // Texts the teacher has encoded so far (each word at most once): for tests and metrics.
  int64_t teacher_texts_encoded() const { return teacher_texts_encoded_; }

 private:
  ReplayVocabulary(std::vector<std::string> words, std::vector<std::string> prompts)
      : words_(std::move(words)), prompts_(std::move(prompts)) {}

  std::vector<std::string> words_;
  std::vector<std::string> prompts_;   // the template filled with each word
  std::vector<torch::Tensor> chunks_;  // per chunk [<= kChunkSize, E], undefined until encoded
  int64_t teacher_texts_encoded_ = 0;
};

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_ONLINE_REPLAY_VOCABULARY_H_
