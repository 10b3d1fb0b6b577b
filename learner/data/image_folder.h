// File: learner/data/image_folder.h
//
// A labeled dataset laid out as one sub-folder per class, the layout of torchvision's ImageFolder:
//
//   root/cat/001.png          class names = the sub-folder names, sorted by byte value;
//   root/cat/more/002.jpg     labels index them. Files are found recursively inside each class
//   root/dog/a.jpeg           folder, sorted by path; hidden entries (".name") are skipped, and
//                             so are files whose extension is not an accepted one.
//
// Class folders without images keep their label (so labels do not shift when a class is
// empty). Two ways to use it: ScanImageFolder lists files without decoding (lazy; decode one with
// LoadImageFolderItem), LoadImageFolder decodes everything into a Dataset (eager).
// Decoding uses learner/model/image_io.h (libpng, libjpeg-turbo): target perennial_data_io, built
// only when NOT PERENNIAL_MODEL_ONLY.
#ifndef PERENNIAL_LEARNER_DATA_IMAGE_FOLDER_H_
#define PERENNIAL_LEARNER_DATA_IMAGE_FOLDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "learner/base/status.h"
#include "learner/data/dataset.h"
#include "learner/model/image_io.h"

namespace perennial {

struct ImageFolderOptions {
  // Accepted file extensions, compared case-insensitively, with the dot.
  // Default: ".png", ".jpg", ".jpeg".
  std::vector<std::string> extensions = {".png", ".jpg", ".jpeg"};
  // Limits applied to every decoded file. Default: DecodeOptions{}.
  DecodeOptions decode;
};

// The files of an image folder, not decoded.
struct ImageFolderIndex {
  std::vector<std::string> paths;  // per sample
  std::vector<int32_t> labels;     // per sample
  std::vector<std::string> class_names;
};

// Lists `root`. Errors: NOT_FOUND if root is not a directory or has no class sub-folders;
// INTERNAL for a file-system error while walking (naming the path).
StatusOr<ImageFolderIndex> ScanImageFolder(const std::string& root,
                                           const ImageFolderOptions& options = {});

// Decodes sample i of `index`. OUT_OF_RANGE for a bad i; decode errors name the file.
StatusOr<LabeledImage> LoadImageFolderItem(const ImageFolderIndex& index, int64_t i,
                                           const DecodeOptions& options = {});

// Scans and decodes every file into a Dataset. The first file that fails stops the load and its
// error (naming the file) is returned.
StatusOr<Dataset> LoadImageFolder(const std::string& root, const ImageFolderOptions& options = {});

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_DATA_IMAGE_FOLDER_H_
