// perennial_world_tool: look at and time the synthetic world.
//
//   perennial_world_tool grid OUT [SEED] [BACKGROUND_LEVEL] [FIRST_INDEX]
//       Writes a 4 x 4 grid of training samples, each upscaled 3x (nearest), to OUT (.png in the
//       full build, otherwise .ppm) and prints each tile's captions.
//   perennial_world_tool probes OUT [SEED]
//       Same, with one row of four held-out probe samples per task (colour, shape, position,
//       count).
//   perennial_world_tool bench [N] [RESOLUTION]
//       Generates N samples (default 20000) on one thread and prints samples per second.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "learner/data/synthetic_world.h"
#include "learner/data/world_probes.h"
#include "learner/model/image.h"
#if PERENNIAL_WORLD_TOOL_PNG
#include "learner/model/image_io.h"
#endif

namespace perennial {
namespace {

constexpr int kGrid = 4;
constexpr int kScale = 3;
constexpr int kGutter = 4;

uint64_t ArgU64(int argc, char** argv, int i, uint64_t fallback) {
  return argc > i ? std::strtoull(argv[i], nullptr, 10) : fallback;
}

// Tiles 16 equally sized RGB images into a 4 x 4 grid, upscaled kScale times.
Image Tile(const std::vector<Image>& tiles) {
  const int side = tiles.front().height * kScale;
  const int total = kGrid * side + (kGrid + 1) * kGutter;
  Image grid;
  grid.height = grid.width = total;
  grid.channels = 3;
  grid.pixels.assign(static_cast<size_t>(total) * total * 3, 255);
  for (size_t t = 0; t < tiles.size() && t < kGrid * kGrid; ++t) {
    const int oy = kGutter + static_cast<int>(t / kGrid) * (side + kGutter);
    const int ox = kGutter + static_cast<int>(t % kGrid) * (side + kGutter);
    for (int y = 0; y < side; ++y) {
      for (int x = 0; x < side; ++x) {
        const size_t src = (static_cast<size_t>(y / kScale) * tiles[t].width + x / kScale) * 3;
        const size_t dst = (static_cast<size_t>(oy + y) * total + ox + x) * 3;
        for (int c = 0; c < 3; ++c) grid.pixels[dst + c] = tiles[t].pixels[src + c];
      }
    }
  }
  return grid;
}

int Write(const std::string& path, const Image& image) {
#if PERENNIAL_WORLD_TOOL_PNG
  const Status status = WritePng(path, image);
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return 1;
  }
#else
  std::ofstream out(path, std::ios::binary);
  out << "P6\n" << image.width << " " << image.height << "\n255\n";
  out.write(reinterpret_cast<const char*>(image.pixels.data()),
            static_cast<std::streamsize>(image.pixels.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    return 1;
  }
#endif
  std::printf("wrote %s\n", path.c_str());
  return 0;
}

int Grid(const std::string& path, uint64_t seed, int level, uint64_t first) {
  WorldOptions options;
  options.background_level = level;
  std::vector<Image> tiles;
  for (int i = 0; i < kGrid * kGrid; ++i) {
    WorldSample sample = Generate(seed, first + i, options);
    std::printf("tile %2d:", i);
    for (const Caption& caption : sample.captions) std::printf(" | %s", caption.text.c_str());
    std::printf("\n  training caption: %s\n", sample.caption().c_str());
    tiles.push_back(std::move(sample.image));
  }
  return Write(path, Tile(tiles));
}

int Probes(const std::string& path, uint64_t seed) {
  std::vector<Image> tiles;
  const std::vector<ProbeTask> tasks = ProbeTasks();
  for (int row = 0; row < kGrid; ++row) {
    for (int i = 0; i < kGrid; ++i) {
      LabeledProbeSample sample = GenerateProbeSample(tasks[row], seed, 3 * i + row);
      std::printf("row %d (%s) tile %d: %s (%s %s)\n", row, tasks[row].name.c_str(), i,
                  tasks[row].label_texts[sample.label].c_str(),
                  ColourNames()[sample.attributes.colour].c_str(),
                  ShapeNames()[sample.attributes.shape].c_str());
      tiles.push_back(std::move(sample.image));
    }
  }
  return Write(path, Tile(tiles));
}

int Bench(uint64_t n, int resolution) {
  WorldOptions options;
  options.resolution = resolution;
  size_t checksum = 0;
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  for (uint64_t i = 0; i < n; ++i) {
    const WorldSample sample = Generate(1, i, options);
    checksum += sample.image.pixels[i % sample.image.pixels.size()] + sample.caption().size();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // CPU time as well: on a shared machine wall time also counts other processes' turns.
  const double cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  std::printf(
      "%llu samples at %dx%d: %.0f samples/s wall, %.0f samples/s per CPU-second "
      "(one thread, checksum %zu)\n",
      static_cast<unsigned long long>(n), resolution, resolution, n / seconds, n / cpu_seconds,
      checksum);
  return 0;
}

}  // namespace
}  // namespace perennial

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  if (command == "grid" && argc > 2) {
    return perennial::Grid(argv[2], perennial::ArgU64(argc, argv, 3, 1),
                           static_cast<int>(perennial::ArgU64(argc, argv, 4, 2)),
                           perennial::ArgU64(argc, argv, 5, 0));
  }
  if (command == "probes" && argc > 2) {
    return perennial::Probes(argv[2], perennial::ArgU64(argc, argv, 3, 1));
  }
  if (command == "bench") {
    return perennial::Bench(perennial::ArgU64(argc, argv, 2, 20000),
                            static_cast<int>(perennial::ArgU64(argc, argv, 3, 64)));
  }
  std::fprintf(stderr,
               "usage: %s grid OUT [SEED] [BACKGROUND_LEVEL] [FIRST_INDEX]\n"
               "       %s probes OUT [SEED]\n"
               "       %s bench [N] [RESOLUTION]\n",
               argv[0], argv[0], argv[0]);
  return 2;
}
