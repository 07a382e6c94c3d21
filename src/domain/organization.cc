#include "domain/organization.h"

#include "absl/strings/ascii.h"
#include "absl/time/time.h"

namespace nexus::domain {

absl::Status ValidateOrganizationName(std::string_view name) {
  const absl::string_view trimmed =
      absl::StripAsciiWhitespace(absl::string_view(name.data(), name.size()));
  if (trimmed.empty()) return absl::InvalidArgumentError("name must not be empty");
  if (trimmed.size() > 200)
    return absl::InvalidArgumentError("name must be at most 200 characters");
  return absl::OkStatus();
}

bool IsKnownTimeZone(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  // Zone names are path components under /usr/share/zoneinfo: refuse anything that could walk.
  if (name.front() == '/' || name.find("..") != std::string_view::npos) return false;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '/' || c == '_' || c == '-' || c == '+';
    if (!ok) return false;
  }
  absl::TimeZone zone;
  return absl::LoadTimeZone(std::string(name), &zone);
}

}  // namespace nexus::domain
