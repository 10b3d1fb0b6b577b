// perennial-bench: prints one JSON line per figure, each with the goal or peer it is compared
// with. Usage: perennial-bench --suite clip [--arch ViT-B/32] [--batch 16] [--threads 2]
//              [--iterations 5] [--device cpu]
// Flags are parsed by hand: this program must build with LibTorch alone (PERENNIAL_MODEL_ONLY).
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "bench/clip_bench.h"
#include "learner/base/cpu_runtime.h"

namespace {

void Usage() {
  std::cerr << "usage: perennial-bench --suite clip [--arch ViT-B/32|ViT-B/16|ViT-L/14]\n"
               "                       [--batch N] [--threads N] [--iterations N] [--device cpu|cuda]\n"
               "Prints one JSON line per figure with the peer and goal beside it.\n";
}

}  // namespace

int main(int argc, char** argv) {
  perennial::TuneCpuRuntime();
  std::string suite = "clip";
  perennial::bench::ClipBenchOptions clip;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      Usage();
      return 0;
    }
    if (i + 1 >= argc) {
      std::cerr << "perennial-bench: " << flag << " needs a value\n";
      Usage();
      return 2;
    }
    const std::string value = argv[++i];
    if (flag == "--suite") {
      suite = value;
    } else if (flag == "--arch") {
      clip.architecture = value;
    } else if (flag == "--batch") {
      clip.batch = std::atoi(value.c_str());
    } else if (flag == "--threads") {
      clip.threads = std::atoi(value.c_str());
    } else if (flag == "--iterations") {
      clip.iterations = std::atoi(value.c_str());
    } else if (flag == "--device") {
      clip.device = value;
    } else {
      std::cerr << "perennial-bench: unknown flag " << flag << "\n";
      Usage();
      return 2;
    }
  }
  if (clip.batch <= 0 || clip.threads <= 0 || clip.iterations <= 0) {
    std::cerr << "perennial-bench: --batch, --threads and --iterations must be positive\n";
    return 2;
  }
  if (suite == "clip") return perennial::bench::RunClipBench(clip);
  std::cerr << "perennial-bench: unknown suite '" << suite << "' (known: clip)\n";
  return 2;
}
