// File: learner/online/online_options.h
//
// What an OnlineLearner does with each batch: the method (frozen, asym-ft, er, sit, sit+vrlwf,
// lwf) and its hyper-parameters. The methods are not separate trainers; each maps to a
// LossRecipe (which classes the cross-entropy runs over, whether replay samples are mixed in,
// which distillation terms are added), and one code path composes the loss from the recipe.
#ifndef PERENNIAL_LEARNER_ONLINE_ONLINE_OPTIONS_H_
#define PERENNIAL_LEARNER_ONLINE_ONLINE_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "learner/base/status.h"
#include "learner/model/pet.h"

namespace perennial {

enum class OnlineMethod {
  kFrozen,    // no updates: the zero-shot floor
  kAsymFt,    // cross-entropy over all classes seen so far (asymmetric full-negative fine-tune)
  kEr,        // kAsymFt plus a reservoir replay buffer mixed into every step (classic ER)
  kSit,       // Symmetric Image-Text tuning: cross-entropy over the batch's classes only
  kSitVrLwf,  // kSit plus VR-LwF distillation on replayed-vocabulary pseudo-classes
  kLwf,       // kSit plus classic LwF: KD against the last published snapshot, all seen labels
};

// "frozen" | "asym-ft" | "er" | "sit" | "sit+vrlwf" | "lwf".
const char* OnlineMethodName(OnlineMethod method);
StatusOr<OnlineMethod> ParseOnlineMethod(const std::string& name);

// Which class texts the cross-entropy of one step runs over.
enum class ClassScope {
  kBatch,    // the distinct labels of the (replay-mixed) batch: SIT
  kAllSeen,  // every label seen so far: the asymmetric baseline
};

// The loss composition of one method.
struct LossRecipe {
  bool update = true;  // false: the adapters never change (frozen)
  ClassScope scope = ClassScope::kBatch;
  bool replay = false;         // mix reservoir samples into each step
  bool vocabulary_kd = false;  // + lambda * T^2 * KL(base || student) on pseudo-classes
  bool snapshot_kd = false;    // + lambda * T^2 * KL(last snapshot || student), all seen labels
};

LossRecipe RecipeFor(OnlineMethod method);

struct OnlineLearnerOptions {
  // Default: SIT (the service's method).
  OnlineMethod method = OnlineMethod::kSit;
  // Optimizer steps per observed batch (the Si-Blurry "online_iter"). Default: 1.
  int online_iters = 1;
  // AdamW learning rate. Default: 1e-3, a common LoRA rate (LoRA's B starts at zero, so small
  // rates such as full fine-tuning's 1e-5 barely move it within one pass of a stream).
  double learning_rate = 1e-3;
  // AdamW decoupled weight decay on the adapter tensors. Default: 0.01 (PyTorch's AdamW default).
  double weight_decay = 0.01;
  // AdamW betas and epsilon. Default: PyTorch's (0.9, 0.999, 1e-8).
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  // Where and how adapters are attached. Default: LoRA r=8, alpha=16 on both towers.
  PetOptions pet;
  // Prompt templates, each with one "{}" for the label text; class text features are the mean of
  // the normalised features over templates. Default: CLIP's "a photo of a {}.".
  std::vector<std::string> templates = {"a photo of a {}."};

  // er: reservoir buffer capacity in samples. Default: 500.
  int replay_buffer_size = 500;
  // er: replay samples mixed into each step (at most the buffer's size). Default: 16.
  int replay_batch_size = 16;

  // sit+vrlwf: pseudo-classes sampled from the vocabulary per step (K). Default: 64.
  int vrlwf_num_pseudo_classes = 64;
  // Weight of the distillation term (lambda), for sit+vrlwf and lwf. Default: 1.
  double kd_weight = 1.0;
  // Distillation temperature T (the loss is scaled by T^2). Default: 2.
  double kd_temperature = 2.0;
  // sit+vrlwf: at most this many words of the word list are used (a seeded sample of it), which
  // bounds the teacher-embedding cache to vocabulary_size x embed_dim floats. Default: 20000.
  int vocabulary_size = 20000;
  // sit+vrlwf: template the pseudo-class words are embedded with. Default: "a photo of a {}.".
  std::string vocabulary_template = "a photo of a {}.";

  // Publish a ModelSnapshot every k optimizer steps (and on Publish()). Default: 10.
  int publish_every_k_steps = 10;
  // LoRA: published snapshots carry merged weights (ClipModel::MergeAdapters), so queries pay
  // no adapter cost (ViT-B/32 image encode: 600 -> 545 ms per 16 images here), at one merge per
  // publication and a copy of the adapted weights per live snapshot. Default: true.
  bool merge_snapshots = true;
  // Observe() first predicts the batch over all seen labels with the current adapters and counts
  // hits (prequential, test-then-train accuracy); costs one extra no-grad forward. Default: true.
  bool prequential = true;
  // CPU: the image tower's training forward and backward run as this many parts of the batch,
  // each on its own thread with an equal share of the learner's intra-op threads
  // (sharded_image_encoder.h). Written for small models when perennial's CPU kernels ran on
  // one thread; since they split work between the intra-op threads (session 28) the unsplit
  // step is faster on 2 threads (bench/README.md). Results equal the unsplit step's up to float
  // rounding. Ignored on GPUs and with LoRA dropout (its random masks would depend on thread
  // timing). Default: 1 (not split).
  int image_parts = 1;
  // CPU, sit+vrlwf: the teacher's image forward (no gradient, nothing from the student) runs on
  // a helper thread with one intra-op thread while the student's forward runs on the learner's,
  // i.e. on a core beyond the learner's threads (helper_thread.h). The helper yields to queries
  // through the learner thread's yield hook. Results are the serial step's up to float rounding
  // (its teacher forward then ran with the learner's thread count). Default: false.
  bool parallel_teacher = false;
  // Seeds adapter initialisation, replay and vocabulary sampling and LoRA dropout. Default: 1.
  uint64_t seed = 1;

  Status Validate() const;
};

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_ONLINE_ONLINE_OPTIONS_H_
