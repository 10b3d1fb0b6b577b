// File: server/model_identity.h
//
// The identity of a base model file, recorded by the store so that a data directory is never
// reopened with adapters belonging to other weights.
#ifndef PERENNIAL_SERVER_MODEL_IDENTITY_H_
#define PERENNIAL_SERVER_MODEL_IDENTITY_H_

#include <string>

#include "absl/status/statusor.h"

namespace perennial {

// "fnv1a64:<16 hex digits>:<size in bytes>" over the file's bytes. NOT_FOUND if it cannot be
// read. Reads the whole file once (about a second per GB).
absl::StatusOr<std::string> ModelFileIdentity(const std::string& path);

}  // namespace perennial

#endif  // PERENNIAL_SERVER_MODEL_IDENTITY_H_
