// File: server/limits.h
//
// What one client may ask of the server. Every limit has a flag in perennial-server; the
// defaults are the ones documented in proto/perennial/v1/*.proto. A request beyond a limit is
// answered INVALID_ARGUMENT (malformed) or RESOURCE_EXHAUSTED (too big), naming the field and the
// limit (validation.h); it never reaches the model or the store.
#ifndef PERENNIAL_SERVER_LIMITS_H_
#define PERENNIAL_SERVER_LIMITS_H_

#include <cstddef>
#include <cstdint>

namespace perennial {

struct ServerLimits {
  // Largest gRPC message accepted (enforced by gRPC itself: RESOURCE_EXHAUSTED).
  // Default: 16 MiB.
  int max_message_bytes = 16 << 20;
  // Largest encoded (PNG/JPEG) image. Default: 8 MiB.
  int64_t max_encoded_image_bytes = int64_t{8} << 20;
  // Largest width * height of an image, encoded (checked from its header before decoding) or raw.
  // Default: 16 Mi pixels.
  int64_t max_pixels = int64_t{16} << 20;
  // Largest raw image side. Default: 4096.
  int max_image_side = 4096;
  // Longest label and label-set label, in bytes after trimming. Default: 256.
  size_t max_label_bytes = 256;
  // Samples per IngestRequest. Default: 1024.
  size_t max_batch_samples = 1024;
  // Labels per Classify call and per stored label set. Default: 1000.
  size_t max_labels_per_classify = 1000;
  // Prompt templates per Classify call / label set, and their length. Default: 16, 256 bytes.
  size_t max_templates = 16;
  size_t max_template_bytes = 256;
  // Longest idempotency key. Default: 128 bytes.
  size_t max_key_bytes = 128;
  // Images per EmbedImage call. Default: 64.
  size_t max_embed_images = 64;
  // Texts per EmbedText call, and their length. Default: 256, 1024 bytes.
  size_t max_embed_texts = 256;
  size_t max_text_bytes = 1024;
  // Untrained samples (last logged seq - learner cursor) above which Ingest is refused with
  // RESOURCE_EXHAUSTED. Bounds how far the learner can fall behind. Default: 100000.
  uint64_t max_backlog_samples = 100000;
  // The retry hint sent with a backpressure refusal (trailer `retry-after-ms`). Default: 1000.
  uint32_t backpressure_retry_ms = 1000;
};

}  // namespace perennial

#endif  // PERENNIAL_SERVER_LIMITS_H_
