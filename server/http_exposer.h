// File: server/http_exposer.h
//
// A minimal HTTP/1.0 endpoint that answers GET <path> with a text body produced on demand: the
// /metrics page for Prometheus.
//
// Why not prometheus::Exposer: it runs on civetweb, whose Debian build creates its threads with
// a small fixed stack; in a process that also loads LibTorch (and its ~300 shared libraries) the
// static TLS does not fit that stack, pthread_create fails with EINVAL and the Exposer throws
// "Cannot create threads". This endpoint uses one ordinary std::thread and serves scrapes one at
// a time, which is all a Prometheus server needs.
//
// Thread-safety: Start/port/destructor from one thread; `body` is called on the serving thread.
#ifndef PERENNIAL_SERVER_HTTP_EXPOSER_H_
#define PERENNIAL_SERVER_HTTP_EXPOSER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace perennial {

class HttpExposer {
 public:
  // Listens on `listen` ("host:port"; host a numeric address or "localhost"; port 0 picks a free
  // port) and answers GET `path` with 200 and body() as `content_type`, anything else with 404.
  // UNAVAILABLE if the address cannot be bound, INVALID_ARGUMENT if it does not parse.
  static absl::StatusOr<std::unique_ptr<HttpExposer>> Start(const std::string& listen,
                                                            std::string path,
                                                            std::string content_type,
                                                            std::function<std::string()> body);
  // Stops serving and closes the socket.
  ~HttpExposer();

  HttpExposer(const HttpExposer&) = delete;
  HttpExposer& operator=(const HttpExposer&) = delete;

  int port() const { return port_; }

 private:
  HttpExposer(int fd, int port, std::string path, std::string content_type,
              std::function<std::string()> body);
  void Serve();
  void Handle(int client) const;

  const int fd_;
  const int port_;
  const std::string path_;
  const std::string content_type_;
  const std::function<std::string()> body_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace perennial

#endif  // PERENNIAL_SERVER_HTTP_EXPOSER_H_
