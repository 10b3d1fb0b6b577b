// File: server/prometheus_fwd.h
//
// Forward declarations of the prometheus-cpp types that metrics headers hold pointers to, so that
// those headers (and everything including them) need not include prometheus-cpp itself.
#ifndef PERENNIAL_SERVER_PROMETHEUS_FWD_H_
#define PERENNIAL_SERVER_PROMETHEUS_FWD_H_

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

#endif  // PERENNIAL_SERVER_PROMETHEUS_FWD_H_
