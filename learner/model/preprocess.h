// File: learner/model/preprocess.h
//
// CLIP image preprocessing in C++, matching the reference (openai/CLIP clip.py `_transform`:
// torchvision Resize(R, BICUBIC) on a PIL image, CenterCrop(R), convert("RGB"), ToTensor,
// Normalize(mean, std)) to within 1/255 per pixel before normalisation; on the test fixtures it
// is bit-exact (see preprocess_test.cc).
//
// The resampling is a port of Pillow's (src/libImaging/Resample.c, Pillow 9.4): separable,
// horizontal pass then vertical, bicubic a = -0.5 with the support widened by the downscale
// factor (antialiasing), coefficients normalised and rounded to 22-bit fixed point, 8-bit
// rounding and clipping after each pass, images with alpha resized premultiplied (Pillow's
// RGBa/La modes) and un-premultiplied afterwards.
//
// Known difference from the reference: perennial decodes palette PNGs to RGB and resizes them
// bicubically; torchvision on a Pillow "P" image resizes with NEAREST (Pillow's rule for palette
// modes). Likewise 1-bit and 16-bit gray PNGs (Pillow modes "1" and "I") are 8-bit gray here.
//
// Thread-safety: all functions are pure and reentrant.
#ifndef PERENNIAL_LEARNER_MODEL_PREPROCESS_H_
#define PERENNIAL_LEARNER_MODEL_PREPROCESS_H_

#include <torch/torch.h>

#include <array>
#include <vector>

#include "learner/model/image.h"

namespace perennial {

// Resizes `image` to out_width x out_height with Pillow's BICUBIC filter, as
// PIL.Image.resize((out_width, out_height), Image.BICUBIC) does for modes L, LA, RGB and RGBA
// (same channel count in and out; same size returns a copy). Throws c10::Error if `image` is
// invalid (ValidateImage) or a size is not positive.
Image ResizeBicubic(const Image& image, int out_width, int out_height);

struct PreprocessOptions {
  // Output side R: the image is resized so that its shortest side is R, then center-cropped to
  // R x R. Default: 224 (ViT-B/32, ViT-B/16).
  int resolution = 224;
  // Per-channel (R, G, B) normalisation applied to pixel / 255. Default: CLIP's.
  std::array<float, 3> mean = {0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std = {0.26862954f, 0.26130258f, 0.27577711f};
};

// The DecodeOptions::draft_min_side (image_io.h) of reduced JPEG decoding for this transform:
// twice its output side, so that the bicubic downscale still has 2x the pixels it keeps (the
// margin of Pillow's Image.thumbnail, reducing_gap 2). For callers that opt in to it.
inline int JpegDraftMinSide(const PreprocessOptions& options) { return 2 * options.resolution; }

// The CLIP transform of one image: float32 [3, R, R] (CPU, contiguous), channels RGB, normalised.
// Gray is replicated to RGB; alpha is dropped without compositing (as Pillow's convert("RGB")).
// Only the cropped window of the resized image is computed. Throws c10::Error if `image` is
// invalid or the options are (resolution <= 0 or > 16384, a std of 0); wrap calls from outside
// learner/ in CatchTorch.
torch::Tensor PreprocessImage(const Image& image, const PreprocessOptions& options = {});

// PreprocessImage of each image, written straight into one float32 [N, 3, R, R] tensor
// (N = images.size(); N = 0 gives an empty batch). Images are processed in parallel with
// at::parallel_for. Throws c10::Error naming the index of the first invalid image.
torch::Tensor PreprocessBatch(const std::vector<Image>& images,
                              const PreprocessOptions& options = {});

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_PREPROCESS_H_
