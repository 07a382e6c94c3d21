// File: domain/user.h
//
// A user belongs to exactly one organization and is either an admin (manages the workspace and
// uploads) or a member (reads the workspace and their own batches).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace nexus::domain {

enum class Role { kAdmin, kMember };

std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view text);

struct User {
  std::string id;
  std::string organization_id;
  std::string email;  // stored lowercased; unique within the organization
  std::string name;
  Role role = Role::kMember;
  absl::Time created_at;
};

// InvalidArgument naming "email" unless it looks like local@domain.tld (≤ 254 bytes, no spaces).
absl::Status ValidateEmail(std::string_view email);
// InvalidArgument naming "name" unless 1..200 bytes after trimming.
absl::Status ValidateUserName(std::string_view name);

}  // namespace nexus::domain
