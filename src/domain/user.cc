#include "domain/user.h"

#include "absl/strings/ascii.h"

namespace nexus::domain {

std::string_view RoleName(Role role) { return role == Role::kAdmin ? "admin" : "member"; }

std::optional<Role> ParseRole(std::string_view text) {
  if (text == "admin") return Role::kAdmin;
  if (text == "member") return Role::kMember;
  return std::nullopt;
}

absl::Status ValidateEmail(std::string_view email) {
  const auto invalid = [] {
    return absl::InvalidArgumentError("email must be a valid e-mail address");
  };
  if (email.empty() || email.size() > 254) return invalid();
  const size_t at = email.find('@');
  if (at == std::string_view::npos || at == 0 ||
      email.find('@', at + 1) != std::string_view::npos) {
    return invalid();
  }
  const std::string_view domain = email.substr(at + 1);
  const size_t dot = domain.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= domain.size()) return invalid();
  for (char c : email) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7F) return invalid();
  }
  return absl::OkStatus();
}

absl::Status ValidateUserName(std::string_view name) {
  const absl::string_view trimmed =
      absl::StripAsciiWhitespace(absl::string_view(name.data(), name.size()));
  if (trimmed.empty()) return absl::InvalidArgumentError("name must not be empty");
  if (trimmed.size() > 200)
    return absl::InvalidArgumentError("name must be at most 200 characters");
  return absl::OkStatus();
}

}  // namespace nexus::domain
