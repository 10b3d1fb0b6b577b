// File: bench/attention_backend.h
//
// Which fused kernel LibTorch's scaled_dot_product_attention may pick on CUDA, for A/B figures
// of the SIT step: ViT-B/16's sequences are 197 tokens with 64-wide heads, a shape the kernels
// tile differently (session 7 measured cuDNN against flash at batch 256: 68.6 vs 72.4 ms).
#ifndef PERENNIAL_BENCH_ATTENTION_BACKEND_H_
#define PERENNIAL_BENCH_ATTENTION_BACKEND_H_

#include <string>

namespace perennial::bench {

// The names SelectAttentionBackend() takes, for --help and error messages.
inline constexpr const char* kAttentionBackendNames = "auto|cudnn|flash|efficient|math";

// "auto" leaves LibTorch's own choice; "cudnn", "flash", "efficient" (memory-efficient) or
// "math" allows that fused kernel only, process-wide, beside the math kernel (the unfused
// reference, which CPU work such as the CUDA-vs-CPU check needs). Returns false with `*error` set
// when the name is unknown or this LibTorch cannot restrict attention to it (selection needs
// LibTorch >= 2.5).
bool SelectAttentionBackend(const std::string& name, std::string* error);

}  // namespace perennial::bench

#endif  // PERENNIAL_BENCH_ATTENTION_BACKEND_H_
