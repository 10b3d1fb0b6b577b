#include "server/handler_threads.h"

#include "learner/base/cpu_runtime.h"

namespace perennial {

void LimitHandlerThreads(int threads) {
  thread_local int applied = 0;
  if (threads > 0 && applied != threads && SetCallingThreadIntraOpThreads(threads)) {
    applied = threads;
  }
}

}  // namespace perennial
