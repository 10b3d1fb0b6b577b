// File: learner/model/lora_grad_pass_pipeline.h
//
// How the LoRA gradient pass (lora_grad_kernels.h) moves chunks of g into shared memory. Named
// without LibTorch or CUDA headers so that both sides of the kernel can include it.
// TODO(issue 8): under measurement (bench/lora_grad_bench.cc); keep the one that wins as the
// only pipeline once a GPU has timed them.
#ifndef PERENNIAL_LEARNER_MODEL_LORA_GRAD_PASS_PIPELINE_H_
#define PERENNIAL_LEARNER_MODEL_LORA_GRAD_PASS_PIPELINE_H_

namespace perennial {

enum class LoraGradPassPipeline {
  // Sessions 21-22's kernel: a chunk's loads into registers, then into one shared tile, then
  // its products; the next chunk's loads wait for them. 111-144 registers per thread: 1-2
  // blocks of 256 threads per SM.
  kStaged,
  // The same, with the next chunk's loads issued before this chunk's products. The fastest of
  // the three on an H100 (session 24, lora_grad_bench, batch 512): 97 / 243 / 314 us for g
  // 768 / 2304 / 3072 wide, against 103 / 260 / 337 staged, 98 / 250 / 324 async, and ATen's two
  // GEMMs at 122 / 338 / 438. FusedLoraGradPass's default.
  kPrefetch,
  // cp.async (sm_80+) straight into two shared tiles, the next chunk's copies in flight while
  // this chunk's products are taken; no registers hold the loads.
  kAsyncCopy,
};

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_LORA_GRAD_PASS_PIPELINE_H_
