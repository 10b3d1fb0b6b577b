#include "clients/cli/query_command.h"

#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "clients/cli/admin_view.h"
#include "clients/cli/command.h"
#include "clients/cli/connection.h"
#include "learner/data/read_file.h"
#include "perennial/v1/inference.grpc.pb.h"

namespace perennial::cli {
namespace {

struct QueryFlags {
  Connection connection;
  std::vector<std::string> images;
  std::string labels;  // comma-separated
  std::string label_set;
  std::vector<std::string> templates;
  uint32_t top_k = 5;
  uint64_t min_version = 0;
};

// The server's default encoded-image limit: larger files are refused here, before sending.
constexpr int64_t kMaxImageBytes = int64_t{8} << 20;

// The request for one image file.
StatusOr<v1::ClassifyRequest> MakeRequest(const QueryFlags& f, const std::string& path) {
  v1::ClassifyRequest request;
  PERENNIAL_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadFileBytes(path, kMaxImageBytes));
  request.mutable_image()->set_encoded(std::string(bytes.begin(), bytes.end()));
  std::stringstream labels(f.labels);
  for (std::string label; std::getline(labels, label, ',');) {
    if (!label.empty()) request.add_labels(label);
  }
  request.set_label_set(f.label_set);
  for (const std::string& t : f.templates) request.add_templates(t);
  request.set_top_k(f.top_k);
  request.set_min_version(f.min_version);
  return request;
}

Status RunQuery(const QueryFlags& f) {
  if (f.labels.empty() == f.label_set.empty()) {
    return InvalidArgumentError("give exactly one of --labels and --label-set");
  }
  auto stub = v1::InferenceService::NewStub(Channel(f.connection));
  for (const std::string& path : f.images) {
    PERENNIAL_ASSIGN_OR_RETURN(v1::ClassifyRequest request, MakeRequest(f, path));
    grpc::ClientContext context;
    PrepareCall(f.connection, &context);
    v1::ClassifyResponse response;
    const Status status =
        CallStatus(f.connection, "Classify", stub->Classify(&context, request, &response));
    if (!status.ok()) return Status(status.code(), path + ": " + std::string(status.message()));
    if (f.connection.json) {
      PrintMessage(f.connection, response);
    } else {
      std::fputs(FormatPredictions(path, response).c_str(), stdout);
    }
  }
  return OkStatus();
}

struct QueryEmbedFlags {
  Connection connection;
  std::vector<std::string> images;
  std::vector<std::string> texts;
  uint64_t min_version = 0;
};

nlohmann::json Vectors(const google::protobuf::RepeatedPtrField<v1::Embedding>& embeddings) {
  nlohmann::json rows = nlohmann::json::array();
  for (const v1::Embedding& e : embeddings) rows.push_back(e.values());
  return rows;
}

// One EmbedImage or EmbedText call: its vectors go to out[key], its version to
// out["model_version"].
template <typename Response, typename Request, typename Rpc>
Status CallEmbed(const Connection& c, const char* name, Rpc rpc, const Request& request,
                 const char* key, nlohmann::json* out) {
  grpc::ClientContext context;
  PrepareCall(c, &context);
  Response response;
  PERENNIAL_RETURN_IF_ERROR(CallStatus(c, name, rpc(&context, request, &response)));
  (*out)[key] = Vectors(response.embeddings());
  (*out)["model_version"] = response.model_version();
  return OkStatus();
}

Status RunQueryEmbed(const QueryEmbedFlags& f) {
  if (f.images.empty() && f.texts.empty()) {
    return InvalidArgumentError("give image files and/or --text");
  }
  auto stub = v1::InferenceService::NewStub(Channel(f.connection));
  nlohmann::json out = nlohmann::json::object();
  if (!f.images.empty()) {
    v1::EmbedImageRequest request;
    for (const std::string& path : f.images) {
      PERENNIAL_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadFileBytes(path, kMaxImageBytes));
      request.add_images()->set_encoded(std::string(bytes.begin(), bytes.end()));
    }
    request.set_min_version(f.min_version);
    out["image_files"] = f.images;
    PERENNIAL_RETURN_IF_ERROR(CallEmbed<v1::EmbedImageResponse>(
        f.connection, "EmbedImage",
        [&](auto* context, const auto& r, auto* response) {
          return stub->EmbedImage(context, r, response);
        },
        request, "image_embeddings", &out));
  }
  if (!f.texts.empty()) {
    v1::EmbedTextRequest request;
    for (const std::string& text : f.texts) request.add_texts(text);
    request.set_min_version(f.min_version);
    out["texts"] = f.texts;
    PERENNIAL_RETURN_IF_ERROR(CallEmbed<v1::EmbedTextResponse>(
        f.connection, "EmbedText",
        [&](auto* context, const auto& r, auto* response) {
          return stub->EmbedText(context, r, response);
        },
        request, "text_embeddings", &out));
  }
  PrintJson(out);
  return OkStatus();
}

}  // namespace

void AddQueryEmbedCommand(CLI::App& app) {
  auto f = std::make_shared<QueryEmbedFlags>();
  CLI::App* sub = app.add_subcommand(
      "query-embed",
      "Embed image files and texts with the model a running server serves now (EmbedImage,\n"
      "EmbedText); prints one JSON object of unit-norm vectors and the model version:\n"
      "  perennial query-embed shoe.png --text \"a photo of a sandal.\"");
  AddConnectionFlags(sub, &f->connection);
  sub->add_option("images", f->images, "PNG or JPEG files");
  sub->add_option("--text", f->texts, "text to embed (repeatable)");
  sub->add_option("--min-version", f->min_version,
                  "wait (up to --timeout) until the server's model reaches this version")
      ->capture_default_str();
  SetCommand(sub, [f]() -> Status { return RunQueryEmbed(*f); });
}

void AddQueryCommand(CLI::App& app) {
  auto f = std::make_shared<QueryFlags>();
  CLI::App* sub = app.add_subcommand(
      "query",
      "Zero-shot classify image files with the model a running server serves now (Classify):\n"
      "  perennial query --labels \"sandal,sneaker,ankle boot\" shoe.png");
  AddConnectionFlags(sub, &f->connection);
  sub->add_option("images", f->images, "PNG or JPEG files")->required();
  sub->add_option("--labels", f->labels, "comma-separated label texts");
  sub->add_option("--label-set", f->label_set, "a label set stored with `perennial labels-set`");
  sub->add_option("--template", f->templates,
                  "prompt template with {} (repeatable; default: the label set's, else the "
                  "server's)");
  sub->add_option("--top-k", f->top_k, "predictions per image")->capture_default_str();
  sub->add_option("--min-version", f->min_version,
                  "wait (up to --timeout) until the server's model reaches this version")
      ->capture_default_str();
  SetCommand(sub, [f]() -> Status { return RunQuery(*f); });
}

}  // namespace perennial::cli
