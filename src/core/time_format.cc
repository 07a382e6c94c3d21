#include "core/time_format.h"

namespace nexus::core {

std::string FormatIsoMillis(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

int64_t ToUnixMillis(absl::Time t) { return absl::ToUnixMillis(t); }

absl::Time FromUnixMillis(int64_t millis) { return absl::FromUnixMillis(millis); }

}  // namespace nexus::core
