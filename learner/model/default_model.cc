#include "learner/model/default_model.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace perennial {
namespace {

std::filesystem::path ExecutableDir() {
  std::error_code error;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::filesystem::path() : exe.parent_path();
}

}  // namespace

StatusOr<std::string> ResolveModelPath(const std::string& requested) {
  if (!requested.empty()) return requested;
  if (const char* env = std::getenv("PERENNIAL_MODEL"); env != nullptr && *env != '\0') {
    return std::string(env);
  }
  const std::filesystem::path candidates[] = {
      ExecutableDir() / "../share/perennial/models" / kDefaultModelFile,
      std::filesystem::path(PERENNIAL_SOURCE_DIR) / "models" / kDefaultModelFile,
  };
  for (const auto& path : candidates) {
    std::error_code error;
    if (std::filesystem::exists(path, error)) return path.lexically_normal().string();
  }
  return NotFoundError("no --model given and the embedded default model (models/" +
                       std::string(kDefaultModelFile) +
                       ") is not available; pass --model FILE or set PERENNIAL_MODEL");
}

}  // namespace perennial
