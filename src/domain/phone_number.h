// File: domain/phone_number.h
//
// A caller ID the organization owns (E.164, unique within the organization), bound to at most one
// agent, and an entry of the organization's do-not-call list.
#pragma once

#include <optional>
#include <string>

#include "absl/time/time.h"

namespace nexus::domain {

struct PhoneNumber {
  std::string id;
  std::string organization_id;
  std::string e164;
  std::optional<std::string> agent_id;
  absl::Time created_at;
};

struct DncEntry {
  std::string e164;
  absl::Time created_at;
};

}  // namespace nexus::domain
