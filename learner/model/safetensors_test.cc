#include "learner/model/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

#include "tests/temp_dir.h"

namespace perennial {
namespace {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string LengthPrefix(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return s;
}

// A safetensors image with `json` as header (unpadded) and `data` as data area.
std::string Build(const std::string& json, const std::string& data) {
  return LengthPrefix(json.size()) + json + data;
}

NamedTensors AllDtypes() {
  return {
      {"f32", torch::arange(6, torch::kFloat32).reshape({2, 3}) / 7},
      {"f16", torch::tensor({1.5, -2.25, 65504.0}).to(torch::kFloat16)},
      {"bf16", torch::tensor({0.5, 3.0}).to(torch::kBFloat16)},
      {"f64", torch::tensor({3.141592653589793}, torch::kFloat64)},
      {"i64", torch::tensor({int64_t{1} << 40, int64_t{-5}}, torch::kInt64)},
      {"i32", torch::tensor({7, -8, 9}, torch::kInt32)},
      {"i16", torch::tensor({-300, 300}, torch::kInt16)},
      {"i8", torch::tensor({-128, 127}, torch::kInt8)},
      {"u8", torch::tensor({0, 255}, torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(2.5f)},
      {"empty", torch::zeros({0, 4})},
      // Non-contiguous input must be written in logical order.
      {"transposed", torch::arange(6, torch::kFloat32).reshape({2, 3}).t()},
  };
}

TEST(SafetensorsTest, RoundTripPreservesValuesDtypesAndMetadata) {
  TempDir dir;
  const std::string path = dir.File("all.safetensors");
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"quote\"back\\slash", "line\nbreak\ttab\x01 caf\xc3\xa9 \xf0\x9f\x90\x88"}};
  ASSERT_TRUE(WriteSafetensors(path, AllDtypes(), metadata).ok());
  StatusOr<TensorFile> file = ReadSafetensors(path);
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(file->metadata, metadata);

  // Layout order of the Python library: descending dtype, then name.
  std::vector<std::string> names;
  for (const auto& [name, t] : file->tensors) names.push_back(name);
  const std::vector<std::string> expected_order = {"i64",        "f64", "empty", "f32", "scalar",
                                                   "transposed", "i32", "bf16",  "f16", "i16",
                                                   "i8",         "u8",  "bool"};
  EXPECT_EQ(names, expected_order);

  std::map<std::string, torch::Tensor> by_name(file->tensors.begin(), file->tensors.end());
  for (const auto& [name, original] : AllDtypes()) {
    ASSERT_EQ(by_name.count(name), 1u) << name;
    const torch::Tensor& t = by_name[name];
    EXPECT_EQ(t.scalar_type(), original.scalar_type()) << name;
    EXPECT_EQ(t.sizes(), original.sizes()) << name;
    EXPECT_TRUE(t.is_contiguous()) << name;
    EXPECT_TRUE(torch::equal(t, original)) << name;
  }
  EXPECT_EQ(by_name["scalar"].dim(), 0);
  EXPECT_EQ(by_name["i64"][0].item<int64_t>(), int64_t{1} << 40);
}

TEST(SafetensorsTest, SerializeEqualsFileBytesAndIsDeterministic) {
  TempDir dir;
  const std::string path = dir.File("x.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, AllDtypes(), {{"a", "b"}}).ok());
  StatusOr<std::string> bytes = SerializeSafetensors(AllDtypes(), {{"a", "b"}});
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, ReadBytes(path));
  NamedTensors reversed = AllDtypes();
  std::reverse(reversed.begin(), reversed.end());
  EXPECT_EQ(*SerializeSafetensors(reversed, {{"a", "b"}}), *bytes);
  // Header padded with spaces so that the data starts 8-aligned.
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>((*bytes)[i]);
  EXPECT_EQ(n % 8, 0u);
  // No temporary file is left behind.
  ASSERT_TRUE(WriteSafetensors(path, {{"only", torch::ones({1})}}, {}).ok());
  EXPECT_EQ(std::system(("test $(ls '" + dir.path() + "' | wc -l) -eq 1").c_str()), 0);
  EXPECT_EQ(ReadSafetensors(path)->tensors.size(), 1u);
}

TEST(SafetensorsTest, ByteExactHandBuiltBuffer) {
  // What the Python library writes for {"b": float32 [1.0, 2.0], "a": int64 7} with metadata.
  const std::string json =
      "{\"__metadata__\":{\"k\":\"v\"},"
      "\"a\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
  std::string padded = json + std::string((8 - json.size() % 8) % 8, ' ');
  std::string data;
  const int64_t seven = 7;
  const float values[2] = {1.0f, 2.0f};
  data.append(reinterpret_cast<const char*>(&seven), 8);
  data.append(reinterpret_cast<const char*>(values), 8);
  const std::string expected = Build(padded, data);

  StatusOr<std::string> written = SerializeSafetensors(
      {{"b", torch::tensor({1.0f, 2.0f})}, {"a", torch::tensor(int64_t{7})}}, {{"k", "v"}});
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(*written, expected);

  StatusOr<TensorFile> parsed = ParseSafetensors(expected, "hand");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  ASSERT_EQ(parsed->tensors.size(), 2u);
  EXPECT_EQ(parsed->tensors[0].first, "a");
  EXPECT_EQ(parsed->tensors[0].second.item<int64_t>(), 7);
  EXPECT_EQ(parsed->tensors[1].first, "b");
  EXPECT_FLOAT_EQ(parsed->tensors[1].second[1].item<float>(), 2.0f);
  EXPECT_EQ(parsed->metadata.at("k"), "v");
}

TEST(SafetensorsTest, MetadataStringsAreEscapedAsPythonDoesAndReadBack) {
  // Every character JSON escapes, '/' (which it need not) and a non-ASCII one, as Python's
  // json.dumps(..., separators=(",", ":"), ensure_ascii=False) writes them.
  const std::string value = "q\"b\\s/\b\f\n\r\t\x01\xc3\xa9";
  StatusOr<std::string> written = SerializeSafetensors({{"t", torch::ones({1})}}, {{"k", value}});
  ASSERT_TRUE(written.ok());
  const std::string quoted = R"("k":"q\"b\\s/\b\f\n\r\t\u0001)"
                             "\xc3\xa9\"";
  EXPECT_NE(written->find(quoted), std::string::npos) << *written;
  StatusOr<TensorFile> parsed = ParseSafetensors(*written, "escapes");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->metadata.at("k"), value);
  // "\/" is read as '/'.
  StatusOr<TensorFile> slash =
      ParseSafetensors(Build(R"({"__metadata__":{"arch":"ViT-B\/32"}})", std::string()), "slash");
  ASSERT_TRUE(slash.ok()) << slash.status().message();
  EXPECT_EQ(slash->metadata.at("arch"), "ViT-B/32");
}

