// File: server/security.h
//
// Who may talk to perennial-server: TLS on the gRPC listener (a server certificate, and with a
// client CA, mutual TLS) and bearer tokens on the calls.
//
// Tokens live in a file, one per line (blank lines and lines starting with '#' are ignored), so
// that a new token can be added, clients moved over, and the old line removed. Clients send
// "authorization: Bearer <token>" metadata on every call (the CLI's --token-file or
// $PERENNIAL_TOKEN, the Python client's token=). grpc.health.v1 stays open, so that orchestrators
// probe without a token; /metrics is a separate HTTP listener: bind it to a private address.
//
// Thread-safety: a TokenAuthenticator is immutable after construction; Check() may be called
// from any number of threads.
#ifndef PERENNIAL_SERVER_SECURITY_H_
#define PERENNIAL_SERVER_SECURITY_H_

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_context.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace perennial {

struct SecurityOptions {
  // PEM certificate chain and private key of the server: both, or neither (plaintext).
  // Default: empty (plaintext).
  std::string tls_cert_file;
  std::string tls_key_file;
  // PEM CA bundle; when set, clients must present a certificate it signed (mutual TLS).
  // Requires the two above. Default: empty.
  std::string tls_client_ca_file;
  // File of accepted bearer tokens (format above); empty: calls need no token. Default: empty.
  std::string auth_token_file;
};

// Plaintext credentials, or TLS ones from the PEM files. Errors: INVALID_ARGUMENT (only one of
// cert/key, client CA without them, a file without PEM content), NOT_FOUND (unreadable file).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const SecurityOptions& options);

// One line for the startup log: "plaintext", "TLS" or "mutual TLS", and whether tokens are
// required.
std::string DescribeSecurity(const SecurityOptions& options);

class TokenAuthenticator {
 public:
  // Accepts every call.
  TokenAuthenticator() = default;
  // Accepts calls carrying one of `tokens` (empty strings are dropped; none left: accepts all).
  explicit TokenAuthenticator(std::vector<std::string> tokens);

  // The tokens of a token file. Errors: NOT_FOUND (unreadable), INVALID_ARGUMENT (no token in
  // it: an empty file would silently open the server).
  static absl::StatusOr<TokenAuthenticator> FromFile(const std::string& path);

  bool enabled() const { return !tokens_.empty(); }
  size_t token_count() const { return tokens_.size(); }

  // OK when disabled or when the call's "authorization" metadata is "Bearer <one of the
  // tokens>"; UNAUTHENTICATED otherwise, saying whether the token was missing or not accepted
  // (never echoing it). Compares in time independent of where the strings differ.
  absl::Status Check(const grpc::ServerContext& context) const;

 private:
  std::vector<std::string> tokens_;
};

}  // namespace perennial

#endif  // PERENNIAL_SERVER_SECURITY_H_
