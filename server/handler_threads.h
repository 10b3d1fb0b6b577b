// File: server/handler_threads.h
//
// gRPC runs handlers on threads of its own, whose OpenMP teams would take LibTorch's default
// thread count (all cores) for the LibTorch work a handler does itself: a query's
// preprocessing, label embeddings and scoring, SetProbes' probe images and labels. That is a
// second and third team beside the query thread's and the learner's: on 2 cores, scoring the
// second of two simultaneous queries took 8-10 ms that way, 0.2-0.4 ms with one thread.
#ifndef PERENNIAL_SERVER_HANDLER_THREADS_H_
#define PERENNIAL_SERVER_HANDLER_THREADS_H_

namespace perennial {

// Gives the calling (handler) thread `threads` LibTorch intra-op threads, once per thread and
// count; 0 leaves LibTorch's default. Call at the start of every handler that runs LibTorch ops.
void LimitHandlerThreads(int threads);

}  // namespace perennial

#endif  // PERENNIAL_SERVER_HANDLER_THREADS_H_
