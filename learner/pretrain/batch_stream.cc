#include "learner/pretrain/batch_stream.h"

#include <unordered_map>

#include "learner/model/clip_model.h"
#include "learner/model/preprocess.h"
#include "learner/pretrain/contrastive_loss.h"

namespace perennial {

torch::Tensor NormalizeImages(const std::vector<const Image*>& images) {
  const PreprocessOptions clip;  // CLIP's mean and std
  const int64_t n = static_cast<int64_t>(images.size());
  const int64_t h = n > 0 ? images[0]->height : 0, w = n > 0 ? images[0]->width : 0;
  torch::Tensor out = torch::empty({n, 3, h, w}, torch::kFloat32);
  float* dst = out.data_ptr<float>();
  // Scalar loops, not torch ops: this runs on the data thread and must not compete for
  // LibTorch's intra-op pool with the training step.
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* src = images[static_cast<size_t>(i)]->pixels.data();
    for (int c = 0; c < 3; ++c) {
      const float scale = 1.0f / (255.0f * clip.std[c]);
      const float shift = -clip.mean[c] / clip.std[c];
      float* plane = dst + (i * 3 + c) * h * w;
      for (int64_t p = 0; p < h * w; ++p) {
        plane[p] = static_cast<float>(src[p * 3 + c]) * scale + shift;
      }
    }
  }
  return out;
}

namespace {

// [N, M]: 1 where unique caption m is one of the captions true of sample n (its full caption
// list, of which the training caption is one).
torch::Tensor AllTrueCaptionPositives(const std::vector<WorldSample>& samples,
                                      const std::vector<std::string>& texts) {
  std::unordered_map<std::string, int64_t> column;
  for (size_t m = 0; m < texts.size(); ++m) column.emplace(texts[m], static_cast<int64_t>(m));
  const int64_t n = static_cast<int64_t>(samples.size());
  torch::Tensor out = torch::zeros({n, static_cast<int64_t>(texts.size())}, torch::kFloat32);
  auto a = out.accessor<float, 2>();
  for (int64_t i = 0; i < n; ++i) {
    for (const Caption& caption : samples[static_cast<size_t>(i)].captions) {
      const auto it = column.find(caption.text);
      if (it != column.end()) a[i][it->second] = 1.0f;
    }
  }
  return out;
}

}  // namespace

PretrainBatch MakePretrainBatch(const PretrainOptions& options, const Tokenizer& tokenizer,
                                int64_t index) {
  WorldOptions world = options.world;
  world.resolution = options.model.image_resolution;
  world.background_level = CurriculumBackgroundLevel(options, index);
  const std::vector<WorldSample> samples =
      GenerateBatch(options.seed, static_cast<uint64_t>(index), options.batch_size, world);
  std::vector<const Image*> images;
  std::vector<std::string> captions;
  for (const WorldSample& s : samples) {
    images.push_back(&s.image);
    captions.push_back(s.caption());
  }
  UniqueCaptions unique = DeduplicateCaptions(captions);
  std::vector<std::vector<int32_t>> ids;
  for (const std::string& text : unique.texts) {
    ids.push_back(tokenizer.Tokenize(text, options.model.context_length));
  }
  PretrainBatch batch;
  batch.index = index;
  batch.pixels = NormalizeImages(images);
  batch.tokens = TokensToTensor(ids, options.model.context_length);
  batch.caption_index = torch::tensor(unique.index_of, torch::kLong);
  batch.positives = options.all_true_captions_positive
                        ? AllTrueCaptionPositives(samples, unique.texts)
                        : OwnCaptionPositives(batch.caption_index, unique.texts.size());
  batch.captions = std::move(unique.texts);
  return batch;
}

BatchStream::BatchStream(const PretrainOptions& options, const Tokenizer& tokenizer,
                         int64_t first_index)
    : options_(options), tokenizer_(tokenizer) {
  thread_ = std::thread([this, first_index] { Produce(first_index); });
}

BatchStream::~BatchStream() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void BatchStream::Produce(int64_t first_index) {
  for (int64_t index = first_index; index < options_.steps; ++index) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [this] {
        return stopping_ || ready_.size() < static_cast<size_t>(options_.prefetch_batches);
      });
      if (stopping_) return;
    }
    PretrainBatch batch = MakePretrainBatch(options_, tokenizer_, index);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.push_back(std::move(batch));
    }
    changed_.notify_all();
  }
}

PretrainBatch BatchStream::Next() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return !ready_.empty(); });
  PretrainBatch batch = std::move(ready_.front());
  ready_.pop_front();
  lock.unlock();
  changed_.notify_all();
  return batch;
}

}  // namespace perennial
