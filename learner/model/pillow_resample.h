// File: learner/model/pillow_resample.h
//
// A port of Pillow's bicubic resampling (src/libImaging/Resample.c, Pillow 9.4) for 8-bit
// images. Internal to perennial_preprocess: callers use ResizeBicubic / PreprocessImage from
// preprocess.h. Torch-free.
#ifndef PERENNIAL_LEARNER_MODEL_PILLOW_RESAMPLE_H_
#define PERENNIAL_LEARNER_MODEL_PILLOW_RESAMPLE_H_

#include "learner/model/image.h"

namespace perennial {

// Resizes `image` to out_width x out_height exactly as Pillow's Image.resize(..., BICUBIC) does
// (alpha images premultiplied, as Pillow's RGBa/La), but computes and returns only the window
// [x0, x0 + window_width) x [y0, y0 + window_height) of the result: resize-then-crop without
// the pixels the crop would discard. Each output pixel is the same as in the full resize.
// Preconditions (checked by the caller): ValidateImage(image) is OK, sizes are positive and the
// window lies inside the output.
Image PillowResizeWindow(const Image& image, int out_width, int out_height, int x0, int y0,
                         int window_width, int window_height);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_PILLOW_RESAMPLE_H_
