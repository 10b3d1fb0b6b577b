// File: bench/learner_bench.h
//
// The "learner" suite: the online learner's training throughput on a real model file (the
// embedded default unless --model), per method, as the server's learner thread runs it
// (OnlineLearner::Observe on batches of preprocessed images, publishing every k steps), and the
// resident memory before and after the timed steps (the "no growth" check).
#ifndef PERENNIAL_BENCH_LEARNER_BENCH_H_
#define PERENNIAL_BENCH_LEARNER_BENCH_H_

#include <string>
#include <vector>

#include "bench/bench_util.h"

namespace perennial::bench {

struct LearnerBenchOptions {
  // Model file; empty means the embedded default model. Default: empty.
  std::string model_path;
  // Methods timed, in order (OnlineMethodName spellings). Default: sit, sit+vrlwf.
  std::vector<std::string> methods = {"sit", "sit+vrlwf"};
  // sit+vrlwf's replay vocabulary: a word list, one word per line (LoadWordList); empty means
  // the system's (DefaultWordListPath). Default: empty.
  std::string words_path;
  // Timed Observe() calls per method (after 10 warm-up calls). Default: 200.
  int steps = 200;
  // Timed single-image forwards of the lone-query figure (query_encode_one_image_<model>); 0
  // skips it. Default: 200.
  int query_iterations = 200;
  // OnlineLearnerOptions::online_iters: optimizer steps per Observe() (images_per_s counts each
  // image once, as the stream feeds it). Default: 1.
  int online_iters = 1;
  // OnlineLearnerOptions::parallel_teacher (sit+vrlwf's teacher on a helper thread). Default:
  // false.
  bool parallel_teacher = false;
  // OnlineLearnerOptions::image_parts: the image tower's work split across this many threads.
  // Default: 1.
  int image_parts = 1;
  // Where to write a profiler trace of 3 Observe() calls per method (profiler_trace.h), the
  // method's name inserted before the extension ("t.json" -> "t.sit.json"); "" = none. Ops that
  // image parts run on their own threads are not in it (the 1.x profiler is per thread).
  // Default: "".
  std::string trace_path;
  // Batch, threads, device, dtype, oneDNN.
  RunOptions run;
};

// Prints one JSON line per method (learner_<method>_<model>), then one for a lone query's image
// forward (query_encode_one_image_<model>). Returns 0, or non-zero with a
// message on stderr when the setup fails.
int RunLearnerBench(const LearnerBenchOptions& options);

}  // namespace perennial::bench

#endif  // PERENNIAL_BENCH_LEARNER_BENCH_H_
