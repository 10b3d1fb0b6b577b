// File: learner/data/world_random.h
//
// Counter-based randomness for the synthetic world: every value is a pure function of its inputs,
// identical on every compiler and standard library (std:: distributions are not, so none are
// used). Mixing is splitmix64's finaliser; a WorldRng is a splitmix64 stream started from a hash of
// (seed, index, stream), so samples can be generated in any order, in parallel, and resumed at any
// index.
#ifndef PERENNIAL_LEARNER_DATA_WORLD_RANDOM_H_
#define PERENNIAL_LEARNER_DATA_WORLD_RANDOM_H_

#include <cstdint>

namespace perennial {

// splitmix64's output function: a bijection on 64-bit values with full avalanche.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Order-sensitive combination of two values into one well-mixed hash.
inline uint64_t HashCombine(uint64_t a, uint64_t b) {
  return Mix64(a ^ (Mix64(b) + 0x632BE59BD9B4E019ULL + (a << 6) + (a >> 2)));
}

inline uint64_t Hash3(uint64_t a, uint64_t b, uint64_t c) {
  return HashCombine(HashCombine(a, b), c);
}

// A small deterministic generator (splitmix64 stream). Not thread-safe; cheap to create, so make
// one per sample/purpose rather than sharing.
class WorldRng {
 public:
  explicit WorldRng(uint64_t state) : state_(state) {}
  WorldRng(uint64_t seed, uint64_t index, uint64_t stream) : state_(Hash3(seed, index, stream)) {}

  uint64_t NextU64() {
    state_ += 0x9E3779B97F4A7C15ULL;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  // Uniform integer in [0, n); n must be > 0. Lemire's multiply-shift (bias < 2^-32 for the small
  // n used here, and exactly reproducible).
  uint32_t Below(uint32_t n) {
    return static_cast<uint32_t>(((NextU64() >> 32) * static_cast<uint64_t>(n)) >> 32);
  }

  // Uniform integer in [lo, hi] (inclusive); requires lo <= hi.
  int Range(int lo, int hi) {
    return lo + static_cast<int>(Below(static_cast<uint32_t>(hi - lo + 1)));
  }

  // Uniform float in [0, 1) with 24 random bits (exactly representable, so reproducible).
  float Unit() { return static_cast<float>(NextU64() >> 40) * (1.0f / 16777216.0f); }

  // Uniform float in [lo, hi).
  float Uniform(float lo, float hi) { return lo + (hi - lo) * Unit(); }

  // True with probability p.
  bool Bernoulli(float p) { return Unit() < p; }

 private:
  uint64_t state_;
};

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_DATA_WORLD_RANDOM_H_
