#include "server/security.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "learner/data/read_file.h"

namespace perennial {
namespace {

constexpr char kBearerPrefix[] = "Bearer ";

// Certificates and token files are small; the cap turns a wrong path into a clear error.
constexpr int64_t kMaxSecurityFileBytes = int64_t{1} << 20;

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, const char* what) {
  absl::StatusOr<std::vector<uint8_t>> bytes = ReadFileBytes(path, kMaxSecurityFileBytes);
  if (!bytes.ok()) {
    return absl::Status(bytes.status().code(), absl::StrCat(what, ": ", bytes.status().message()));
  }
  return std::string(bytes->begin(), bytes->end());
}

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  absl::StatusOr<std::string> pem = ReadSmallFile(path, what);
  if (pem.ok() && !absl::StrContains(*pem, "-----BEGIN ")) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", path, ": not a PEM file"));
  }
  return pem;
}

// Equal-length-independent comparison: the time taken depends on the lengths only.
bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  const size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const SecurityOptions& options) {
  const bool has_cert = !options.tls_cert_file.empty();
  const bool has_key = !options.tls_key_file.empty();
  if (has_cert != has_key) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together: give both or neither");
  }
  if (!has_cert) {
    if (!options.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
    }
    return grpc::InsecureServerCredentials();
  }
  absl::StatusOr<std::string> cert = ReadPem(options.tls_cert_file, "--tls-cert");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem(options.tls_key_file, "--tls-key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!options.tls_client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPem(options.tls_client_ca_file, "--tls-client-ca");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  ssl.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
  return grpc::SslServerCredentials(ssl);
}

std::string DescribeSecurity(const SecurityOptions& options) {
  std::string transport = options.tls_cert_file.empty()        ? "plaintext"
                          : options.tls_client_ca_file.empty() ? "TLS"
                                                               : "mutual TLS";
  return absl::StrCat(transport, options.auth_token_file.empty() ? ", no token required"
                                                                 : ", bearer token required");
}

TokenAuthenticator::TokenAuthenticator(std::vector<std::string> tokens) {
  for (std::string& token : tokens) {
    if (!token.empty()) tokens_.push_back(std::move(token));
  }
}

absl::StatusOr<TokenAuthenticator> TokenAuthenticator::FromFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path, "--auth-token-file");
  if (!text.ok()) return text.status();
  std::vector<std::string> tokens;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    tokens.emplace_back(line);
  }
  if (tokens.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--auth-token-file ", path, ": no token in it (one per line; '#' starts a comment)"));
  }
  return TokenAuthenticator(std::move(tokens));
}

absl::Status TokenAuthenticator::Check(const grpc::ServerContext& context) const {
  if (!enabled()) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  const auto found = metadata.find("authorization");
  if (found == metadata.end()) {
    return absl::UnauthenticatedError(
        "this server requires a bearer token: send 'authorization: Bearer <token>' metadata "
        "(perennial CLI: --token-file or $PERENNIAL_TOKEN)");
  }
  const std::string value(found->second.data(), found->second.size());
  bool accepted = false;
  if (absl::StartsWith(value, kBearerPrefix)) {
    const std::string presented = value.substr(sizeof(kBearerPrefix) - 1);
    for (const std::string& token : tokens_) accepted |= ConstantTimeEquals(presented, token);
  }
  if (!accepted) return absl::UnauthenticatedError("the bearer token was not accepted");
  return absl::OkStatus();
}

}  // namespace perennial
