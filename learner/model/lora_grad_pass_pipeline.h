// File: learner/model/lora_grad_pass_pipeline.h
//
// How the LoRA gradient pass (lora_grad_kernels.h) moves chunks of g into shared memory. Named
// without LibTorch or CUDA headers so that both sides of the kernel can include it.
// Timed by bench/lora_grad_bench.cc (session 24, batch 512, g [100,864, cols] bf16, us per call
// for cols 768 / 2304 / 3072 / 3072 with SiLU's backward in front, before gb's sum moved into
// the kernel; bench/README.md has the rest):
//   H100, exact SiLU:       staged 103 / 260 / 337 / 1160, prefetch 97 / 243 / 314 / 1031,
//                           async 98 / 250 / 324 / 1048; ATen 122 / 338 / 438 / 1039
//   H200, approximate SiLU: staged 92 / 234 / 303 / 718, prefetch 88 / 210 / 272 / 697,
//                           async 74 / 175 / 223 / 681; ATen 89 / 232 / 302 / 739
// Session 26, H200, gb summed in the kernel: async 71 / 156 / 199 / 616, prefetch 74 / 186 /
// 241 / 658, staged 79 / 204 / 266 / 680; ATen 95 / 243 / 316 / 747.
// TODO(issue 8): the pass pays in the step since session 26, with kAsyncCopy (the fastest on the
// H200, within 1-3% of kPrefetch on the H100): remove kStaged and kPrefetch (kept for
// lora_grad_bench) in a session that has a GPU to build and test the kernels without them.
#ifndef PERENNIAL_LEARNER_MODEL_LORA_GRAD_PASS_PIPELINE_H_
#define PERENNIAL_LEARNER_MODEL_LORA_GRAD_PASS_PIPELINE_H_

namespace perennial {

enum class LoraGradPassPipeline {
  // Sessions 21-22's kernel: a chunk's loads into registers, then into one shared tile, then
  // its products; the next chunk's loads wait for them. 111-144 registers per thread: 1-2
  // blocks of 256 threads per SM.
  kStaged,
  // The same, with the next chunk's loads issued before this chunk's products.
  kPrefetch,
  // cp.async (sm_80+) straight into two shared tiles, the next chunk's copies in flight while
  // this chunk's products are taken; no registers hold the loads. FusedLoraGradPass's
  // default: the fastest on the H200, within 1-3% of kPrefetch on the H100.
  kAsyncCopy,
};

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_LORA_GRAD_PASS_PIPELINE_H_
