// File: learner/data/cifar.h
//
// CIFAR-10 and CIFAR-100 in their binary distributions (cifar-10-binary.tar.gz,
// cifar-100-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html), unpacked: `dir` is
// the folder holding the .bin files (cifar-10-batches-bin/ or cifar-100-binary/).
//
//   CIFAR-10:  data_batch_1.bin .. data_batch_5.bin (train), test_batch.bin (test);
//              records of 1 label byte + 3072 pixel bytes; names in batches.meta.txt.
//   CIFAR-100: train.bin, test.bin; records of 1 coarse label byte, 1 fine label byte,
//              3072 pixel bytes; names in fine_label_names.txt / coarse_label_names.txt.
//
// Pixels are stored as three 32x32 planes (R, G, B); the Dataset holds them as 32x32x3 HWC.
// Class names are the names files' lines (e.g. "airplane", "aquarium_fish"), blank lines dropped.
#ifndef PERENNIAL_LEARNER_DATA_CIFAR_H_
#define PERENNIAL_LEARNER_DATA_CIFAR_H_

#include <string>

#include "learner/base/status.h"
#include "learner/data/dataset.h"

namespace perennial {

// Which CIFAR-100 label becomes the Dataset label.
enum class Cifar100Label { kFine, kCoarse };

// Errors name the file: NOT_FOUND (a .bin or names file is missing), DATA_LOSS (a file size that
// is not a whole number of records, a label not below the number of names, an empty names file).
StatusOr<Dataset> LoadCifar10(const std::string& dir, Split split);
StatusOr<Dataset> LoadCifar100(const std::string& dir, Split split,
                               Cifar100Label label = Cifar100Label::kFine);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_DATA_CIFAR_H_
