// perennial-bench: prints one JSON line per figure, each with the goal or peer it is compared
// with. Flags are parsed by hand: this program must build with LibTorch alone
// (PERENNIAL_MODEL_ONLY), without CLI11.
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>

#include "bench/attention_backend.h"
#include "bench/clip_bench.h"
#include "bench/learner_bench.h"
#include "learner/base/cpu_runtime.h"
#include "learner/model/clip_model.h"

namespace {

void Usage() {
  std::cerr
      << "usage: perennial-bench --suite clip|learner [flags]\n"
         "Prints one JSON line per figure with the peer and goal beside it.\n\n"
         "  --suite clip      zero-shot inference and one SIT step on a released CLIP\n"
         "                    architecture with random weights\n"
         "  --suite learner   the online learner's img/s per method on a model file, and its\n"
         "                    memory before/after the timed steps\n\n"
         "flags (defaults in brackets):\n"
         "  --arch NAME       clip: ViT-B/32 | ViT-B/16 | ViT-L/14 [ViT-B/32]\n"
         "  --model PATH      learner: model file [the embedded default model]\n"
         "  --methods A,B     learner: methods to time [sit,sit+vrlwf]\n"
         "  --steps N         learner: timed Observe() calls per method [200]\n"
         "  --words PATH      learner: sit+vrlwf's replay word list, one word per line\n"
         "                    [/usr/share/dict/words]\n"
         "  --online-iters N  learner: optimizer steps per Observe() (img/s counts each image\n"
         "                    once) [1]\n"
         "  --parallel-teacher 0|1  learner: sit+vrlwf's teacher forward on a helper thread\n"
         "                    beside the student's (uses a core beyond --threads) [0]\n"
         "  --image-parts N   learner, clip SIT step: image tower split across N threads,\n"
         "                    each with threads/N intra-op threads (small models on CPU) [1]\n"
         "  --batch N         images per step [16]\n"
         "  --threads N       LibTorch intra-op threads [2]\n"
         "  --iterations N    clip: timed iterations per figure [5]\n"
         "  --onednn 0|1      multiply frozen fp32/bf16 CPU weights with oneDNN [1]\n"
         "  --dtype fp32|bf16|fp16|auto  compute dtype of the frozen weights; auto: bf16 where\n"
         "                    the hardware multiplies it natively, else fp32 [fp32]\n"
         "  --device cpu|cuda [cpu]\n"
         "  --share-text-prefix 0|1  run the token prefix all texts of a call share (the\n"
         "                    prompt template's start) once in the text tower [1 on the CPU,\n"
         "                    0 on CUDA]\n"
         "  --fused-kernels 0|1  perennial's own fused kernels: the residual add +\n"
         "                    LayerNorm on the CPU, and on CUDA where the build has\n"
         "                    them; 0 runs ATen's ops [1]\n"
         "  --fused-lora-grad 0|1  CUDA, with --fused-kernels 1: one pass over g for the\n"
         "                    LoRA backward's thin products, with SiLU's backward in\n"
         "                    front for the MLP's first map (fused_lora_grad.h); 0 runs\n"
         "                    ATen's products [1]\n"
         "  --qkv-grads-apart 0|1  CUDA: q, k and v leave the LoRA q/k/v map as three\n"
         "                    outputs, so the backward never concatenates their\n"
         "                    gradients [1]\n"
         "  --cuda-graph 0|1  clip, CUDA: also time the SIT step with the image tower replayed\n"
         "                    from CUDA graphs (clip_sit_step_graphed_<arch>) [0]\n"
         "  --attention NAME  CUDA: the one fused attention kernel LibTorch may use beside\n"
         "                    the unfused math kernel, auto|cudnn|flash|efficient|math\n"
         "                    (LibTorch >= 2.5) [auto]\n"
         "  --peak-tflops X   clip: the device's dense peak for --dtype, to print MFU against\n"
         "                    (989 for an H100/H200 SXM in bf16) [0: no MFU]\n"
         "  --trace PATH      write profiler traces (Chrome JSON) of 3 steps, one file per figure\n"
         "                    (clip: t.json -> t.sit.json for SIT steps, t.infer.json for\n"
         "                    inference; learner: t.<method>.json of Observe() calls);\n"
         "                    bench/trace_summary.py says where the time went\n"
         "                    [none]\n";
}

std::vector<std::string> SplitComma(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

struct BenchFlags {
  std::string suite = "clip";
  perennial::bench::ClipBenchOptions clip;
  perennial::bench::LearnerBenchOptions learner;
};

// Reads the command line into `flags`. Returns the exit code when main() should stop here
// (--help: 0; a flag without a value or an unknown flag: 2, with the usage printed).
std::optional<int> ParseFlags(int argc, char** argv, BenchFlags* flags) {
  std::string& suite = flags->suite;
  perennial::bench::ClipBenchOptions& clip = flags->clip;
  perennial::bench::LearnerBenchOptions& learner = flags->learner;
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
    } else if (flag == "--model") {
      learner.model_path = value;
    } else if (flag == "--methods") {
      learner.methods = SplitComma(value);
    } else if (flag == "--words") {
      learner.words_path = value;
    } else if (flag == "--steps") {
      learner.steps = std::atoi(value.c_str());
    } else if (flag == "--parallel-teacher") {
      learner.parallel_teacher = value != "0";
    } else if (flag == "--online-iters") {
      learner.online_iters = std::atoi(value.c_str());
    } else if (flag == "--image-parts") {
      learner.image_parts = clip.image_parts = std::atoi(value.c_str());
    } else if (flag == "--batch") {
      clip.run.batch = learner.run.batch = std::atoi(value.c_str());
    } else if (flag == "--threads") {
      clip.run.threads = learner.run.threads = std::atoi(value.c_str());
    } else if (flag == "--iterations") {
      clip.iterations = std::atoi(value.c_str());
    } else if (flag == "--dtype") {
      clip.run.dtype = learner.run.dtype = value;
    } else if (flag == "--onednn") {
      clip.run.onednn_linear = learner.run.onednn_linear = value != "0";
    } else if (flag == "--share-text-prefix") {
      clip.run.share_text_prefix = learner.run.share_text_prefix = value != "0";
    } else if (flag == "--fused-kernels") {
      clip.run.fused_kernels = learner.run.fused_kernels = value != "0";
    } else if (flag == "--fused-lora-grad") {
      clip.run.fused_lora_grad = learner.run.fused_lora_grad = value != "0";
    } else if (flag == "--qkv-grads-apart") {
      clip.run.qkv_grads_apart = learner.run.qkv_grads_apart = value != "0";
    } else if (flag == "--cuda-graph") {
      clip.cuda_graph = value != "0";
    } else if (flag == "--attention") {
      clip.run.attention = learner.run.attention = value;
    } else if (flag == "--peak-tflops") {
      clip.peak_tflops = std::atof(value.c_str());
    } else if (flag == "--trace") {
      clip.trace_path = learner.trace_path = value;
    } else if (flag == "--device") {
      clip.run.device = learner.run.device = value;
    } else {
      std::cerr << "perennial-bench: unknown flag " << flag << "\n";
      Usage();
      return 2;
    }
  }
  return std::nullopt;
}

