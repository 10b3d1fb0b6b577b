#include "clients/cli/model_commands.h"

#include <memory>

#include "clients/cli/cli_common.h"
#include "clients/cli/model_command_list.h"
#include "learner/base/torch_status.h"
#include "learner/model/default_model.h"
#include "learner/model/image_io.h"
#include "learner/model/preprocess.h"
#include "learner/model/tokenizer.h"
#include "learner/model/zero_shot.h"

namespace perennial::cli {
namespace {

// `jpeg_draft`: decode big JPEGs reduced, as perennial-server --jpeg-draft does.
StatusOr<torch::Tensor> LoadPixels(const std::vector<std::string>& paths, const ClipModel& model,
                                   bool jpeg_draft) {
  PreprocessOptions preprocess;
  preprocess.resolution = model.config().image_resolution;
  DecodeOptions decode;
  if (jpeg_draft) decode.draft_min_side = JpegDraftMinSide(preprocess);
  std::vector<Image> images;
  for (const std::string& path : paths) {
    PERENNIAL_ASSIGN_OR_RETURN(Image image, ReadImageFile(path, decode));
    images.push_back(std::move(image));
  }
  return PreprocessBatch(images, preprocess);
}

void AddJpegDraftFlag(CLI::App* sub, bool* jpeg_draft) {
  sub->add_flag("--jpeg-draft", *jpeg_draft,
                "decode JPEGs of at least 4x the model's input side at 1/2, 1/4 or 1/8 scale, "
                "as perennial-server --jpeg-draft does");
}

std::vector<std::string> SplitLabels(const std::string& labels) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= labels.size()) {
    size_t comma = labels.find(',', start);
    if (comma == std::string::npos) comma = labels.size();
    out.push_back(labels.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

void AddTokenize(CLI::App& app) {
  auto texts = std::make_shared<std::vector<std::string>>();
  CLI::App* sub = app.add_subcommand("tokenize", ModelCommandDescription("tokenize"));
  sub->add_option("text", *texts, "texts to tokenize")->required();
  SetCommand(sub, [texts]() -> Status {
    PERENNIAL_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::LoadDefault());
    for (const std::string& text : *texts) {
      PrintJson({{"text", text}, {"ids", tokenizer.Tokenize(text)}});
    }
    return OkStatus();
  });
}

struct EmbedFlags {
  std::string model;
  std::vector<std::string> images;
  std::vector<std::string> texts;
  bool jpeg_draft = false;
  RuntimeFlags runtime;
};

void AddEmbed(CLI::App& app) {
  auto flags = std::make_shared<EmbedFlags>();
  CLI::App* sub = app.add_subcommand("embed", ModelCommandDescription("embed"));
  AddModelFlag(sub, &flags->model);
  sub->add_option("--image", flags->images, "image file (PNG or JPEG); repeatable");
  sub->add_option("--text", flags->texts, "text; repeatable");
  AddJpegDraftFlag(sub, &flags->jpeg_draft);
  AddRuntimeFlags(sub, &flags->runtime);
  SetCommand(sub, [flags]() -> Status {
    if (flags->images.empty() && flags->texts.empty()) {
      return InvalidArgumentError("embed needs at least one --image or --text");
    }
    PERENNIAL_ASSIGN_OR_RETURN(ClipModel model, LoadModel(flags->model, flags->runtime));
    PERENNIAL_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::LoadDefault());
    nlohmann::json out = {{"image_features", nlohmann::json::array()},
                          {"text_features", nlohmann::json::array()}};
    if (!flags->images.empty()) {
      PERENNIAL_ASSIGN_OR_RETURN(torch::Tensor pixels,
                                 LoadPixels(flags->images, model, flags->jpeg_draft));
      PERENNIAL_RETURN_IF_ERROR(CatchTorch("encoding images", [&]() -> Status {
        torch::NoGradGuard no_grad;
        out["image_features"] = TensorRows(model.EncodeImage(pixels));
        return OkStatus();
      }));
    }
    if (!flags->texts.empty()) {
      std::vector<std::vector<int32_t>> ids;
      for (const auto& text : flags->texts) {
        ids.push_back(tokenizer.Tokenize(text, model.config().context_length));
      }
      PERENNIAL_RETURN_IF_ERROR(CatchTorch("encoding texts", [&]() -> Status {
        torch::NoGradGuard no_grad;
        out["text_features"] =
            TensorRows(model.EncodeText(TokensToTensor(ids, model.config().context_length)));
        return OkStatus();
      }));
    }
    PrintJson(out);
    return OkStatus();
  });
}

struct ClassifyFlags {
  std::string model;
  std::string image;
  std::string labels;
  std::vector<std::string> templates;
  bool jpeg_draft = false;
  RuntimeFlags runtime;
};

void AddClassify(CLI::App& app) {
  auto flags = std::make_shared<ClassifyFlags>();
  CLI::App* sub = app.add_subcommand("classify", ModelCommandDescription("classify"));
  AddModelFlag(sub, &flags->model);
  sub->add_option("--image", flags->image, "image file (PNG or JPEG)")->required();
  sub->add_option("--labels", flags->labels, "comma-separated label texts, e.g. \"cat,dog\"")
      ->required();
  sub->add_option(
      "--template", flags->templates,
      "prompt template with {} for the label; repeatable (default: \"a photo of a {}.\")");
  AddJpegDraftFlag(sub, &flags->jpeg_draft);
  AddRuntimeFlags(sub, &flags->runtime);
  SetCommand(sub, [flags]() -> Status {
    const std::vector<std::string> labels = SplitLabels(flags->labels);
    const std::vector<std::string>& templates =
        flags->templates.empty() ? DefaultTemplates() : flags->templates;
    PERENNIAL_ASSIGN_OR_RETURN(ClipModel model, LoadModel(flags->model, flags->runtime));
    PERENNIAL_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::LoadDefault());
    PERENNIAL_ASSIGN_OR_RETURN(torch::Tensor classes,
                               ClassEmbeddings(model, tokenizer, labels, templates));
    PERENNIAL_ASSIGN_OR_RETURN(torch::Tensor pixels,
                               LoadPixels({flags->image}, model, flags->jpeg_draft));
    return CatchTorch("classifying", [&]() -> Status {
      torch::NoGradGuard no_grad;
      const ZeroShotScores scores = ScoreZeroShot(model, model.EncodeImage(pixels), classes);
      const torch::Tensor logits = scores.logits[0].contiguous();
      const torch::Tensor probs = scores.probs[0].contiguous();
      PrintJson({{"labels", labels},
                 {"logits", std::vector<float>(logits.data_ptr<float>(),
                                               logits.data_ptr<float>() + logits.numel())},
                 {"probs", std::vector<float>(probs.data_ptr<float>(),
                                              probs.data_ptr<float>() + probs.numel())}});
      return OkStatus();
    });
  });
}

