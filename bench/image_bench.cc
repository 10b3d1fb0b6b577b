// image_bench: what one client image costs the service, per stage.
//   ingest_image_check    Ingest's check that the bytes decode (VerifyImage), beside the full
//                         decode it replaced in session 15 (DecodeImage);
//   image_preprocess      the learner's and queries' CLIP preprocessing of the decoded image
//                         (resize + center crop + normalise, PreprocessImage) at 64 px (the
//                         embedded model) and 224 px (ViT-B);
//   image_draft_decode    decode + preprocessing with DecodeOptions::draft_min_side = 2 R (the
//                         server's --jpeg-draft) beside the full decode's, and how far the model
//                         input moves (mean and largest |difference| in pixel levels, 0..255).
// On camera-sized JPEGs (quality 90, 4:2:0, a smooth scene with sensor-like noise, made here
// with TurboJPEG) or on the files given; one JSON line per image and figure, each the median of
// --iterations calls after two untimed ones:
//   {"name": "ingest_image_check", "image": "synthetic_640x480", "bytes": ...,
//    "verify_ms": ..., "full_decode_ms": ..., "speedup": ...}
//   {"name": "image_preprocess", "image": "synthetic_640x480", "resolution": 64, "ms": ...}
//   {"name": "image_draft_decode", "image": "synthetic_640x480", "resolution": 64,
//    "decoded_size": "320x240", "full_ms": ..., "draft_ms": ..., "speedup": ...,
//    "mean_abs_diff": ..., "max_abs_diff": ...}
// Usage: image_bench [--iterations N] [FILE ...]
#include <torch/torch.h>
#include <turbojpeg.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "learner/model/image_io.h"
#include "learner/model/preprocess.h"

namespace perennial {
namespace {

std::vector<uint8_t> SyntheticPhoto(int width, int height) {
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * height * 3);
  std::mt19937 rng(1);
  std::normal_distribution<double> noise(0.0, 12.0);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const double scene[3] = {90 + 60 * std::sin(x / 50.0), 100 + 50 * std::cos(y / 40.0),
                               110 + 40 * std::sin((x + y) / 70.0)};
      for (int c = 0; c < 3; ++c) {
        const double v = scene[c] + noise(rng);
        rgb[(static_cast<size_t>(y) * width + x) * 3 + c] =
            static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
      }
    }
  }
  tjhandle handle = tjInitCompress();
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  std::vector<uint8_t> bytes;
  if (tjCompress2(handle, rgb.data(), width, 0, height, TJPF_RGB, &jpeg, &size, TJSAMP_420, 90,
                  0) == 0) {
    bytes.assign(jpeg, jpeg + size);
  }
  tjFree(jpeg);
  tjDestroy(handle);
  return bytes;
}

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::vector<uint8_t> bytes;
  if (FILE* file = std::fopen(path.c_str(), "rb")) {
    uint8_t chunk[1 << 16];
    for (size_t got; (got = std::fread(chunk, 1, sizeof(chunk), file)) > 0;) {
      bytes.insert(bytes.end(), chunk, chunk + got);
    }
    std::fclose(file);
  }
  return bytes;
}