TEST(SafetensorsTest, PythonWrittenFixtureReserializesByteExactly) {
  const std::string path = "tests/fixtures/tiny_clip/openai_fp32.safetensors";
  StatusOr<TensorFile> file = ReadSafetensors(path);
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(file->tensors.size(), 62u);  // 8 + 2x12 visual, 6 + 2x12 text
  StatusOr<std::string> again = SerializeSafetensors(file->tensors, file->metadata);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(*again == ReadBytes(path));
}

void ExpectInvalid(const StatusOr<TensorFile>& result, const std::string& must_contain,
                   const std::string& context) {
  ASSERT_FALSE(result.ok()) << context;
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument) << context;
  EXPECT_NE(std::string(result.status().message()).find(must_contain), std::string::npos)
      << context << ": " << result.status().message();
}

TEST(SafetensorsTest, TruncatedFileIsAnErrorNamingTheFile) {
  const std::string original = ReadBytes("tests/fixtures/tiny_clip/reference.safetensors");
  ASSERT_GT(original.size(), 1000u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(original[i]);
  TempDir dir;
  const std::string path = dir.File("cut.safetensors");
  const std::vector<size_t> cuts = {
      0, 1, 7, 8, 9, 8 + n / 2, 8 + n, 8 + n + 1, original.size() / 2, original.size() - 1};
  for (size_t cut : cuts) {
    WriteBytes(path, original.substr(0, cut));
    ExpectInvalid(ReadSafetensors(path), path, "cut at " + std::to_string(cut));
    ExpectInvalid(ParseSafetensors(original.substr(0, cut), "mem.safetensors"), "mem.safetensors",
                  "parse cut at " + std::to_string(cut));
  }
  // Cutting inside the data names the tensor that no longer fits.
  WriteBytes(path, original.substr(0, original.size() - 1));
  StatusOr<TensorFile> r = ReadSafetensors(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("tensor '"), std::string::npos)
      << r.status().message();
  // Trailing bytes after the last tensor are rejected too, as the reference library does.
  ExpectInvalid(ParseSafetensors(original + "x", "long"), "cover", "trailing byte");
}

TEST(SafetensorsTest, HeaderLengthLargerThanFile) {
  const std::string json = "{}";
  std::string bytes = LengthPrefix(1000) + json;
  ExpectInvalid(ParseSafetensors(bytes, "big.safetensors"), "header length 1000", "big");
  ExpectInvalid(ParseSafetensors(LengthPrefix(uint64_t{1} << 62) + json, "huge"), "huge", "huge");
}

TEST(SafetensorsTest, MalformedJsonIsRejected) {
  const std::string ok_entry = "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";
  const std::vector<std::string> bad = {
      "",
      "{",
      "[]",
      "\"string\"",
      "{\"t\":" + ok_entry + ",}",
      "{\"t\":" + ok_entry + "} x",
      "{\"t\":" + ok_entry + ",\"t\":" + ok_entry + "}",
      "{\"t\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}",
      "{\"t\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}",
      "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":true}}",
      "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":null}}",
      "{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}",
      "{\"t\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
      "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}",
      "{\"t\\q\":" + ok_entry + "}",
      "{\"t\\ud800\":" + ok_entry + "}",
      "{\"t\xff\":" + ok_entry + "}",
      "{\"t\n\":" + ok_entry + "}",
      "{\"__metadata__\":{\"a\":1},\"t\":" + ok_entry + "}",
      "{\"__metadata__\":[],\"t\":" + ok_entry + "}",
      "{\"t\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}",
      std::string(80, '[') + std::string(80, ']'),
  };
  const std::string data(4, '\0');
  for (const std::string& json : bad) {
    ExpectInvalid(ParseSafetensors(Build(json, data), "bad.safetensors"), "bad.safetensors", json);
  }
  // Escapes that are valid decode as JSON says.
  StatusOr<TensorFile> good =
      ParseSafetensors(Build("{\"t\\u00e9\\ud83d\\udc08\\n\":" + ok_entry + "}  ", data), "good");
  ASSERT_TRUE(good.ok()) << good.status().message();
  EXPECT_EQ(good->tensors[0].first, "t\xc3\xa9\xf0\x9f\x90\x88\n");
}

