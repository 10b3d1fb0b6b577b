#include "clients/cli/connection.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "learner/data/read_file.h"
#include "server/status_convert.h"

namespace perennial::cli {

std::string Connection::DefaultServer() {
  const char* env = std::getenv("PERENNIAL_SERVER");
  return env != nullptr && *env != '\0' ? env : "127.0.0.1:50051";
}

std::string Connection::DefaultToken() {
  const char* env = std::getenv("PERENNIAL_TOKEN");
  return env != nullptr ? env : "";
}

namespace {

// The whole (small) file, or a CLI11 validation error naming the flag.
std::string ReadFlagFile(const std::string& flag, const std::string& path) {
  StatusOr<std::vector<uint8_t>> bytes = ReadFileBytes(path, int64_t{1} << 20);
  if (!bytes.ok()) throw CLI::ValidationError(flag, std::string(bytes.status().message()));
  return std::string(bytes->begin(), bytes->end());
}

// A flag naming a file whose contents go to `*target` (and turn TLS on when `tls` is given).
void AddFileFlag(CLI::App* sub, const std::string& flag, const std::string& help,
                 std::string* target, bool* tls) {
  sub->add_option_function<std::string>(
         flag,
         [flag, target, tls](const std::string& path) {
           *target = ReadFlagFile(flag, path);
           if (tls != nullptr) *tls = true;
         },
         help)
      ->check(CLI::ExistingFile);
}

void AddSecurityFlags(CLI::App* sub, Connection* c) {
  sub->add_flag("--tls", c->tls, "connect over TLS, trusting the system's CAs");
  AddFileFlag(sub, "--tls-ca", "PEM CA that signed the server's certificate (implies --tls)",
              &c->tls_ca_pem, &c->tls);
  AddFileFlag(sub, "--tls-cert", "PEM client certificate chain for mutual TLS (implies --tls)",
              &c->tls_cert_pem, &c->tls);
  AddFileFlag(sub, "--tls-key", "PEM private key of --tls-cert", &c->tls_key_pem, &c->tls);
  sub->add_option("--tls-server-name", c->tls_server_name,
                  "name the server's certificate must carry, when --server's host differs");
  sub->add_option_function<std::string>(
         "--token-file",
         [c](const std::string& path) {
           std::string token = ReadFlagFile("--token-file", path);
           while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
             token.pop_back();
           }
           c->token = std::move(token);
         },
         "file holding the bearer token the server requires (default: $PERENNIAL_TOKEN)")
      ->check(CLI::ExistingFile);
}

}  // namespace

void AddConnectionFlags(CLI::App* sub, Connection* c) {
  sub->add_option("--server", c->server, "perennial-server address (default: $PERENNIAL_SERVER)")
      ->capture_default_str();
  sub->add_option("--timeout", c->timeout_s, "deadline of each call, seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_flag("--json", c->json, "print JSON instead of text");
  AddSecurityFlags(sub, c);
}

std::shared_ptr<grpc::Channel> Channel(const Connection& c, int stream_id) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  // Channels with different arguments do not share a subchannel (connection).
  if (stream_id > 0) args.SetInt("perennial.stream_id", stream_id);
  if (!c.tls) return grpc::CreateCustomChannel(c.server, grpc::InsecureChannelCredentials(), args);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = c.tls_ca_pem;
  ssl.pem_cert_chain = c.tls_cert_pem;
  ssl.pem_private_key = c.tls_key_pem;
  if (!c.tls_server_name.empty()) args.SetSslTargetNameOverride(c.tls_server_name);
  return grpc::CreateCustomChannel(c.server, grpc::SslCredentials(ssl), args);
}

void PrepareCall(const Connection& c, grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(c.timeout_s * 1000)));
  if (!c.token.empty()) context->AddMetadata("authorization", "Bearer " + c.token);
}

Status CallStatus(const Connection& c, const char* rpc, const grpc::Status& status) {
  if (status.ok()) return OkStatus();
  const Status converted = FromGrpcStatus(status);
  std::string message =
      std::string(rpc) + " on " + c.server + ": " + std::string(converted.message());
  // The most common first error: nothing listens there (wrong address, server not started).
  if (converted.code() == StatusCode::kUnavailable &&
      converted.message().find("failed to connect") != std::string_view::npos) {
    message +=
        " (is perennial-server running there? --server or $PERENNIAL_SERVER sets the address)";
  }
  if (IsMessageTooLarge(converted)) {
    message += " (the server takes messages up to its --max-message-bytes, 16 MiB by default)";
  }
  return Status(converted.code(), message);
}

bool IsMessageTooLarge(const Status& status) {
  return status.code() == StatusCode::kResourceExhausted &&
         status.message().find("larger than max") != std::string_view::npos;
}

void PrintMessage(const Connection& c, const google::protobuf::Message& message) {
  std::string text;
  if (c.json) {
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    // Cannot fail for a message compiled into this binary.
    const auto printed = google::protobuf::util::MessageToJsonString(message, &text, options);
    (void)printed;
  } else {
    text = message.DebugString();
  }
  std::printf("%s\n", text.c_str());
}

}  // namespace perennial::cli
