// File: clients/cli/connection.h
//
// How the `perennial` commands that talk to a running server reach it: --server (default
// $PERENNIAL_SERVER, else 127.0.0.1:50051), --timeout per call, --json output, TLS (--tls,
// --tls-ca, --tls-cert/--tls-key for mutual TLS) and a bearer token (--token-file, else
// $PERENNIAL_TOKEN); and the one place a grpc::Status becomes a perennial Status with the RPC
// and address in its message.
#ifndef PERENNIAL_CLIENTS_CLI_CONNECTION_H_
#define PERENNIAL_CLIENTS_CLI_CONNECTION_H_

#include <google/protobuf/message.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "learner/base/status.h"

namespace perennial::cli {

struct Connection {
  // host:port of perennial-server. Default: $PERENNIAL_SERVER, else 127.0.0.1:50051.
  std::string server = DefaultServer();
  // Deadline of each call, seconds. Default: 30.
  double timeout_s = 30;
  // Print JSON instead of text. Default: false.
  bool json = false;
  // TLS to the server; implied by a CA or client certificate. Default: false (plaintext).
  bool tls = false;
  // PEM contents (the flags take file names and read them while parsing): the CA that signed the
  // server's certificate (empty: the system's roots), and a client certificate chain and key for
  // mutual TLS. Default: empty.
  std::string tls_ca_pem;
  std::string tls_cert_pem;
  std::string tls_key_pem;
  // Name the server's certificate must carry when it differs from --server's host (e.g. the
  // server is reached by IP). Default: empty (the host of --server).
  std::string tls_server_name;
  // Sent as "authorization: Bearer <token>" on every call; empty: none.
  // Default: $PERENNIAL_TOKEN.
  std::string token = DefaultToken();

  static std::string DefaultServer();
  static std::string DefaultToken();
};

// Adds --server, --timeout, --json, the TLS flags and --token-file to `sub`, bound to `c`.
void AddConnectionFlags(CLI::App* sub, Connection* c);
// A channel to c.server with 64 MiB message limits. `stream_id` > 0 gives the caller a channel
// of its own (a separate TCP connection), as separate client processes would have.
std::shared_ptr<grpc::Channel> Channel(const Connection& c, int stream_id = 0);
// Sets the call's deadline to now + c.timeout_s and adds the bearer token, if any.
void PrepareCall(const Connection& c, grpc::ClientContext* context);
// OK, or the call's status as "<rpc> on <server>: <message>" with the same code.
Status CallStatus(const Connection& c, const char* rpc, const grpc::Status& status);
// Whether `status` (from CallStatus) says a message was above a gRPC size limit: the client's
// or the server's --max-message-bytes.
bool IsMessageTooLarge(const Status& status);
// Prints `message` as text, or as one line of JSON with c.json.
void PrintMessage(const Connection& c, const google::protobuf::Message& message);

}  // namespace perennial::cli

#endif  // PERENNIAL_CLIENTS_CLI_CONNECTION_H_
