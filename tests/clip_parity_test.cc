// Reference parity: the C++ CLIP must reproduce openai/CLIP's outputs for the same weights.
// Fixtures (tests/fixtures/tiny_clip/) come from tests/fixtures/make_clip_fixtures.py, which runs
// the reference model code; see its docstring. Bounds: features cosine >= 0.9999, logits within
// 1e-3, token ids exact.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>

#include "learner/model/clip_model.h"
#include "learner/model/safetensors.h"
#include "learner/model/tokenizer.h"

namespace perennial {
namespace {

constexpr char kDir[] = "tests/fixtures/tiny_clip/";

std::map<std::string, torch::Tensor> Reference() {
  auto file = ReadSafetensors(std::string(kDir) + "reference.safetensors");
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  return std::map<std::string, torch::Tensor>(file->tensors.begin(), file->tensors.end());
}

void ExpectRowsCosine(const torch::Tensor& actual, const torch::Tensor& expected,
                      const std::string& what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const torch::Tensor cosine = torch::cosine_similarity(actual, expected.to(torch::kFloat32), 1);
  for (int64_t i = 0; i < cosine.size(0); ++i) {
    EXPECT_GE(cosine[i].item<double>(), 0.9999) << what << " row " << i;
  }
}

struct ParityCase {
  const char* file;
  const char* suffix;  // which reference outputs: fp32 weights, or weights rounded to fp16
};

class ClipParityTest : public ::testing::TestWithParam<ParityCase> {};

TEST_P(ClipParityTest, FeaturesAndLogitsMatchTheReference) {
  const ParityCase& c = GetParam();
  auto model = ClipModel::Load(std::string(kDir) + c.file, {});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto ref = Reference();
  const std::string s = c.suffix;
  torch::NoGradGuard no_grad;
  const torch::Tensor image = model->EncodeImage(ref.at("pixels"));
  const torch::Tensor text = model->EncodeText(ref.at("tokens"));
  ExpectRowsCosine(image, ref.at("image_features" + s), "image_features");
  ExpectRowsCosine(text, ref.at("text_features" + s), "text_features");
  namespace F = torch::nn::functional;
  const torch::Tensor logits =
      model->LogitScale() * torch::matmul(F::normalize(image, F::NormalizeFuncOptions().dim(1)),
                                          F::normalize(text, F::NormalizeFuncOptions().dim(1)).t());
  const torch::Tensor expected = ref.at("logits_per_image" + s);
  ASSERT_EQ(logits.sizes(), expected.sizes());
  EXPECT_LE((logits - expected).abs().max().item<double>(), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Files, ClipParityTest,
                         ::testing::Values(ParityCase{"openai_fp32.safetensors", ""},
                                           ParityCase{"hf_fp16.safetensors", "_from_fp16"},
                                           ParityCase{"openai_jit_fp16.pt", "_from_fp16"}),
                         [](const auto& info) {
                           std::string name = info.param.file;
                           return name.substr(0, name.find('.'));
                         });

TEST(ClipParityTest, TokenizerMatchesTheReferenceTokensOfTheFixture) {
  auto file = ReadSafetensors(std::string(kDir) + "reference.safetensors");
  ASSERT_TRUE(file.ok());
  auto tokenizer = Tokenizer::LoadDefault();
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  const torch::Tensor tokens = Reference().at("tokens");
  for (int i = 0; i < tokens.size(0); ++i) {
    const std::string text = file->metadata.at("text" + std::to_string(i));
    const std::vector<int32_t> ids = tokenizer->Tokenize(text);
    for (int64_t j = 0; j < tokens.size(1); ++j) {
      const int64_t expected = tokens[i][j].item<int64_t>();
      const int64_t actual = j < static_cast<int64_t>(ids.size()) ? ids[j] : 0;
      ASSERT_EQ(actual, expected) << text << " position " << j;
    }
  }
}

}  // namespace
}  // namespace perennial
