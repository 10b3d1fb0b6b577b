#include "learner/model/clip_weights.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>

#include "learner/model/safetensors.h"
#include "tests/temp_dir.h"

namespace perennial {
namespace {

using TensorMap = std::map<std::string, torch::Tensor>;

constexpr char kFp32[] = "tests/fixtures/tiny_clip/openai_fp32.safetensors";
constexpr char kHf16[] = "tests/fixtures/tiny_clip/hf_fp16.safetensors";
constexpr char kJit16[] = "tests/fixtures/tiny_clip/openai_jit_fp16.pt";

std::string Message(const Status& s) { return std::string(s.message()); }

// The reference fp32 weights, loaded once per test binary.
const ClipWeights& Fp32() {
  static const ClipWeights* weights = [] {
    StatusOr<ClipWeights> w = LoadClipWeights(kFp32);
    if (!w.ok()) {
      ADD_FAILURE() << w.status().message();
      return new ClipWeights();
    }
    return new ClipWeights(std::move(*w));
  }();
  return *weights;
}

TEST(ClipWeightsTest, Fp32FixtureHasTheReferenceLayoutAndDims) {
  const ClipWeights& w = Fp32();
  EXPECT_EQ(w.format, WeightFormat::kOpenAiSafetensors);
  EXPECT_EQ(w.path, kFp32);
  EXPECT_EQ(w.tensors.size(), 62u);
  EXPECT_EQ(w.metadata.at("vision_heads"), "1");
  const ClipDims& d = w.dims;
  EXPECT_EQ(d.embed_dim, 32);
  EXPECT_EQ(d.vision_width, 64);
  EXPECT_EQ(d.vision_layers, 2);
  EXPECT_EQ(d.vision_heads, 1);
  EXPECT_EQ(d.vision_mlp_width, 256);
  EXPECT_EQ(d.patch_size, 8);
  EXPECT_EQ(d.grid_size, 4);
  EXPECT_EQ(d.image_resolution, 32);
  EXPECT_EQ(d.text_width, 32);
  EXPECT_EQ(d.text_layers, 2);
  EXPECT_EQ(d.text_heads, 1);
  EXPECT_EQ(d.text_mlp_width, 128);
  EXPECT_EQ(d.context_length, 77);
  EXPECT_EQ(d.vocab_size, 49408);
  EXPECT_EQ(w.tensors.at("visual.transformer.resblocks.1.attn.in_proj_weight").sizes(),
            at::IntArrayRef({192, 64}));
  EXPECT_EQ(w.tensors.at("logit_scale").dim(), 0);
  EXPECT_NEAR(w.tensors.at("logit_scale").item<float>(), std::log(1 / 0.07), 1e-6);
  for (const auto& [k, t] : w.tensors) EXPECT_EQ(t.scalar_type(), torch::kFloat32) << k;
}

void ExpectSameAsFp32(const ClipWeights& w) {
  const ClipWeights& ref = Fp32();
  ASSERT_EQ(w.tensors.size(), ref.tensors.size());
  for (const auto& [key, expected] : ref.tensors) {
    auto it = w.tensors.find(key);
    ASSERT_NE(it, w.tensors.end()) << key;
    const torch::Tensor& t = it->second;
    EXPECT_EQ(t.sizes(), expected.sizes()) << key;
    EXPECT_EQ(t.scalar_type(), torch::kFloat16) << key;
    EXPECT_TRUE(t.is_contiguous()) << key;
    // Exactly the fp16 rounding of the fp32 weights: no swapped, transposed or dropped values.
    EXPECT_TRUE(torch::equal(t, expected.to(torch::kFloat16))) << key;
    EXPECT_TRUE(torch::allclose(t.to(torch::kFloat32), expected, 1e-3, 1e-4)) << key;
  }
  EXPECT_EQ(w.dims.vision_width, ref.dims.vision_width);
  EXPECT_EQ(w.dims.vocab_size, ref.dims.vocab_size);
  EXPECT_EQ(w.dims.text_layers, ref.dims.text_layers);
}

TEST(ClipWeightsTest, HuggingFaceFp16MatchesFp32) {
  StatusOr<ClipWeights> w = LoadClipWeights(kHf16);
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(w->format, WeightFormat::kHuggingFaceSafetensors);
  ExpectSameAsFp32(*w);
}

TEST(ClipWeightsTest, TorchScriptFp16MatchesFp32) {
  StatusOr<ClipWeights> w = LoadClipWeights(kJit16);
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(w->format, WeightFormat::kTorchScript);
  EXPECT_TRUE(w->metadata.empty());
  EXPECT_EQ(w->dims.text_heads, 1);  // no metadata: max(1, 32 / 64)
  ExpectSameAsFp32(*w);
}

TEST(ClipWeightsTest, HuggingFaceQkvAreConcatenatedInOrder) {
  StatusOr<TensorFile> hf = ReadSafetensors(kHf16);
  ASSERT_TRUE(hf.ok());
  TensorMap hf_map(hf->tensors.begin(), hf->tensors.end());
  StatusOr<ClipWeights> w = LoadClipWeights(kHf16);
  ASSERT_TRUE(w.ok());
  const torch::Tensor in_proj = w->tensors.at("transformer.resblocks.1.attn.in_proj_bias");
  EXPECT_TRUE(torch::equal(in_proj.slice(0, 0, 32),
                           hf_map.at("text_model.encoder.layers.1.self_attn.q_proj.bias")));
  EXPECT_TRUE(torch::equal(in_proj.slice(0, 64, 96),
                           hf_map.at("text_model.encoder.layers.1.self_attn.v_proj.bias")));
  EXPECT_TRUE(
      torch::equal(w->tensors.at("visual.proj"), hf_map.at("visual_projection.weight").t()));
}

TEST(ClipWeightsTest, SaveThenLoadRoundTrips) {
  TempDir dir;
  const std::string path = dir.File("saved.safetensors");
  ASSERT_TRUE(SaveClipWeights(path, Fp32().tensors, {{"note", "x"}}).ok());
  StatusOr<ClipWeights> w = LoadClipWeights(path);
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(w->metadata.at("note"), "x");
  for (const auto& [k, t] : Fp32().tensors) EXPECT_TRUE(torch::equal(w->tensors.at(k), t)) << k;
}

// Writes `tensors` to a fresh file and expects LoadClipWeights to fail naming `tensor_name`.
void ExpectLoadErrorNaming(const TensorMap& tensors, const std::string& tensor_name,
                           const std::string& also = "") {
  TempDir dir;
  const std::string path = dir.File("bad.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {tensors.begin(), tensors.end()}, {}).ok());
  StatusOr<ClipWeights> w = LoadClipWeights(path);
  ASSERT_FALSE(w.ok()) << tensor_name;
  EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
  const std::string message = Message(w.status());
  EXPECT_NE(message.find("'" + tensor_name + "'"), std::string::npos) << message;
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find(also), std::string::npos) << message;
}

TEST(ClipWeightsTest, MissingExtraAndMisshapedTensorsAreNamed) {
  TensorMap missing = Fp32().tensors;
  missing.erase("visual.transformer.resblocks.1.ln_2.bias");
  ExpectLoadErrorNaming(missing, "visual.transformer.resblocks.1.ln_2.bias", "missing");

  TensorMap extra = Fp32().tensors;
  extra["visual.extra_head.weight"] = torch::zeros({2});
  ExpectLoadErrorNaming(extra, "visual.extra_head.weight", "unexpected");

  TensorMap misshaped = Fp32().tensors;
  misshaped["transformer.resblocks.0.attn.in_proj_weight"] = torch::zeros({96, 31});
  ExpectLoadErrorNaming(misshaped, "transformer.resblocks.0.attn.in_proj_weight", "[96, 32]");

  TensorMap wrong_embed = Fp32().tensors;
  wrong_embed["text_projection"] = torch::zeros({32, 16});
  ExpectLoadErrorNaming(wrong_embed, "text_projection", "[32, 32]");

  TensorMap wrong_mlp = Fp32().tensors;
  wrong_mlp["visual.transformer.resblocks.1.mlp.c_fc.weight"] = torch::zeros({128, 64});
  ExpectLoadErrorNaming(wrong_mlp, "visual.transformer.resblocks.1.mlp.c_fc.weight", "[256, 64]");

  TensorMap bad_grid = Fp32().tensors;
  bad_grid["visual.positional_embedding"] = torch::zeros({18, 64});
  ExpectLoadErrorNaming(bad_grid, "visual.positional_embedding");

  TensorMap int_tensor = Fp32().tensors;
  int_tensor["ln_final.bias"] = torch::zeros({32}, torch::kInt32);
  ExpectLoadErrorNaming(int_tensor, "ln_final.bias", "floating");

  TensorMap gap = Fp32().tensors;  // a layer index beyond the others
  gap["transformer.resblocks.3.ln_1.weight"] = torch::zeros({32});
  ExpectLoadErrorNaming(gap, "transformer.resblocks.2.attn.in_proj_weight", "missing");
}

TEST(ClipWeightsTest, HuggingFaceErrorsNameTheHuggingFaceTensor) {
  StatusOr<TensorFile> hf = ReadSafetensors(kHf16);
  ASSERT_TRUE(hf.ok());
  TensorMap base(hf->tensors.begin(), hf->tensors.end());

  TensorMap no_k = base;
  no_k.erase("vision_model.encoder.layers.0.self_attn.k_proj.bias");
  ExpectLoadErrorNaming(no_k, "vision_model.encoder.layers.0.self_attn.k_proj.bias", "missing");

  TensorMap unknown = base;
  unknown["vision_model.encoder.layers.0.self_attn.rotary.weight"] = torch::zeros({1});
  ExpectLoadErrorNaming(unknown, "vision_model.encoder.layers.0.self_attn.rotary.weight");

  TensorMap bad_v = base;
  bad_v["text_model.encoder.layers.1.self_attn.v_proj.weight"] =
      torch::zeros({32, 30}, torch::kFloat16);
  ExpectLoadErrorNaming(bad_v, "text_model.encoder.layers.1.self_attn.v_proj.weight");

  TensorMap bad_proj = base;
  bad_proj["visual_projection.weight"] = torch::zeros({32}, torch::kFloat16);
  ExpectLoadErrorNaming(bad_proj, "visual_projection.weight");
}

TEST(ClipWeightsTest, ResNetIsRefusedClearly) {
  TensorMap resnet = Fp32().tensors;
  resnet["visual.layer1.0.conv1.weight"] = torch::zeros({4, 4, 1, 1});
  ExpectLoadErrorNaming(resnet, "visual.layer1.0.conv1.weight",
                        "ResNet image towers are not supported");
}

TEST(ClipWeightsTest, NonClipFilesAreErrorsNamingTheFile) {
  TempDir dir;
  const std::string other = dir.File("other.safetensors");
  ASSERT_TRUE(WriteSafetensors(other, {{"encoder.weight", torch::ones({2, 2})}}, {}).ok());
  StatusOr<ClipWeights> w = LoadClipWeights(other);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(Message(w.status()).find(other), std::string::npos) << Message(w.status());
  EXPECT_NE(Message(w.status()).find("not a CLIP checkpoint"), std::string::npos);
  EXPECT_NE(Message(w.status()).find("'encoder.weight'"), std::string::npos);

  const std::string random = dir.File("random.bin");
  std::mt19937 rng(7);
  std::string bytes(4096, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  std::ofstream(random, std::ios::binary).write(bytes.data(), bytes.size());
  w = LoadClipWeights(random);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(Message(w.status()).find(random), std::string::npos) << Message(w.status());

  // A zip that is not TorchScript, and a truncated TorchScript archive.
  std::ifstream in(kJit16, std::ios::binary);
  const std::string jit((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(jit.size(), 1000u);
  const std::string cut = dir.File("cut.pt");
  std::ofstream(cut, std::ios::binary).write(jit.data(), jit.size() / 2);
  w = LoadClipWeights(cut);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(Message(w.status()).find(cut), std::string::npos) << Message(w.status());

  // A truncated safetensors CLIP file.
  std::ifstream in32(kFp32, std::ios::binary);
  const std::string st((std::istreambuf_iterator<char>(in32)), std::istreambuf_iterator<char>());
  const std::string short_st = dir.File("short.safetensors");
  std::ofstream(short_st, std::ios::binary).write(st.data(), st.size() - 100);
  w = LoadClipWeights(short_st);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(Message(w.status()).find(short_st), std::string::npos) << Message(w.status());
  EXPECT_NE(Message(w.status()).find("tensor '"), std::string::npos) << Message(w.status());

  w = LoadClipWeights(dir.File("absent.safetensors"));
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kNotFound);
}

TEST(ClipWeightsTest, SaveRefusesIncompleteWeightsAndBadHeadMetadata) {
  TempDir dir;
  TensorMap missing = Fp32().tensors;
  missing.erase("logit_scale");
  Status s = SaveClipWeights(dir.File("x.safetensors"), missing, {});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(Message(s).find("'logit_scale'"), std::string::npos);
  s = SaveClipWeights(dir.File("x.safetensors"), Fp32().tensors, {{"text_heads", "3"}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(Message(s).find("text_heads"), std::string::npos);
  EXPECT_NE(access(dir.File("x.safetensors").c_str(), F_OK), 0);
}

// The parity fixture the CLIP model test compares against: inputs, outputs, and their relation.
TEST(ClipWeightsTest, ReferenceFixtureIsSelfConsistent) {
  StatusOr<TensorFile> ref = ReadSafetensors("tests/fixtures/tiny_clip/reference.safetensors");
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  TensorMap t(ref->tensors.begin(), ref->tensors.end());
  EXPECT_EQ(t.at("pixels").sizes(), at::IntArrayRef({3, 3, 32, 32}));
  ASSERT_EQ(t.at("tokens").scalar_type(), torch::kInt64);
  EXPECT_EQ(t.at("tokens").sizes(), at::IntArrayRef({4, 77}));
  // "a photo of a cat." as the reference tokenizer writes it.
  const std::vector<int64_t> cat = {49406, 320, 1125, 539, 320, 2368, 269, 49407, 0};
  for (size_t i = 0; i < cat.size(); ++i) EXPECT_EQ(t.at("tokens")[0][i].item<int64_t>(), cat[i]);
  EXPECT_EQ(ref->metadata.at("text0"), "a photo of a cat.");
  for (const std::string suffix : {"", "_from_fp16"}) {
    const torch::Tensor image = t.at("image_features" + suffix);
    const torch::Tensor text = t.at("text_features" + suffix);
    EXPECT_EQ(image.sizes(), at::IntArrayRef({3, 32}));
    EXPECT_EQ(text.sizes(), at::IntArrayRef({4, 32}));
    torch::Tensor scale = Fp32().tensors.at("logit_scale");
    if (!suffix.empty()) scale = scale.to(torch::kFloat16).to(torch::kFloat32);
    const torch::Tensor logits = scale.exp() * torch::matmul(image / image.norm(2, 1, true),
                                                             (text / text.norm(2, 1, true)).t());
    EXPECT_TRUE(torch::allclose(logits, t.at("logits_per_image" + suffix), 1e-5, 1e-5)) << suffix;
  }
  // fp16 rounding moves the outputs, but only a little.
  EXPECT_FALSE(torch::equal(t.at("image_features"), t.at("image_features_from_fp16")));
  EXPECT_TRUE(torch::allclose(t.at("image_features"), t.at("image_features_from_fp16"), 0, 2e-2));
}

}  // namespace
}  // namespace perennial
