// File: learner/data/fashion_mnist.h
//
// Fashion-MNIST (Xiao et al., 2017) from its IDX files: 28x28 grayscale (1-channel) images of 10
// clothing classes, 60000 train / 10000 test. By default it reads Debian's dataset-fashion-mnist
// package, which installs the four files gzipped under /usr/share/datasets/fashion-mnist; plain
// (gunzipped) files in the directory are preferred when both exist (see read_file.h for zlib).
//
// Class names are the dataset's documented descriptions, in label order: "T-shirt/top",
// "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot".
#ifndef PERENNIAL_LEARNER_DATA_FASHION_MNIST_H_
#define PERENNIAL_LEARNER_DATA_FASHION_MNIST_H_

#include <string>
#include <vector>

#include "learner/base/status.h"
#include "learner/data/dataset.h"

namespace perennial {

// Where Debian's dataset-fashion-mnist package puts the files.
inline constexpr char kDefaultFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

// The ten class names above, in label order.
const std::vector<std::string>& FashionMnistClassNames();

// Loads a split from `dir`: train-{images-idx3,labels-idx1}-ubyte[.gz] for kTrain,
// t10k-...-ubyte[.gz] for kTest. Errors name the file: NOT_FOUND (missing), DATA_LOSS (wrong
// magic number, header that disagrees with the file size, truncated data, image and label counts
// that differ, a label >= 10), UNIMPLEMENTED (gzipped files in a build without zlib).
StatusOr<Dataset> LoadFashionMnist(const std::string& dir = kDefaultFashionMnistDir,
                                   Split split = Split::kTrain);

// Reads any IDX pair of uint8 images (magic 0x00000803: count, rows, cols) and uint8 labels
// (magic 0x00000801: count), e.g. MNIST; labels must index class_names. Errors as above.
StatusOr<Dataset> LoadIdxDataset(const std::string& images_path, const std::string& labels_path,
                                 std::vector<std::string> class_names);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_DATA_FASHION_MNIST_H_