nlohmann::json ConfigJson(const ClipConfig& c) {
  return {{"embed_dim", c.embed_dim},
          {"image_resolution", c.image_resolution},
          {"vision_patch_size", c.vision_patch_size},
          {"vision_width", c.vision_width},
          {"vision_layers", c.vision_layers},
          {"vision_heads", c.vision_heads},
          {"context_length", c.context_length},
          {"vocab_size", c.vocab_size},
          {"text_width", c.text_width},
          {"text_layers", c.text_layers},
          {"text_heads", c.text_heads},
          {"activation", ActivationName(c.activation)}};
}

void AddModelInfo(CLI::App& app) {
  auto flags = std::make_shared<EmbedFlags>();
  CLI::App* model_cmd = app.add_subcommand("model", ModelCommandDescription("model"));
  model_cmd->require_subcommand(1);
  CLI::App* sub = model_cmd->add_subcommand(
      "info", "Print the inferred configuration and parameter counts as JSON");
  AddModelFlag(sub, &flags->model);
  SetCommand(sub, [flags]() -> Status {
    PERENNIAL_ASSIGN_OR_RETURN(std::string path, ResolveModelPath(flags->model));
    PERENNIAL_ASSIGN_OR_RETURN(ClipModel model, ClipModel::Load(path, {}));
    int64_t image = 0, text = 0;
    for (const auto& [key, tensor] : model.Tensors(/*cpu_fp32=*/false)) {
      (key.rfind("visual.", 0) == 0 ? image : text) += tensor.numel();
    }
    PrintJson(
        {{"path", path},
         {"config", ConfigJson(model.config())},
         {"parameters",
          {{"total", image + text}, {"image_tower", image}, {"text_tower_and_scale", text}}}});
    return OkStatus();
  });
}

}  // namespace

void AddModelCommands(CLI::App& app) {
  AddTokenize(app);
  AddEmbed(app);
  AddClassify(app);
  AddModelInfo(app);
}

}  // namespace perennial::cli
