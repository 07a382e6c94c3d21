// File: core/object_id.h
//
// IDs are 24 lowercase hex characters in MongoDB ObjectId layout: 4-byte big-endian seconds since
// the Unix epoch, 5 random bytes chosen once per process, and a 3-byte counter that starts at a
// random value. IDs made by one process are unique; across processes the 5 random bytes make a
// collision negligible. Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace nexus::core {

// A new ID stamped with `now`.
std::string NewObjectId(absl::Time now);

// True when `text` is exactly 24 lowercase or uppercase hex digits.
bool IsObjectId(std::string_view text);

// The creation second embedded in a valid ID (undefined for invalid ones: check IsObjectId).
absl::Time ObjectIdTime(std::string_view id);

}  // namespace nexus::core
