#include "server/http_exposer.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace perennial {
namespace {

constexpr size_t kMaxRequestBytes = 8192;

void WriteAll(int fd, const std::string& data) {
  size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = send(fd, data.data() + written, data.size() - written, MSG_NOSIGNAL);
    if (n <= 0) return;  // the scraper went away
    written += static_cast<size_t>(n);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpExposer>> HttpExposer::Start(const std::string& listen,
                                                                std::string path,
                                                                std::string content_type,
                                                                std::function<std::string()> body) {
  const size_t colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", listen, "' is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* addresses = nullptr;
  const std::string service = std::to_string(port);
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &addresses) !=
          0 ||
      addresses == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", listen, "': cannot resolve '", host, "'"));
  }
  int fd = socket(addresses->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || bind(fd, addresses->ai_addr, addresses->ai_addrlen) != 0 || ::listen(fd, 16) != 0) {
    const std::string reason = std::strerror(errno);
    if (fd >= 0) close(fd);
    freeaddrinfo(addresses);
    return absl::UnavailableError(absl::StrCat("cannot serve /metrics on ", listen, ": ", reason));
  }
  freeaddrinfo(addresses);
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  const int bound_port = bound.ss_family == AF_INET6
                             ? ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port)
                             : ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  return std::unique_ptr<HttpExposer>(
      new HttpExposer(fd, bound_port, std::move(path), std::move(content_type), std::move(body)));
}

HttpExposer::HttpExposer(int fd, int port, std::string path, std::string content_type,
                         std::function<std::string()> body)
    : fd_(fd),
      port_(port),
      path_(std::move(path)),
      content_type_(std::move(content_type)),
      body_(std::move(body)) {
  thread_ = std::thread([this] { Serve(); });
}

HttpExposer::~HttpExposer() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
  close(fd_);
}

void HttpExposer::Serve() {
  while (!stopping_.load()) {
    pollfd waiting{fd_, POLLIN, 0};
    if (poll(&waiting, 1, /*timeout_ms=*/100) <= 0) continue;
    const int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    Handle(client);
    close(client);
  }
}

// Reads the request head (bounded in size and time, so a slow or hostile client cannot hold
// the thread), answers, and lets the caller close the connection.
void HttpExposer::Handle(int client) const {
  timeval timeout{2, 0};
  setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  std::string request;
  char buffer[1024];
  while (request.find("\r\n\r\n") == std::string::npos &&
         request.find("\n\n") == std::string::npos && request.size() < kMaxRequestBytes) {
    const ssize_t n = recv(client, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    request.append(buffer, static_cast<size_t>(n));
  }
  const size_t line_end = request.find_first_of("\r\n");
  const std::string line = request.substr(0, line_end);
  // "GET /metrics HTTP/1.1" (a query string is ignored).
  const size_t first_space = line.find(' ');
  const size_t second_space = line.find(' ', first_space + 1);
  std::string target = first_space == std::string::npos
                           ? ""
                           : line.substr(first_space + 1, second_space - first_space - 1);
  target = target.substr(0, target.find('?'));
  const bool is_get = line.compare(0, 4, "GET ") == 0;
  std::string status = "404 Not Found", type = "text/plain", body = "not found\n";
  if (is_get && target == path_) {
    status = "200 OK";
    type = content_type_;
    body = body_();
  } else if (!is_get) {
    status = "405 Method Not Allowed";
    body = "only GET\n";
  }
  WriteAll(client, absl::StrCat("HTTP/1.0 ", status, "\r\nContent-Type: ", type,
                                "\r\nContent-Length: ", body.size(),
                                "\r\nConnection: close\r\n\r\n", body));
}

}  // namespace perennial
