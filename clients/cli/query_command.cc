#include "clients/cli/query_command.h"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "clients/cli/admin_view.h"
#include "clients/cli/batch_limit.h"
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
  // Images per EmbedImage call and texts per EmbedText call: perennial-server's limits
  // (server/limits.h).
  size_t images_per_call = 64;
  size_t texts_per_call = 256;
};

// The vectors of a run of Embed calls, in order, and each call's model version.
struct Embeddings {
  nlohmann::json vectors = nlohmann::json::array();
  std::vector<uint64_t> versions;
};

// Embeds items [0, item_bytes.size()) in calls within `limit`: `add(i, &request)` puts item i
// into a request, `rpc` makes the call. Each call after the first asks for at least the
// version the previous one answered with, so the vectors never mix in an older model.
template <typename Request, typename Response, typename Add, typename Rpc>
Status EmbedInCalls(const Connection& c, const char* name, const std::vector<size_t>& item_bytes,
                    const BatchLimit& limit, uint64_t min_version, Add add, Rpc rpc,
                    Embeddings* out) {
  size_t begin = 0;
  for (const size_t end : BatchEnds(item_bytes, limit)) {
    Request request;
    for (size_t i = begin; i < end; ++i) PERENNIAL_RETURN_IF_ERROR(add(i, &request));
    request.set_min_version(out->versions.empty() ? min_version : out->versions.back());
    grpc::ClientContext context;
    PrepareCall(c, &context);
    Response response;
    PERENNIAL_RETURN_IF_ERROR(CallStatus(c, name, rpc(&context, request, &response)));
    for (const v1::Embedding& e : response.embeddings()) out->vectors.push_back(e.values());
    out->versions.push_back(response.model_version());
    begin = end;
  }
  return OkStatus();
}

// Sizes of the image files, for batching; errors name the file.
StatusOr<std::vector<size_t>> FileSizes(const std::vector<std::string>& paths) {
  std::vector<size_t> sizes;
  for (const std::string& path : paths) {
    std::error_code error;
    const uintmax_t size = std::filesystem::file_size(path, error);
    if (error) return NotFoundError(path + ": " + error.message());
    sizes.push_back(static_cast<size_t>(size));
  }
  return sizes;
}

// Prints query-embed's JSON object; warns on stderr when the model moved between the calls.
void PrintEmbeddings(const QueryEmbedFlags& f, Embeddings images, Embeddings texts) {
  std::vector<uint64_t> versions = images.versions;
  versions.insert(versions.end(), texts.versions.begin(), texts.versions.end());
  nlohmann::json out = nlohmann::json::object();
  if (!f.images.empty()) {
    out["image_files"] = f.images;
    out["image_embeddings"] = std::move(images.vectors);
  }
  if (!f.texts.empty()) {
    out["texts"] = f.texts;
    out["text_embeddings"] = std::move(texts.vectors);
  }
  out["model_version"] = versions.back();
  if (versions.front() != versions.back()) {
    // The learner published a new model between two calls: the vectors are not comparable.
    std::fprintf(stderr,
                 "perennial: the model moved from version %llu to %llu during the %zu calls; "
                 "`perennial pause` stops the learner for vectors of one version\n",
                 static_cast<unsigned long long>(versions.front()),
                 static_cast<unsigned long long>(versions.back()), versions.size());
    out["model_versions"] = versions;
  }
  PrintJson(out);
}

Status RunQueryEmbed(const QueryEmbedFlags& f) {
  if (f.images.empty() && f.texts.empty()) {
    return InvalidArgumentError("give image files and/or --text");
  }
  if (f.images_per_call == 0 || f.texts_per_call == 0) {
    return InvalidArgumentError("--images-per-call and --texts-per-call must be at least 1");
  }
  auto stub = v1::InferenceService::NewStub(Channel(f.connection));
  Embeddings images, texts;
  PERENNIAL_ASSIGN_OR_RETURN(const std::vector<size_t> image_bytes, FileSizes(f.images));
  Status status = EmbedInCalls<v1::EmbedImageRequest, v1::EmbedImageResponse>(
      f.connection, "EmbedImage", image_bytes, BatchLimit{f.images_per_call}, f.min_version,
      [&](size_t i, v1::EmbedImageRequest* request) -> Status {
        PERENNIAL_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                                   ReadFileBytes(f.images[i], kMaxImageBytes));
        request->add_images()->set_encoded(std::string(bytes.begin(), bytes.end()));
        return OkStatus();
      },
      [&](auto* context, const auto& r, auto* response) {
        return stub->EmbedImage(context, r, response);
      },
      &images);
  if (!status.ok()) return status;
  std::vector<size_t> text_bytes;
  for (const std::string& text : f.texts) text_bytes.push_back(text.size());
  const uint64_t text_min_version =
      images.versions.empty() ? f.min_version : images.versions.back();
  status = EmbedInCalls<v1::EmbedTextRequest, v1::EmbedTextResponse>(
      f.connection, "EmbedText", text_bytes, BatchLimit{f.texts_per_call}, text_min_version,
      [&](size_t i, v1::EmbedTextRequest* request) -> Status {
        request->add_texts(f.texts[i]);
        return OkStatus();
      },
      [&](auto* context, const auto& r, auto* response) {
        return stub->EmbedText(context, r, response);
      },
      &texts);
  if (!status.ok()) return status;
  PrintEmbeddings(f, std::move(images), std::move(texts));
  return OkStatus();
}

}  // namespace

void AddQueryEmbedCommand(CLI::App& app) {
  auto f = std::make_shared<QueryEmbedFlags>();
  CLI::App* sub = app.add_subcommand(
      "query-embed",
      "Embed image files and texts with the model a running server serves now (EmbedImage,\n"
      "EmbedText); prints one JSON object of unit-norm vectors and the model version. Many\n"
      "files go in several calls (at most --images-per-call, and 4 MiB, each):\n"
      "  perennial query-embed shoe.png --text \"a photo of a sandal.\"");
  AddConnectionFlags(sub, &f->connection);
  sub->add_option("images", f->images, "PNG or JPEG files");
  sub->add_option("--text", f->texts, "text to embed (repeatable)");
  sub->add_option("--min-version", f->min_version,
                  "wait (up to --timeout) until the server's model reaches this version")
      ->capture_default_str();
  sub->add_option("--images-per-call", f->images_per_call,
                  "images per EmbedImage call (the server takes up to 64)")
      ->capture_default_str();
  sub->add_option("--texts-per-call", f->texts_per_call,
                  "texts per EmbedText call (the server takes up to 256)")
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
