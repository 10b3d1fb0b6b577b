// File: clients/cli/ingest_source.h
//
// What `perennial ingest` sends, as a random-access list of v1::Sample: a built-in dataset in a
// stream order (learner/data/stream.h), a folder of class sub-folders, or files with one label.
// Every sample gets a stable idempotency key ("fashion-mnist/train/123", "file:<path>"), so
// re-running an interrupted ingest sends nothing twice.
#ifndef PERENNIAL_CLIENTS_CLI_INGEST_SOURCE_H_
#define PERENNIAL_CLIENTS_CLI_INGEST_SOURCE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clients/cli/batch_limit.h"
#include "learner/base/status.h"
#include "perennial/v1/sample.pb.h"

namespace perennial::cli {

struct IngestSourceOptions {
  // Built-in dataset: "fashion-mnist" (empty: none). Default: empty.
  std::string dataset;
  // Dataset location; empty: the dataset's default (Debian's package). Default: empty.
  std::string data_dir;
  // "train" or "test". Default: "train".
  std::string split = "train";
  // "si-blurry", "class-incremental" or "iid" (folders: "iid" shuffles, otherwise listing
  // order). Default: "si-blurry".
  std::string order = "si-blurry";
  uint64_t seed = 1;      // Default: 1.
  int tasks = 5;          // Default: 5.
  double n_percent = 50;  // Si-Blurry N. Default: 50.
  double m_percent = 10;  // Si-Blurry M. Default: 10.
  // Only the first `limit` samples of the order (0: all). Default: 0.
  int64_t limit = 0;
  // Every eval_every-th sample is sent with split EVAL (0: none). Default: 0.
  int64_t eval_every = 0;
  // A folder of class sub-folders. Default: empty.
  std::string folder;
  // Image files, all with `label`. Default: empty.
  std::vector<std::string> files;
  std::string label;
};

class IngestSource {
 public:
  // Exactly one of dataset, folder or files must be given. Errors: unknown dataset or order, a
  // dataset that does not load, files without --label.
  static StatusOr<std::unique_ptr<IngestSource>> Open(const IngestSourceOptions& options);
  virtual ~IngestSource() = default;

  virtual size_t size() const = 0;
  // Sample i in sending order (0 <= i < size()). Errors: unreadable file.
  virtual StatusOr<v1::Sample> Sample(size_t i) const = 0;
  // One line for the progress output, e.g. "fashion-mnist train, si-blurry seed 1".
  virtual std::string description() const = 0;
};

// Reads a source in order into batches within a BatchLimit of samples and their serialized
// bytes.
class SampleBatcher {
 public:
  // `source` is borrowed. Requires limit.max_items >= 1.
  SampleBatcher(const IngestSource* source, const BatchLimit& limit);

  // The next batch; empty once every sample was returned. Errors: the source's.
  StatusOr<std::vector<v1::Sample>> Next();

 private:
  const IngestSource* const source_;
  const BatchLimit limit_;
  size_t next_ = 0;                    // the next sample to read
  std::optional<v1::Sample> carried_;  // read, but it did not fit the previous batch
};

}  // namespace perennial::cli

#endif  // PERENNIAL_CLIENTS_CLI_INGEST_SOURCE_H_
