// File: learner/base/cpu_runtime.h
//
// Process-wide CPU settings that decide how fast LibTorch runs on this machine, measured on the
// development machine (AMD EPYC with AVX-512, Debian's OpenBLAS 0.3.21, ViT-B/32, 2 threads):
//
//  * Allocator: glibc hands freed activation buffers back to the kernel (trim / mmap thresholds)
//    and every step page-faults them in again: 12% of a ViT-B/32 forward was in page faults.
//    Keeping freed memory in the heap (as PyTorch's CUDA caching allocator does on GPUs) took
//    the SIT step from 5.95 to 7.70 img/s. Memory held stays bounded by the peak of one step.
//    Where CMake finds tcmalloc (libgoogle-perftools-dev; PERENNIAL_TCMALLOC, on by default) it
//    replaces glibc's malloc in every program: the default model's step makes thousands of small
//    allocations, and tcmalloc ran it ~9% faster in bf16 (bench/README.md). The glibc settings
//    above then have nothing to act on.
//  * BLAS: OpenBLAS 0.3.21 does not know CPUs newer than it (e.g. Zen 4) and runs its Haswell
//    (AVX2) sgemm there, ~190 GFLOP/s on 2 threads. Its AVX-512 kernels are faster but some
//    machines pin OPENBLAS_CORETYPE because older builds compute wrong results on new CPUs, so
//    perennial never overrides it; the model routes its big fp32 GEMMs through oneDNN instead
//    (onednn_matrix.h, 358-400 GFLOP/s on the same 2 threads). BlasCoreName() reports what runs.
//
// Setting PERENNIAL_CPU_TUNING=0 in the environment turns the allocator setting off.
#ifndef PERENNIAL_LEARNER_BASE_CPU_RUNTIME_H_
#define PERENNIAL_LEARNER_BASE_CPU_RUNTIME_H_

#include <cstdint>
#include <string>

namespace perennial {

// Call first thing in main(), before any thread starts: tunes the allocator.
void TuneCpuRuntime();

// Sets how many OpenMP threads the ops that the calling thread runs may use, leaving other
// threads' settings alone (unlike torch::set_num_threads, which also changes the default for
// threads started later). Returns false when this LibTorch does not use OpenMP. The server's
// query and learner threads use it so that together they use no more threads than cores: on 2
// cores, 2 + 2 OpenMP threads made a one-image query ~10x slower beside training.
bool SetCallingThreadIntraOpThreads(int threads);

// Adds `increment` (1..19) to the calling thread's nice value, so that other threads of the
// process preempt it on busy cores; threads it starts afterwards (its OpenMP team, created on its
// first parallel region) inherit the value. Linux only; returns false where it could not be set.
bool LowerCallingThreadPriority(int increment);

// The BLAS core OpenBLAS runs ("SkylakeX", "Haswell", ...), or "" when the BLAS in this process
// is not OpenBLAS (e.g. MKL in PyTorch's LibTorch).
std::string BlasCoreName();

// True when the CPU has AVX512-BF16 (bf16 dot products at twice the fp32 rate): where bf16
// compute pays on CPU.
bool CpuHasBf16Dot();

// What `--dtype auto` stands for on `device` ("cpu", "cuda", "cuda:N"): "bf16" where the
// hardware multiplies bf16 natively (CUDA devices, CPUs with AVX512-BF16; about 2x the fp32
// speed at a small accuracy cost, bench/README.md), else "fp32". Any other `dtype` comes back
// unchanged, to be validated by whoever parses it.
std::string ResolveAutoDtype(const std::string& dtype, const std::string& device);

// What the process's malloc holds, from the allocator's own statistics.
struct HeapUsage {
  // Bytes handed out and not yet freed (LibTorch's CPU tensors, RocksDB, gRPC, ...).
  uint64_t allocated_bytes = 0;
  // Bytes kept free for reuse and still mapped: part of the resident memory once touched. The
  // allocator settings above trade this for speed; it is bounded by earlier peaks.
  uint64_t free_bytes = 0;
};

// tcmalloc's MallocExtension where malloc is tcmalloc, else glibc's mallinfo2. A leak shows as
// growing allocated_bytes; allocator retention as growing free_bytes.
HeapUsage ReadHeapUsage();

// Returns the free memory the allocator keeps (HeapUsage::free_bytes) to the kernel: tcmalloc's
// ReleaseFreeMemory, else glibc's malloc_trim. For a process about to idle; the next burst of
// allocations page-faults that memory back in. Returns the bytes released as far as the
// allocator's statistics tell (0 where they do not).
uint64_t ReleaseFreeHeapMemory();

// One line for logs and benchmark output, e.g.
// "blas=OpenBLAS/Haswell avx512=yes avx512_bf16=yes malloc=tcmalloc tuning=on".
std::string CpuRuntimeSummary();

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_BASE_CPU_RUNTIME_H_
