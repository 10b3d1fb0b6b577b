#include "server/validation.h"

#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "learner/model/image_io.h"

namespace perennial {
namespace {

absl::Status Prefixed(const absl::Status& status, absl::string_view field) {
  return absl::Status(status.code(), absl::StrCat(field, ": ", status.message()));
}

absl::StatusOr<Image> DecodeRaw(const v1::RawImage& raw, const ServerLimits& limits,
                                absl::string_view field) {
  const std::string where = absl::StrCat(field, ".raw");
  if (raw.height() == 0 || raw.width() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": height ", raw.height(), " x width ",
                                                   raw.width(), ", both must be at least 1"));
  }
  if (raw.height() > static_cast<uint32_t>(limits.max_image_side) ||
      raw.width() > static_cast<uint32_t>(limits.max_image_side)) {
    return absl::ResourceExhaustedError(absl::StrCat(where, ": ", raw.height(), " x ", raw.width(),
                                                     " pixels, each side must be at most ",
                                                     limits.max_image_side));
  }
  if (raw.channels() != 1 && raw.channels() != 3 && raw.channels() != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": channels ", raw.channels(), ", want 1 (gray), 3 (RGB) or 4 (RGBA)"));
  }
  const uint64_t want = uint64_t{raw.height()} * raw.width() * raw.channels();
  if (raw.pixels().size() != want) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", raw.pixels().size(),
                                                   " pixel bytes, want ", raw.height(), "*",
                                                   raw.width(), "*", raw.channels(), " = ", want));
  }
  absl::StatusOr<Image> image =
      ImageFromRaw(reinterpret_cast<const uint8_t*>(raw.pixels().data()), raw.pixels().size(),
                   static_cast<int>(raw.height()), static_cast<int>(raw.width()),
                   static_cast<int>(raw.channels()), limits.max_pixels);
  if (!image.ok()) return Prefixed(image.status(), where);
  return image;
}

bool HasControlCharacter(absl::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

// The checks an encoded image passes before it is decoded: present, within the byte limit.
absl::Status CheckEncodedSize(const std::string& bytes, const ServerLimits& limits,
                              absl::string_view where) {
  if (bytes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": empty (0 bytes), want a PNG or JPEG file"));
  }
  if (static_cast<int64_t>(bytes.size()) > limits.max_encoded_image_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(where, ": ", bytes.size(), " bytes, at most ",
                                                     limits.max_encoded_image_bytes, " allowed"));
  }
  return absl::OkStatus();
}

DecodeOptions DecodeOptionsFor(const ServerLimits& limits) {
  DecodeOptions options;
  options.max_pixels = limits.max_pixels;
  options.max_encoded_bytes = limits.max_encoded_image_bytes;
  return options;
}

absl::Status MissingImage(absl::string_view field) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": missing; set either encoded (PNG/JPEG bytes) or raw pixels"));
}

}  // namespace

bool IsValidUtf8(absl::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(text[i]);
    int extra;
    uint32_t code;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1;
      code = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      code = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + static_cast<size_t>(extra) >= n) return false;
    for (int k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      code = (code << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (code < kMin[extra] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

absl::StatusOr<Image> DecodeRequestImage(const v1::Image& image, const ServerLimits& limits,
                                         absl::string_view field, int draft_min_side) {
  switch (image.data_case()) {
    case v1::Image::kRaw: return DecodeRaw(image.raw(), limits, field);
    case v1::Image::kEncoded: {
      const std::string& bytes = image.encoded();
      const std::string where = absl::StrCat(field, ".encoded");
      absl::Status size = CheckEncodedSize(bytes, limits, where);
      if (!size.ok()) return size;
      DecodeOptions options = DecodeOptionsFor(limits);
      options.draft_min_side = draft_min_side;
      absl::StatusOr<Image> decoded =
          DecodeImage(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), options);
      if (!decoded.ok()) return Prefixed(decoded.status(), where);
      return decoded;
    }
    case v1::Image::DATA_NOT_SET: break;
  }
  return MissingImage(field);
}

absl::Status VerifyRequestImage(const v1::Image& image, const ServerLimits& limits,
                                absl::string_view field) {
  if (image.data_case() != v1::Image::kEncoded) {
    return DecodeRequestImage(image, limits, field, /*draft_min_side=*/0).status();
  }
  const std::string& bytes = image.encoded();
  const std::string where = absl::StrCat(field, ".encoded");
  absl::Status status = CheckEncodedSize(bytes, limits, where);
  if (!status.ok()) return status;
  status = VerifyImage(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                       DecodeOptionsFor(limits));
  return status.ok() ? status : Prefixed(status, where);
}

std::string TrimLabel(absl::string_view label) {
  return std::string(absl::StripAsciiWhitespace(label));
}

absl::Status ValidateLabel(absl::string_view label, const ServerLimits& limits,
                           absl::string_view field) {
  if (label.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": empty; a class name is required"));
  }
  if (label.size() > limits.max_label_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", label.size(), " bytes, at most ",
                                                   limits.max_label_bytes, " allowed"));
  }
  if (!IsValidUtf8(label)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": not valid UTF-8"));
  }
  if (HasControlCharacter(label)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": contains control characters"));
  }
  return absl::OkStatus();
}

