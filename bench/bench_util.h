// File: bench/bench_util.h
//
// Shared by the benchmark suites: timing loops, peak memory, and the JSON-line output format
// (one object per figure with "name" and the figure's unit, plus the goal it is compared with).
#ifndef PERENNIAL_BENCH_BENCH_UTIL_H_
#define PERENNIAL_BENCH_BENCH_UTIL_H_

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace perennial::bench {

struct Timing {
  double mean_ms = 0;
  double min_ms = 0;
  int iterations = 0;
};

// Runs `fn` `warmup` times untimed, then `iterations` times timed.
Timing TimeIt(const std::function<void()>& fn, int warmup, int iterations);

// Peak resident set size of this process so far, in MiB.
double PeakRssMiB();
// Current resident set size, in MiB.
double CurrentRssMiB();

// A JSON value: number or string. Enough for flat benchmark records.
struct Field {
  std::string key;
  std::string json;  // already-encoded JSON value
};
Field Num(const std::string& key, double value);
Field Str(const std::string& key, const std::string& value);

// Prints {"name": name, fields...} on one line to stdout and flushes.
void PrintRecord(const std::string& name, const std::vector<Field>& fields);

}  // namespace perennial::bench

#endif  // PERENNIAL_BENCH_BENCH_UTIL_H_
