#include "learner/model/zero_shot.h"

#include "learner/base/torch_status.h"

namespace perennial {

StatusOr<std::string> FormatTemplate(const std::string& prompt_template, const std::string& label) {
  const std::string placeholder = "{}";
  if (prompt_template.find(placeholder) == std::string::npos) {
    return InvalidArgumentError("prompt template '" + prompt_template +
                                "' has no {} for the label");
  }
  std::string out;
  size_t start = 0;
  for (size_t pos; (pos = prompt_template.find(placeholder, start)) != std::string::npos;
       start = pos + placeholder.size()) {
    out += prompt_template.substr(start, pos - start) + label;
  }
  return out + prompt_template.substr(start);
}

StatusOr<torch::Tensor> ClassEmbeddings(const ClipModel& model, const Tokenizer& tokenizer,
                                        const std::vector<std::string>& labels,
                                        const std::vector<std::string>& templates,
                                        const Adapters* adapters) {
  if (labels.empty()) return InvalidArgumentError("zero-shot needs at least one label");
  if (templates.empty()) return InvalidArgumentError("zero-shot needs at least one template");
  std::vector<std::vector<int32_t>> ids;
  ids.reserve(labels.size() * templates.size());
  for (const std::string& label : labels) {
    if (label.empty()) return InvalidArgumentError("empty label text");
    for (const std::string& t : templates) {
      PERENNIAL_ASSIGN_OR_RETURN(std::string text, FormatTemplate(t, label));
      ids.push_back(tokenizer.Tokenize(text, model.config().context_length));
    }
  }
  return CatchTorch("embedding label texts", [&]() -> StatusOr<torch::Tensor> {
    torch::NoGradGuard no_grad;
    const int64_t k = static_cast<int64_t>(labels.size());
    const int64_t t = static_cast<int64_t>(templates.size());
    torch::Tensor features =
        model.EncodeText(TokensToTensor(ids, model.config().context_length), adapters);
    features = torch::nn::functional::normalize(
        features, torch::nn::functional::NormalizeFuncOptions().dim(-1));
    torch::Tensor mean = features.view({k, t, -1}).mean(1);
    return torch::nn::functional::normalize(mean,
                                            torch::nn::functional::NormalizeFuncOptions().dim(-1));
  });
}

ZeroShotScores ScoreZeroShot(const ClipModel& model, const torch::Tensor& image_features,
                             const torch::Tensor& class_embeddings) {
  torch::Tensor image = torch::nn::functional::normalize(
      image_features, torch::nn::functional::NormalizeFuncOptions().dim(-1));
  torch::Tensor logits =
      model.LogitScale().to(image.device()) * torch::matmul(image, class_embeddings.t());
  return {logits, torch::softmax(logits, -1)};
}

}  // namespace perennial
