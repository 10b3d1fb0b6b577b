#include "clients/cli/connection.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "server/status_convert.h"

namespace perennial::cli {

std::string Connection::DefaultServer() {
  const char* env = std::getenv("PERENNIAL_SERVER");
  return env != nullptr && *env != '\0' ? env : "127.0.0.1:50051";
}

void AddConnectionFlags(CLI::App* sub, Connection* c) {
  sub->add_option("--server", c->server, "perennial-server address (default: $PERENNIAL_SERVER)")
      ->capture_default_str();
  sub->add_option("--timeout", c->timeout_s, "deadline of each call, seconds")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_flag("--json", c->json, "print JSON instead of text");
}

std::shared_ptr<grpc::Channel> Channel(const Connection& c, int stream_id) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  // Channels with different arguments do not share a subchannel (connection).
  if (stream_id > 0) args.SetInt("perennial.stream_id", stream_id);
  return grpc::CreateCustomChannel(c.server, grpc::InsecureChannelCredentials(), args);
}

void SetDeadline(const Connection& c, grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(c.timeout_s * 1000)));
}

Status CallStatus(const Connection& c, const char* rpc, const grpc::Status& status) {
  if (status.ok()) return OkStatus();
  const Status converted = FromGrpcStatus(status);
  return Status(converted.code(),
                std::string(rpc) + " on " + c.server + ": " + std::string(converted.message()));
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