TEST(SafetensorsTest, OffsetErrorsNameTheTensor) {
  const std::string data(8, '\0');
  struct Case {
    std::string json;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
       "overlaps"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", "tensor 'a'"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", "tensor 'a'"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "before tensor 'a'"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "cover"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "tensor 'a'"},
      {"{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}", "needs 16 bytes"},
      {"{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[8],\"data_offsets\":[0,8]}}",
       "tensor 'a': unsupported dtype \"F8_E4M3\""},
      {"{\"a\":{\"dtype\":\"Q4\",\"shape\":[8],\"data_offsets\":[0,8]}}", "tensor 'a'"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}",
       "tensor 'a'"},
  };
  for (const Case& c : cases) {
    ExpectInvalid(ParseSafetensors(Build(c.json, data), "off.safetensors"), c.expect, c.json);
    ExpectInvalid(ParseSafetensors(Build(c.json, data), "off.safetensors"), "off.safetensors",
                  c.json);
  }
  // BOOL bytes must be 0 or 1.
  ExpectInvalid(
      ParseSafetensors(Build("{\"m\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[0,1]}}",
                             std::string(1, '\x02')),
                       "bool"),
      "tensor 'm'", "bool");
}

TEST(SafetensorsTest, WriterRejectsBadInputWithoutTouchingTheFile) {
  TempDir dir;
  const std::string path = dir.File("keep.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"x", torch::ones({2})}}, {}).ok());
  const std::string before = ReadBytes(path);
  const std::vector<NamedTensors> bad = {
      {{"x", torch::ones({1})}, {"x", torch::ones({1})}},
      {{"__metadata__", torch::ones({1})}},
      {{"", torch::ones({1})}},
      {{"c", torch::ones({1}, torch::kComplexFloat)}},
      {{"u", torch::Tensor()}},
      {{"bad\xff", torch::ones({1})}},
  };
  for (const NamedTensors& tensors : bad) {
    Status s = WriteSafetensors(path, tensors, {});
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << tensors[0].first;
  }
  EXPECT_NE(std::string(WriteSafetensors(path, bad[3], {}).message()).find("'c'"),
            std::string::npos);
  EXPECT_EQ(ReadBytes(path), before);
  EXPECT_FALSE(WriteSafetensors(dir.File("no/such/dir/x.safetensors"), bad[1], {}).ok());
  EXPECT_FALSE(
      WriteSafetensors(dir.File("no/such/dir/x.safetensors"), {{"x", torch::ones({1})}}, {}).ok());
}

TEST(SafetensorsTest, MissingFileIsNotFoundNamingThePath) {
  StatusOr<TensorFile> r = ReadSafetensors("/nonexistent/dir/model.safetensors");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(std::string(r.status().message()).find("/nonexistent/dir/model.safetensors"),
            std::string::npos);
  TempDir dir;
  ExpectInvalid(ReadSafetensors(dir.path()), dir.path(), "directory");
}

}  // namespace
}  // namespace perennial
