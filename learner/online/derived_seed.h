// File: learner/online/derived_seed.h
//
// Counter-based seeding: every random draw of the online learner comes from a generator seeded
// by DerivedSeed(run seed, purpose, counter) (the step or sample counter), never from a generator
// that lives across steps. The learner's random state is therefore a pure function of counters
// it already saves, which is what makes a restored run continue bit-for-bit.
#ifndef PERENNIAL_LEARNER_ONLINE_DERIVED_SEED_H_
#define PERENNIAL_LEARNER_ONLINE_DERIVED_SEED_H_

#include <cstdint>

namespace perennial {

enum class SeedPurpose : uint64_t {
  kAdapterInit = 1,
  kReplaySample = 2,
  kReservoir = 3,
  kVocabularyDraw = 4,
  kVocabularySubset = 5,
  kDropout = 6,
};

// SplitMix64 finaliser: a bijective, well-mixing 64-bit hash.
inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline uint64_t DerivedSeed(uint64_t seed, SeedPurpose purpose, uint64_t counter) {
  return SplitMix64(SplitMix64(SplitMix64(seed) ^ static_cast<uint64_t>(purpose)) ^ counter);
}

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_ONLINE_DERIVED_SEED_H_
