#include "learner/online/model_snapshot.h"

#include "learner/base/torch_status.h"
#include "learner/model/zero_shot.h"

namespace perennial {

StatusOr<torch::Tensor> PredictLabels(const ClipModel& model, const Tokenizer& tokenizer,
                                      const Adapters* adapters, const torch::Tensor& pixels,
                                      const std::vector<std::string>& labels,
                                      const std::vector<std::string>& templates) {
  PERENNIAL_ASSIGN_OR_RETURN(torch::Tensor classes,
                             ClassEmbeddings(model, tokenizer, labels, templates, adapters));
  return CatchTorch("predicting labels", [&]() -> StatusOr<torch::Tensor> {
    torch::NoGradGuard no_grad;
    torch::Tensor features = model.EncodeImage(pixels.to(model.device()), adapters, false);
    return ScoreZeroShot(model, features, classes).logits.argmax(-1).cpu();
  });
}

}  // namespace perennial
