// File: learner/data/image_folder.cc
#include "learner/data/image_folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>
#include <utility>

namespace perennial {
namespace {

namespace fs = std::filesystem;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool Hidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

bool Accepted(const fs::path& p, const std::vector<std::string>& extensions) {
  const std::string ext = Lower(p.extension().string());
  for (const std::string& e : extensions) {
    if (ext == Lower(e)) return true;
  }
  return false;
}

Status WalkError(const fs::path& p, const std::error_code& ec) {
  return InternalError("image folder: " + p.string() + ": " + ec.message());
}

// Sorted image files under `dir` (recursive, hidden entries skipped).
StatusOr<std::vector<std::string>> ListImages(const fs::path& dir,
                                              const std::vector<std::string>& extensions) {
  std::vector<std::string> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec);
  if (ec) return WalkError(dir, ec);
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return WalkError(dir, ec);
    if (Hidden(it->path())) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec) && Accepted(it->path(), extensions)) {
      files.push_back(it->path().string());
    }
  }
  if (ec) return WalkError(dir, ec);
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

StatusOr<ImageFolderIndex> ScanImageFolder(const std::string& root,
                                           const ImageFolderOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return NotFoundError("image folder: " + root + " is not a directory");
  }
  std::vector<fs::path> class_dirs;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (!Hidden(it->path()) && it->is_directory(type_ec)) class_dirs.push_back(it->path());
  }
  if (ec) return WalkError(root, ec);
  if (class_dirs.empty()) {
    return NotFoundError("image folder: " + root + " has no class sub-folders");
  }
  std::sort(class_dirs.begin(), class_dirs.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
  ImageFolderIndex index;
  for (size_t c = 0; c < class_dirs.size(); ++c) {
    index.class_names.push_back(class_dirs[c].filename().string());
    PERENNIAL_ASSIGN_OR_RETURN(std::vector<std::string> files,
                               ListImages(class_dirs[c], options.extensions));
    for (std::string& f : files) {
      index.paths.push_back(std::move(f));
      index.labels.push_back(static_cast<int32_t>(c));
    }
  }
  return index;
}

StatusOr<LabeledImage> LoadImageFolderItem(const ImageFolderIndex& index, int64_t i,
                                           const DecodeOptions& options) {
  if (i < 0 || i >= static_cast<int64_t>(index.paths.size())) {
    return OutOfRangeError("image folder: index " + std::to_string(i) + " outside [0, " +
                           std::to_string(index.paths.size()) + ")");
  }
  PERENNIAL_ASSIGN_OR_RETURN(Image image, ReadImageFile(index.paths[i], options));
  return LabeledImage{std::move(image), index.labels[i]};
}

StatusOr<Dataset> LoadImageFolder(const std::string& root, const ImageFolderOptions& options) {
  PERENNIAL_ASSIGN_OR_RETURN(ImageFolderIndex index, ScanImageFolder(root, options));
  Dataset dataset(index.class_names);
  for (size_t i = 0; i < index.paths.size(); ++i) {
    PERENNIAL_ASSIGN_OR_RETURN(LabeledImage item,
                               LoadImageFolderItem(index, static_cast<int64_t>(i), options.decode));
    Status added = dataset.Add(item.image, item.label);
    if (!added.ok()) {
      return InvalidArgumentError(index.paths[i] + ": " + std::string(added.message()));
    }
  }
  return dataset;
}

}  // namespace perennial