// Checks the values ParseFlags read and resolves --dtype auto for the device. Returns 2 (after
// saying what is wrong) when one is out of range.
std::optional<int> CheckFlags(BenchFlags* flags) {
  perennial::bench::ClipBenchOptions& clip = flags->clip;
  perennial::bench::LearnerBenchOptions& learner = flags->learner;
  if (clip.run.batch <= 0 || clip.run.threads <= 0 || clip.iterations <= 0 || learner.steps <= 0 ||
      learner.image_parts <= 0 || learner.online_iters <= 0) {
    std::cerr << "perennial-bench: --batch, --threads, --iterations, --steps, --online-iters and "
                 "--image-parts must be positive\n";
    return 2;
  }
  // The device is known only once every flag is read.
  clip.run.dtype = learner.run.dtype = perennial::ResolveAutoDtype(clip.run.dtype, clip.run.device);
  if (!perennial::ParseComputeDtype(clip.run.dtype).ok()) {
    std::cerr << "perennial-bench: --dtype must be fp32, bf16, fp16 or auto\n";
    return 2;
  }
  std::string attention_error;
  if (!perennial::bench::SelectAttentionBackend(clip.run.attention, &attention_error)) {
    std::cerr << "perennial-bench: --attention: " << attention_error << "\n";
    return 2;
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  perennial::TuneCpuRuntime();
  BenchFlags flags;
  if (const std::optional<int> exit_code = ParseFlags(argc, argv, &flags)) return *exit_code;
  if (const std::optional<int> exit_code = CheckFlags(&flags)) return *exit_code;
  if (flags.suite == "clip") return perennial::bench::RunClipBench(flags.clip);
  if (flags.suite == "learner") return perennial::bench::RunLearnerBench(flags.learner);
  std::cerr << "perennial-bench: unknown suite '" << flags.suite << "' (known: clip, learner)\n";
  return 2;
}
