// File: domain/organization.h
//
// An organization (workspace) is the tenant: it owns users, agents, phone numbers, the DNC list
// and batches. Its time zone and default country are the defaults of every upload; its legal
// window (default 08:00-21:00 local, the US TCPA rule; nullopt = off) bounds every calling window.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "domain/daily_window.h"

namespace nexus::domain {

inline constexpr DailyWindow kDefaultLegalWindow{TimeOfDay{8 * 60}, TimeOfDay{21 * 60}};

struct Organization {
  std::string id;
  std::string name;
  std::string timezone = "UTC";
  std::string default_country = "US";
  std::optional<DailyWindow> legal_window = kDefaultLegalWindow;
  absl::Time created_at;
};

// InvalidArgument naming "name" unless 1..200 bytes after trimming.
absl::Status ValidateOrganizationName(std::string_view name);

// True when `name` is an IANA zone that this machine's zoneinfo knows ("UTC" included).
bool IsKnownTimeZone(std::string_view name);

}  // namespace nexus::domain
