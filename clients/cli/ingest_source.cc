#include "clients/cli/ingest_source.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <utility>

#include "learner/data/fashion_mnist.h"
#include "learner/data/image_folder.h"
#include "learner/data/read_file.h"
#include "learner/data/stream.h"

namespace perennial::cli {
namespace {

StatusOr<StreamOrder> MakeOrder(const IngestSourceOptions& o, const std::vector<int32_t>& labels) {
  if (o.order == "si-blurry") {
    SiBlurryOptions s;
    s.num_tasks = o.tasks;
    s.disjoint_class_ratio = o.n_percent / 100.0;
    s.blurry_sample_ratio = o.m_percent / 100.0;
    s.seed = o.seed;
    return SiBlurryOrder(labels, s);
  }
  if (o.order == "class-incremental") return ClassIncrementalOrder(labels, o.tasks, o.seed);
  if (o.order == "iid") return IidOrder(static_cast<int64_t>(labels.size()), o.seed);
  return InvalidArgumentError("--order '" + o.order +
                              "' is unknown; want si-blurry, class-incremental or iid");
}

// Applies --limit and --eval-every to sample i of a source.
class Ordered : public IngestSource {
 public:
  Ordered(const IngestSourceOptions& options, std::vector<int64_t> order)
      : options_(options), order_(std::move(order)) {
    if (options.limit > 0 && static_cast<size_t>(options.limit) < order_.size()) {
      order_.resize(static_cast<size_t>(options.limit));
    }
  }
  size_t size() const override { return order_.size(); }
  StatusOr<v1::Sample> Sample(size_t i) const override {
    PERENNIAL_ASSIGN_OR_RETURN(v1::Sample sample, Item(order_[i]));
    if (options_.eval_every > 0 && (i + 1) % static_cast<size_t>(options_.eval_every) == 0) {
      sample.set_split(v1::Sample::EVAL);
    }
    return sample;
  }

 protected:
  virtual StatusOr<v1::Sample> Item(int64_t index) const = 0;
  const IngestSourceOptions options_;

 private:
  std::vector<int64_t> order_;
};

class DatasetSource : public Ordered {
 public:
  DatasetSource(const IngestSourceOptions& options, Dataset dataset, std::vector<int64_t> order)
      : Ordered(options, std::move(order)), dataset_(std::move(dataset)) {}
  std::string description() const override {
    return options_.dataset + " " + options_.split + ", " + options_.order + " seed " +
           std::to_string(options_.seed);
  }

 protected:
  StatusOr<v1::Sample> Item(int64_t index) const override {
    const ImageView view = dataset_.View(index);
    v1::Sample sample;
    v1::RawImage* raw = sample.mutable_image()->mutable_raw();
    raw->set_height(view.height);
    raw->set_width(view.width);
    raw->set_channels(view.channels);
    raw->set_pixels(view.pixels, static_cast<size_t>(view.height) * view.width * view.channels);
    sample.set_label(dataset_.class_names()[view.label]);
    sample.set_idempotency_key(options_.dataset + "/" + options_.split + "/" +
                               std::to_string(index));
    return sample;
  }

 private:
  Dataset dataset_;
};

class FileSource : public Ordered {
 public:
  FileSource(const IngestSourceOptions& options, std::vector<std::string> paths,
             std::vector<std::string> labels, std::vector<int64_t> order)
      : Ordered(options, std::move(order)), paths_(std::move(paths)), labels_(std::move(labels)) {}
  std::string description() const override {
    return options_.folder.empty() ? "files labeled '" + options_.label + "'"
                                   : "folder " + options_.folder;
  }

 protected:
  StatusOr<v1::Sample> Item(int64_t index) const override {
    PERENNIAL_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadFileBytes(paths_[index]));
    v1::Sample sample;
    sample.mutable_image()->set_encoded(std::string(bytes.begin(), bytes.end()));
    sample.set_label(labels_[index]);
    sample.set_idempotency_key("file:" + paths_[index]);
    return sample;
  }

 private:
  std::vector<std::string> paths_;
  std::vector<std::string> labels_;
};

std::vector<int64_t> ListingOrder(size_t n, const IngestSourceOptions& o) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (o.order == "iid") std::shuffle(order.begin(), order.end(), std::mt19937_64(o.seed));
  return order;
}

StatusOr<std::unique_ptr<IngestSource>> OpenDataset(const IngestSourceOptions& o) {
  if (o.dataset != "fashion-mnist") {
    return InvalidArgumentError("--dataset '" + o.dataset + "' is unknown; want fashion-mnist");
  }
  if (o.split != "train" && o.split != "test") {
    return InvalidArgumentError("--split '" + o.split + "': want train or test");
  }
  PERENNIAL_ASSIGN_OR_RETURN(
      Dataset dataset, LoadFashionMnist(o.data_dir.empty() ? kDefaultFashionMnistDir : o.data_dir,
                                        o.split == "train" ? Split::kTrain : Split::kTest));
  PERENNIAL_ASSIGN_OR_RETURN(StreamOrder order, MakeOrder(o, dataset.labels()));
  return std::unique_ptr<IngestSource>(
      new DatasetSource(o, std::move(dataset), std::move(order.indices)));
}

}  // namespace

StatusOr<std::unique_ptr<IngestSource>> IngestSource::Open(const IngestSourceOptions& o) {
  const int given = !o.dataset.empty() + !o.folder.empty() + !o.files.empty();
  if (given != 1) {
    return InvalidArgumentError("give exactly one of --dataset, --folder or image files");
  }
  if (!o.dataset.empty()) return OpenDataset(o);
  if (!o.folder.empty()) {
    PERENNIAL_ASSIGN_OR_RETURN(ImageFolderIndex index, ScanImageFolder(o.folder));
    std::vector<std::string> labels;
    for (int32_t label : index.labels) labels.push_back(index.class_names[label]);
    std::vector<int64_t> order = ListingOrder(index.paths.size(), o);
    return std::unique_ptr<IngestSource>(
        new FileSource(o, std::move(index.paths), std::move(labels), std::move(order)));
  }
  if (o.label.empty()) return InvalidArgumentError("image files need --label");
  std::vector<std::string> labels(o.files.size(), o.label);
  return std::unique_ptr<IngestSource>(
      new FileSource(o, o.files, std::move(labels), ListingOrder(o.files.size(), o)));
}

SampleBatcher::SampleBatcher(const IngestSource* source, const BatchLimit& limit)
    : source_(source), limit_(limit) {}

StatusOr<std::vector<v1::Sample>> SampleBatcher::Next() {
  std::vector<v1::Sample> batch;
  size_t bytes = 0;
  for (;;) {
    if (!carried_.has_value()) {
      if (next_ == source_->size()) break;
      PERENNIAL_ASSIGN_OR_RETURN(carried_, source_->Sample(next_));
      ++next_;
    }
    const size_t size = carried_->ByteSizeLong();
    if (!limit_.Admits(batch.size(), bytes, size)) break;
    bytes += size;
    batch.push_back(*std::move(carried_));
    carried_.reset();
  }
  return batch;
}

}  // namespace perennial::cli
