// File: learner/pretrain/pretrain_options.h
//
// Everything `perennial pretrain` can be told: the architecture of the model trained from scratch,
// the optimisation (AdamW, warmup + hold + cosine schedule, clipping), the synthetic world and its
// background curriculum, evaluation and checkpointing. The defaults are the configuration of the
// shipped model (models/perennial-tiny-clip.safetensors): about 95 minutes on 2 CPU cores to
// >= 0.95 zero-shot accuracy on the colour and shape probes (models/README.md).
#ifndef PERENNIAL_LEARNER_PRETRAIN_PRETRAIN_OPTIONS_H_
#define PERENNIAL_LEARNER_PRETRAIN_PRETRAIN_OPTIONS_H_

#include <cstdint>
#include <string>

#include "learner/base/status.h"
#include "learner/data/world_options.h"
#include "learner/model/clip_config.h"

namespace perennial {

// The default architecture: ViT 4 x 128 (2 heads), patch 8 at 64 px; text 4 x 128 (2 heads),
// context 77, CLIP's 49408-token vocabulary; joint space 128; exact GELU. About 8 M parameters,
// of which the token table is 6.3 M (stored in fp16 on export: the file is about 19 MB).
ClipConfig DefaultPretrainModelConfig();

struct PretrainOptions {
  // --- model ---
  // Architecture trained from scratch; image_resolution is also the world's image size.
  // Default: DefaultPretrainModelConfig().
  ClipConfig model = DefaultPretrainModelConfig();

  // --- data ---
  // Seed of the weight initialisation and of the synthetic world; batch b of the run is
  // GenerateBatch(seed, b, batch_size, world) (with the curriculum's background level), so a run
  // is a pure function of its options. Default: 1.
  uint64_t seed = 1;
  // Image-caption pairs per step. Default: 128.
  int batch_size = 128;
  // The synthetic world (resolution is overridden by model.image_resolution and
  // background_level by the curriculum below). Default: WorldOptions() with
  // hard_negative_fraction 0.4 and shape-only captions only in colour-fixed batches.
  WorldOptions world = [] {
    WorldOptions w;
    w.hard_negative_fraction = 0.4f;
    w.shape_only_captions_need_fixed_colour = true;
    return w;
  }();
  // Which captions of the batch are positives of an image: only the one drawn for it (CLIP's
  // pairing; identical texts are shared), or every caption in the batch that is true of it. With
  // the first, "something in the top left." drawn for one image has every other top-left object
  // of the batch as a negative, which is false and drowns out the position signal.
  // Default: true (all true captions).
  bool all_true_captions_positive = true;
  // Background curriculum: plain backgrounds (level 0) for the first plain_fraction of the steps,
  // gradients and noise (level 1) until noise_fraction, then everything (level 2).
  // Defaults: 0.1, 0.25.
  double curriculum_plain_fraction = 0.1;
  double curriculum_noise_fraction = 0.25;

  // --- optimisation ---
  // Optimizer steps in the whole run (the schedule's length). Default: 10000.
  int64_t steps = 10000;
  // Peak learning rate of AdamW. Default: 1e-3.
  double learning_rate = 1e-3;
  // Linear warmup from 0 to the peak over this many steps. Default: 300.
  int64_t warmup_steps = 300;
  // Fraction of the post-warmup steps held at the peak before the cosine decay starts (a longer
  // peak helps shape, which is learned after colour). Default: 0.3.
  double hold_fraction = 0.3;
  // The cosine decays to learning_rate * min_lr_ratio. Default: 0.05.
  double min_lr_ratio = 0.05;
  // Decoupled weight decay on matrices only (not on gains, biases, embeddings or logit_scale).
  // Default: 0.1.
  double weight_decay = 0.1;
  // AdamW moments, as in CLIP's paper. Defaults: 0.9, 0.98, 1e-6.
  double beta1 = 0.9;
  double beta2 = 0.98;
  double epsilon = 1e-6;
  // Global gradient L2 norm clip (<= 0 disables). Default: 1.0.
  double max_grad_norm = 1.0;

  // --- runtime ---
  // LibTorch intra-op threads (0: leave LibTorch's setting). Default: 0.
  int threads = 0;
  // Batches generated ahead on the background data thread. Default: 2.
  int prefetch_batches = 2;

  // --- evaluation, checkpoints, export ---
  // Zero-shot probe evaluation every this many steps and at the end (0: only at the end).
  // Default: 500.
  int64_t eval_every = 500;
  // Held-out probe images per task for the periodic and the final evaluation. Default: 200.
  int eval_samples = 200;
  // Resumable training checkpoint (weights + AdamW state + step) written every this many steps
  // and at the end, when checkpoint_path is set (0: only at the end). Default: 1000.
  int64_t checkpoint_every = 1000;
  // Where checkpoints go (overwritten atomically). Empty: no checkpoints. Default: empty.
  std::string checkpoint_path;
  // A checkpoint to continue from; its seed, batch size and model must match. Default: empty.
  std::string resume_path;
  // Final model in the OpenAI key layout (token table in fp16) that ClipModel::Load reads.
  // Empty: no export. Default: empty.
  std::string output_path;
};

// OK, or InvalidArgument naming the first field out of range.
Status ValidatePretrainOptions(const PretrainOptions& options);

// The background level (0..2) the curriculum uses at `step`.
int CurriculumBackgroundLevel(const PretrainOptions& options, int64_t step);

// The learning rate at `step` (0-based): linear warmup, hold at the peak, cosine to the minimum.
double LearningRateAt(const PretrainOptions& options, int64_t step);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_PRETRAIN_PRETRAIN_OPTIONS_H_
