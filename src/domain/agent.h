// File: domain/agent.h
//
// An AI voice agent: its name, spoken language (BCP 47, may be unset), the variable schema its
// calls carry, where calls are dispatched, and the secret that signs dispatches and reports.
// The schema decides which spreadsheet columns an upload requires and how each is typed.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace nexus::domain {

enum class VariableType { kString, kNumber, kInteger, kBoolean, kDate, kEmail };

std::string_view VariableTypeName(VariableType type);
std::optional<VariableType> ParseVariableType(std::string_view text);

struct Variable {
  std::string key;
  bool required = false;
  VariableType type = VariableType::kString;
  bool operator==(const Variable&) const = default;
};

struct Agent {
  std::string id;
  std::string organization_id;
  std::string name;
  std::optional<std::string> language;      // BCP 47, e.g. "en-US"
  std::vector<Variable> variables;          // in declaration order
  std::optional<std::string> dispatch_url;  // http(s) URL of the agent runtime
  std::string webhook_secret;
  absl::Time created_at;
  absl::Time updated_at;
};

// Header-matching form of a column or variable key: ASCII-lowercased with spaces, '_' and '-'
// removed ("Phone Number", "phone_number" and "PHONENUMBER" all give "phonenumber").
std::string NormalizeColumnKey(std::string_view key);

// Each returns InvalidArgument naming the field ("name", "language", "variables[2].key", ...).
absl::Status ValidateAgentName(std::string_view name);
absl::Status ValidateLanguageTag(std::string_view tag);
absl::Status ValidateDispatchUrl(std::string_view url);
// Keys: 1..64 characters of letters, digits, '_', '-', starting with a letter; no two keys equal
// after NormalizeColumnKey; "phoneNumber" and "timezone" are reserved upload columns. At most 100.
absl::Status ValidateVariables(const std::vector<Variable>& variables);

}  // namespace nexus::domain
