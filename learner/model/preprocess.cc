#include "learner/model/preprocess.h"

#include <ATen/Parallel.h>

#include <string>

#include "learner/model/pillow_resample.h"

namespace perennial {
namespace {

constexpr int kMaxResolution = 16384;

void CheckImage(const Image& image, const char* what) {
  const Status status = ValidateImage(image);
  TORCH_CHECK(status.ok(), what, ": ", std::string(status.message()));
}

void CheckOptions(const PreprocessOptions& options) {
  TORCH_CHECK(options.resolution > 0 && options.resolution <= kMaxResolution,
              "PreprocessOptions.resolution must be in [1, ", kMaxResolution, "], got ",
              options.resolution);
  for (float s : options.std) TORCH_CHECK(s != 0.0f, "PreprocessOptions.std must be nonzero");
}

// torchvision's Python round(): halves go to the even neighbour. `twice` = 2 * value >= 0.
int RoundHalfToEven(int twice) {
  const int down = twice / 2;
  if (twice % 2 == 0) return down;
  return down % 2 == 0 ? down : down + 1;
}

// The resize + crop geometry of torchvision's Resize(R) (shortest side -> R, the other side
// int(R * long / short)) followed by CenterCrop(R).
struct CropGeometry {
  int resized_width;
  int resized_height;
  int left;
  int top;
};

CropGeometry ComputeGeometry(int width, int height, int resolution) {
  const bool width_is_short = width <= height;
  const int64_t short_side = width_is_short ? width : height;
  const int64_t long_side = width_is_short ? height : width;
  const int new_long = static_cast<int>(static_cast<double>(resolution * long_side) /
                                        static_cast<double>(short_side));
  CropGeometry g;
  g.resized_width = width_is_short ? resolution : new_long;
  g.resized_height = width_is_short ? new_long : resolution;
  g.left = RoundHalfToEven(g.resized_width - resolution);
  g.top = RoundHalfToEven(g.resized_height - resolution);
  return g;
}

// Writes the normalised [3, R, R] planes of `image` (already R x R) to `out`, as ToTensor +
// Normalize do in float32: (v / 255 - mean) / std. Gray is replicated; alpha is ignored.
void WriteNormalized(const Image& image, const PreprocessOptions& options, float* out) {
  const size_t plane = static_cast<size_t>(image.height) * image.width;
  const int channels = image.channels;
  const bool gray = channels <= 2;
  for (int c = 0; c < 3; ++c) {
    const int source_channel = gray ? 0 : c;
    const float mean = options.mean[c];
    const float std = options.std[c];
    float* dst = out + c * plane;
    const uint8_t* src = image.pixels.data() + source_channel;
    for (size_t p = 0; p < plane; ++p) {
      const float value = static_cast<float>(src[p * channels]) / 255.0f;
      dst[p] = (value - mean) / std;
    }
  }
}

void PreprocessInto(const Image& image, const PreprocessOptions& options, float* out) {
  const int r = options.resolution;
  const CropGeometry g = ComputeGeometry(image.width, image.height, r);
  const Image cropped =
      PillowResizeWindow(image, g.resized_width, g.resized_height, g.left, g.top, r, r);
  WriteNormalized(cropped, options, out);
}

}  // namespace

Image ResizeBicubic(const Image& image, int out_width, int out_height) {
  CheckImage(image, "ResizeBicubic");
  TORCH_CHECK(out_width > 0 && out_height > 0, "ResizeBicubic: output size must be positive, got ",
              out_width, "x", out_height);
  return PillowResizeWindow(image, out_width, out_height, 0, 0, out_width, out_height);
}

torch::Tensor PreprocessImage(const Image& image, const PreprocessOptions& options) {
  CheckImage(image, "PreprocessImage");
  CheckOptions(options);
  torch::Tensor out = torch::empty({3, options.resolution, options.resolution}, torch::kFloat32);
  PreprocessInto(image, options, out.data_ptr<float>());
  return out;
}

torch::Tensor PreprocessBatch(const std::vector<Image>& images, const PreprocessOptions& options) {
  CheckOptions(options);
  for (size_t i = 0; i < images.size(); ++i) {
    const std::string what = "PreprocessBatch image " + std::to_string(i);
    CheckImage(images[i], what.c_str());
  }
  const int64_t r = options.resolution;
  const int64_t n = static_cast<int64_t>(images.size());
  torch::Tensor out = torch::empty({n, 3, r, r}, torch::kFloat32);
  float* data = out.data_ptr<float>();
  at::parallel_for(0, n, /*grain_size=*/1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) PreprocessInto(images[i], options, data + i * 3 * r * r);
  });
  return out;
}

}  // namespace perennial