double MedianMs(const std::function<bool()>& call, int iterations) {
  std::vector<double> ms;
  for (int i = -2; i < iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    if (!call()) return -1;
    const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
    if (i >= 0) ms.push_back(took.count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

// Decode + preprocess at `resolution`, in full and drafted, timed and compared.
void ReportDraft(const std::string& name, const std::vector<uint8_t>& bytes, int resolution,
                 int iterations) {
  PreprocessOptions preprocess;
  preprocess.resolution = resolution;
  DecodeOptions draft;
  draft.draft_min_side = 2 * resolution;
  const auto input = [&](const DecodeOptions& options) {
    return PreprocessImage(*DecodeImage(bytes.data(), bytes.size(), options), preprocess);
  };
  const double full_ms = MedianMs([&] { return input({}).defined(); }, iterations);
  const double draft_ms = MedianMs([&] { return input(draft).defined(); }, iterations);
  // Back to pixel levels: the normalisation divides by 255 * std.
  const torch::Tensor channel_std =
      torch::tensor({preprocess.std[0], preprocess.std[1], preprocess.std[2]}).view({3, 1, 1});
  const torch::Tensor levels = (input({}) - input(draft)).abs() * channel_std * 255;
  const Image drafted = *DecodeImage(bytes.data(), bytes.size(), draft);
  std::printf(
      "{\"name\": \"image_draft_decode\", \"image\": \"%s\", \"resolution\": %d, "
      "\"decoded_size\": \"%dx%d\", \"full_ms\": %.3f, \"draft_ms\": %.3f, \"speedup\": %.2f, "
      "\"mean_abs_diff\": %.3f, \"max_abs_diff\": %.1f, \"iterations\": %d}\n",
      name.c_str(), resolution, drafted.width, drafted.height, full_ms, draft_ms,
      full_ms / draft_ms, levels.mean().item<double>(), levels.max().item<double>(), iterations);
}

// Returns false (and says why) when the image does not decode.
bool Report(const std::string& name, const std::vector<uint8_t>& bytes, int iterations) {
  const Status status = VerifyImage(bytes.data(), bytes.size());
  if (!status.ok()) {
    std::fprintf(stderr, "image_bench: %s: %s\n", name.c_str(),
                 std::string(status.message()).c_str());
    return false;
  }
  const double verify_ms =
      MedianMs([&] { return VerifyImage(bytes.data(), bytes.size()).ok(); }, iterations);
  const double decode_ms =
      MedianMs([&] { return DecodeImage(bytes.data(), bytes.size()).ok(); }, iterations);
  std::printf(
      "{\"name\": \"ingest_image_check\", \"image\": \"%s\", \"bytes\": %zu, \"verify_ms\": "
      "%.3f, \"full_decode_ms\": %.3f, \"speedup\": %.2f, \"iterations\": %d}\n",
      name.c_str(), bytes.size(), verify_ms, decode_ms, decode_ms / verify_ms, iterations);
  const Image image = *DecodeImage(bytes.data(), bytes.size());
  for (int resolution : {64, 224}) {
    PreprocessOptions options;
    options.resolution = resolution;
    const double ms =
        MedianMs([&] { return PreprocessImage(image, options).defined(); }, iterations);
    std::printf(
        "{\"name\": \"image_preprocess\", \"image\": \"%s\", \"resolution\": %d, "
        "\"ms\": %.3f, \"iterations\": %d}\n",
        name.c_str(), resolution, ms, iterations);
  }
  for (int resolution : {64, 224}) ReportDraft(name, bytes, resolution, iterations);
  return true;
}

int Main(int argc, char** argv) {
  int iterations = 50;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0) {
      std::printf(
          "usage: image_bench [--iterations N (50)] [FILE ...]\n"
          "Times, per image: VerifyImage (Ingest's check) against a full DecodeImage, and\n"
          "PreprocessImage at 64 and 224 px, and decode + preprocess with JPEG draft\n"
          "decoding against without; without files, on synthetic 640x480 and 1920x1080\n"
          "JPEG photos.\n");
      return 0;
    }
    if (std::strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
      iterations = std::max(1, std::atoi(argv[++i]));
    } else {
      files.push_back(argv[i]);
    }
  }
  bool ok = true;
  if (files.empty()) {
    for (auto [width, height] : {std::pair{640, 480}, std::pair{1920, 1080}}) {
      const std::string name = "synthetic_" + std::to_string(width) + "x" + std::to_string(height);
      ok &= Report(name, SyntheticPhoto(width, height), iterations);
    }
  }
  for (const std::string& file : files) ok &= Report(file, ReadFile(file), iterations);
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace perennial

int main(int argc, char** argv) { return perennial::Main(argc, argv); }
