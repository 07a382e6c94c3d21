// File: core/time_format.h
//
// Timestamps on the wire are ISO 8601 UTC with milliseconds (`2025-05-15T14:00:00.000Z`), as the
// original API wrote them; in storage they are integer Unix milliseconds.
#pragma once

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace nexus::core {

std::string FormatIsoMillis(absl::Time t);
int64_t ToUnixMillis(absl::Time t);
absl::Time FromUnixMillis(int64_t millis);

}  // namespace nexus::core
