// File: server/validation.h
//
// Checks of everything a client sends, before it reaches the model or the store (which does not
// validate). Each error names the field ("samples[3].image.raw") and says what is wrong and what
// is allowed. Codes:
//   INVALID_ARGUMENT    malformed or out of contract: missing image, empty or over-long label,
//                       control characters, invalid UTF-8, wrong raw pixel count, corrupt image,
//                       too many labels/templates/samples per request, bad names;
//   RESOURCE_EXHAUSTED  an image too large to accept (encoded bytes, pixel count, raw side).
//
// Thread-safety: all functions are pure and reentrant.
#ifndef PERENNIAL_SERVER_VALIDATION_H_
#define PERENNIAL_SERVER_VALIDATION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "learner/model/image.h"
#include "perennial/v1/admin.pb.h"
#include "perennial/v1/inference.pb.h"
#include "perennial/v1/sample.pb.h"
#include "server/limits.h"

namespace perennial {

// Decodes a request image (PNG/JPEG bytes or raw HWC pixels) into pixels, enforcing the limits.
// RGBA raw images keep their alpha (preprocessing drops it). `field` prefixes errors. JPEGs are
// decoded reduced as DecodeOptions::draft_min_side says (0: in full).
absl::StatusOr<Image> DecodeRequestImage(const v1::Image& image, const ServerLimits& limits,
                                         absl::string_view field, int draft_min_side);

// OK exactly when DecodeRequestImage would succeed, else its error; cheaper for JPEGs (see
// VerifyImage in learner/model/image_io.h). For images that are stored now and decoded later.
absl::Status VerifyRequestImage(const v1::Image& image, const ServerLimits& limits,
                                absl::string_view field);

// `label` without surrounding ASCII whitespace.
std::string TrimLabel(absl::string_view label);

// A class name: 1..max_label_bytes bytes of valid UTF-8 without control characters.
absl::Status ValidateLabel(absl::string_view label, const ServerLimits& limits,
                           absl::string_view field);

// One sample as Ingest receives it: image (VerifyRequestImage: corrupt files are caught here),
// label (after TrimLabel), idempotency key length, split enum.
absl::Status ValidateSample(const v1::Sample& sample, const ServerLimits& limits,
                            absl::string_view field);

// Prompt templates: at most max_templates, each containing "{}", valid UTF-8, bounded length.
absl::Status ValidateTemplates(const google::protobuf::RepeatedPtrField<std::string>& templates,
                               const ServerLimits& limits, absl::string_view field);

// A label list for Classify or a label set: 1..max_labels_per_classify distinct valid labels.
absl::Status ValidateLabelList(const google::protobuf::RepeatedPtrField<std::string>& labels,
                               const ServerLimits& limits, absl::string_view field);

// Everything in a ClassifyRequest except the image's pixels: an image is present, exactly one of
// labels and label_set, the labels and templates.
absl::Status ValidateClassify(const v1::ClassifyRequest& request, const ServerLimits& limits);

// EmbedImage / EmbedText request shape (counts; texts' length and UTF-8).
absl::Status ValidateEmbedImage(const v1::EmbedImageRequest& request, const ServerLimits& limits);
absl::Status ValidateEmbedText(const v1::EmbedTextRequest& request, const ServerLimits& limits);

// Names of label sets and probes: 1..64 bytes of [A-Za-z0-9_.-].
absl::Status ValidateName(absl::string_view name, absl::string_view field);

// True iff `text` is well-formed UTF-8 (no overlong forms, surrogates or code points > U+10FFFF).
bool IsValidUtf8(absl::string_view text);

}  // namespace perennial

#endif  // PERENNIAL_SERVER_VALIDATION_H_
