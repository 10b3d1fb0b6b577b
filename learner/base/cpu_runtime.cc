#include "learner/base/cpu_runtime.h"

#include <dlfcn.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <optional>

#if PERENNIAL_TCMALLOC
#include <gperftools/tcmalloc.h>
#endif

namespace perennial {
namespace {

constexpr char kTuningEnv[] = "PERENNIAL_CPU_TUNING";

bool TuningEnabled() {
  const char* value = std::getenv(kTuningEnv);
  return value == nullptr || std::strcmp(value, "0") != 0;
}

bool CpuHasAvx512() {
#if defined(__x86_64__) && defined(__GNUC__)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

// glibc: allocations up to 32 MiB (its maximum mmap threshold) come from the heap, and up to
// 1 GiB of freed heap stays mapped instead of being trimmed after every free.
void RetainFreedMemory() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
}

// "tcmalloc" when the process's malloc is tcmalloc's (linked in with PERENNIAL_TCMALLOC, or
// preloaded), else "glibc": tcmalloc defines malloc as an alias of tc_malloc.
std::string MallocName() {
#if PERENNIAL_TCMALLOC
  // Naming a tcmalloc function also keeps the library linked: the linker drops libraries no
  // object names (--as-needed), and nothing else names it.
  int major = 0, minor = 0;
  const char* patch = nullptr;
  tc_version(&major, &minor, &patch);
#endif
  // Looked up once: the process's malloc is fixed before main (and this runs at every scrape).
  static const bool tcmalloc = [] {
    void* tc_malloc = dlsym(RTLD_DEFAULT, "tc_malloc");
    return tc_malloc != nullptr && tc_malloc == dlsym(RTLD_DEFAULT, "malloc");
  }();
  return tcmalloc ? "tcmalloc" : "glibc";
}

// Sum of tcmalloc's numeric properties `names`, or nullopt when tcmalloc is not loaded (looked up
// at run time, so a preloaded tcmalloc counts too).
std::optional<uint64_t> TcmallocProperties(std::initializer_list<const char*> names) {
  using GetPropertyFn = int (*)(const char*, size_t*);
  static const auto get_property =
      reinterpret_cast<GetPropertyFn>(dlsym(RTLD_DEFAULT, "MallocExtension_GetNumericProperty"));
  if (get_property == nullptr) return std::nullopt;
  uint64_t total = 0;
  for (const char* name : names) {
    size_t value = 0;
    if (get_property(name, &value) == 0) return std::nullopt;
    total += value;
  }
  return total;
}

}  // namespace

HeapUsage ReadHeapUsage() {
  HeapUsage usage;
  if (MallocName() == "tcmalloc") {
    std::optional<uint64_t> allocated = TcmallocProperties({"generic.current_allocated_bytes"});
    std::optional<uint64_t> free = TcmallocProperties(
        {"tcmalloc.pageheap_free_bytes", "tcmalloc.central_cache_free_bytes",
         "tcmalloc.transfer_cache_free_bytes", "tcmalloc.thread_cache_free_bytes"});
    if (allocated && free) {
      usage.allocated_bytes = *allocated;
      usage.free_bytes = *free;
      return usage;
    }
  }
  const struct mallinfo2 info = mallinfo2();
  usage.allocated_bytes = info.uordblks + info.hblkhd;
  usage.free_bytes = info.fordblks;
  return usage;
}

uint64_t ReleaseFreeHeapMemory() {
  const uint64_t before = ReadHeapUsage().free_bytes;
  using ReleaseFn = void (*)();
  static const auto release =
      reinterpret_cast<ReleaseFn>(dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory"));
  if (MallocName() == "tcmalloc" && release != nullptr) {
    release();
  } else {
    malloc_trim(0);
  }
  const uint64_t after = ReadHeapUsage().free_bytes;
  return before > after ? before - after : 0;
}

std::string BlasCoreName() {
  using CoreNameFn = char* (*)();
  auto fn = reinterpret_cast<CoreNameFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (fn == nullptr) return "";
  const char* name = fn();
  return name == nullptr ? "" : name;
}

bool SetCallingThreadIntraOpThreads(int threads) {
  using SetNumThreadsFn = void (*)(int);
  using GetNumThreadsFn = int (*)();
  auto set = reinterpret_cast<SetNumThreadsFn>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  // at::get_num_threads(): ATen sets a thread's OpenMP thread count to the global one on the
  // thread's first parallel op (lazy init), which would undo the setting below; asking for the
  // count runs that init now.
  auto aten_get =
      reinterpret_cast<GetNumThreadsFn>(dlsym(RTLD_DEFAULT, "_ZN2at15get_num_threadsEv"));
  if (set == nullptr || aten_get == nullptr || threads < 1) return false;
  aten_get();
  set(threads);
  return true;
}

bool LowerCallingThreadPriority(int increment) {
#if defined(__linux__)
  if (increment < 1 || increment > 19) return false;
  const auto tid = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  const int current = getpriority(PRIO_PROCESS, tid);
  if (current == -1 && errno != 0) return false;
  return setpriority(PRIO_PROCESS, tid, std::min(current + increment, 19)) == 0;
#else
  (void)increment;
  return false;
#endif
}

bool CpuHasBf16Dot() {
#if defined(__x86_64__) && defined(__GNUC__) && __GNUC__ >= 11
  return CpuHasAvx512() && __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

std::string ResolveAutoDtype(const std::string& dtype, const std::string& device) {
  if (dtype != "auto") return dtype;
  const bool cuda = device.rfind("cuda", 0) == 0;
  return cuda || (device == "cpu" && CpuHasBf16Dot()) ? "bf16" : "fp32";
}

void TuneCpuRuntime() {
  if (TuningEnabled()) RetainFreedMemory();
}

std::string CpuRuntimeSummary() {
  const std::string core = BlasCoreName();
  std::string out = "blas=" + (core.empty() ? std::string("other") : "OpenBLAS/" + core);
  out += std::string(" avx512=") + (CpuHasAvx512() ? "yes" : "no");
  out += std::string(" avx512_bf16=") + (CpuHasBf16Dot() ? "yes" : "no");
  out += " malloc=" + MallocName();
  out += std::string(" tuning=") + (TuningEnabled() ? "on" : "off");
  return out;
}

}  // namespace perennial