absl::Status ValidateSample(const v1::Sample& sample, const ServerLimits& limits,
                            absl::string_view field) {
  absl::Status label =
      ValidateLabel(TrimLabel(sample.label()), limits, absl::StrCat(field, ".label"));
  if (!label.ok()) return label;
  if (sample.idempotency_key().size() > limits.max_key_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".idempotency_key: ", sample.idempotency_key().size(),
                     " bytes, at most ", limits.max_key_bytes, " allowed"));
  }
  if (!v1::Sample::Split_IsValid(sample.split())) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".split: unknown value ", static_cast<int>(sample.split()), ", want TRAIN or EVAL"));
  }
  return VerifyRequestImage(sample.image(), limits, absl::StrCat(field, ".image"));
}

absl::Status ValidateTemplates(const google::protobuf::RepeatedPtrField<std::string>& templates,
                               const ServerLimits& limits, absl::string_view field) {
  if (static_cast<size_t>(templates.size()) > limits.max_templates) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", templates.size(), " templates, at most ", limits.max_templates, " allowed"));
  }
  for (int i = 0; i < templates.size(); ++i) {
    const std::string& t = templates[i];
    const std::string where = absl::StrCat(field, "[", i, "]");
    if (t.size() > limits.max_template_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", t.size(), " bytes, at most ",
                                                     limits.max_template_bytes, " allowed"));
    }
    if (!IsValidUtf8(t)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": not valid UTF-8"));
    }
    if (t.find("{}") == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": '", t, "' has no {} where the label goes"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateLabelList(const google::protobuf::RepeatedPtrField<std::string>& labels,
                               const ServerLimits& limits, absl::string_view field) {
  if (labels.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": no labels; give at least one"));
  }
  if (static_cast<size_t>(labels.size()) > limits.max_labels_per_classify) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", labels.size(), " labels, at most ",
                                                   limits.max_labels_per_classify, " allowed"));
  }
  absl::flat_hash_set<absl::string_view> seen;
  for (int i = 0; i < labels.size(); ++i) {
    const std::string where = absl::StrCat(field, "[", i, "]");
    absl::Status status = ValidateLabel(labels[i], limits, where);
    if (!status.ok()) return status;
    if (!seen.insert(labels[i]).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": '", labels[i], "' is repeated; labels must be distinct"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateClassify(const v1::ClassifyRequest& request, const ServerLimits& limits) {
  if (request.image().data_case() == v1::Image::DATA_NOT_SET) {
    return absl::InvalidArgumentError(
        "image: missing; set either encoded (PNG/JPEG bytes) or raw pixels");
  }
  const bool has_labels = !request.labels().empty();
  const bool has_set = !request.label_set().empty();
  if (has_labels == has_set) {
    return absl::InvalidArgumentError(
        has_labels ? "labels and label_set are both set; give exactly one"
                   : "neither labels nor label_set is set; give exactly one");
  }
  if (has_labels) {
    absl::Status status = ValidateLabelList(request.labels(), limits, "labels");
    if (!status.ok()) return status;
  } else {
    absl::Status status = ValidateName(request.label_set(), "label_set");
    if (!status.ok()) return status;
  }
  return ValidateTemplates(request.templates(), limits, "templates");
}

absl::Status ValidateEmbedImage(const v1::EmbedImageRequest& request, const ServerLimits& limits) {
  if (request.images().empty() ||
      static_cast<size_t>(request.images_size()) > limits.max_embed_images) {
    return absl::InvalidArgumentError(absl::StrCat("images: ", request.images_size(),
                                                   " images, want 1..", limits.max_embed_images));
  }
  return absl::OkStatus();
}

absl::Status ValidateEmbedText(const v1::EmbedTextRequest& request, const ServerLimits& limits) {
  if (request.texts().empty() ||
      static_cast<size_t>(request.texts_size()) > limits.max_embed_texts) {
    return absl::InvalidArgumentError(
        absl::StrCat("texts: ", request.texts_size(), " texts, want 1..", limits.max_embed_texts));
  }
  for (int i = 0; i < request.texts_size(); ++i) {
    const std::string& text = request.texts(i);
    const std::string where = absl::StrCat("texts[", i, "]");
    if (text.empty() || text.size() > limits.max_text_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", text.size(), " bytes, want 1..", limits.max_text_bytes));
    }
    if (!IsValidUtf8(text)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": not valid UTF-8"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateName(absl::string_view name, absl::string_view field) {
  if (name.empty() || name.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", name.size(), " bytes, want 1..64 bytes of [A-Za-z0-9_.-]"));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": '", name, "' has characters outside [A-Za-z0-9_.-]"));
    }
  }
  return absl::OkStatus();
}

}  // namespace perennial
