#include "domain/agent.h"

#include <fmt/format.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"

namespace nexus::domain {
namespace {

bool IsAsciiAlpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::string_view VariableTypeName(VariableType type) {
  switch (type) {
    case VariableType::kString:
      return "string";
    case VariableType::kNumber:
      return "number";
    case VariableType::kInteger:
      return "integer";
    case VariableType::kBoolean:
      return "boolean";
    case VariableType::kDate:
      return "date";
    case VariableType::kEmail:
      return "email";
  }
  return "string";
}

std::optional<VariableType> ParseVariableType(std::string_view text) {
  for (VariableType t : {VariableType::kString, VariableType::kNumber, VariableType::kInteger,
                         VariableType::kBoolean, VariableType::kDate, VariableType::kEmail}) {
    if (VariableTypeName(t) == text) return t;
  }
  return std::nullopt;
}

std::string NormalizeColumnKey(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c == ' ' || c == '_' || c == '-') continue;
    out += absl::ascii_tolower(static_cast<unsigned char>(c));
  }
  return out;
}

absl::Status ValidateAgentName(std::string_view name) {
  const absl::string_view trimmed =
      absl::StripAsciiWhitespace(absl::string_view(name.data(), name.size()));
  if (trimmed.empty()) return absl::InvalidArgumentError("name must not be empty");
  if (trimmed.size() > 200)
    return absl::InvalidArgumentError("name must be at most 200 characters");
  return absl::OkStatus();
}

absl::Status ValidateLanguageTag(std::string_view tag) {
  // BCP 47 shape: a 2-3 letter primary language, then subtags of 1-8 letters or digits.
  const auto invalid = [] {
    return absl::InvalidArgumentError("language must be a BCP 47 tag such as \"en-US\"");
  };
  if (tag.empty() || tag.size() > 35) return invalid();
  size_t start = 0;
  bool first = true;
  while (start <= tag.size()) {
    size_t end = tag.find('-', start);
    if (end == std::string_view::npos) end = tag.size();
    const std::string_view part = tag.substr(start, end - start);
    if (first) {
      if (part.size() < 2 || part.size() > 3) return invalid();
      for (char c : part) {
        if (!IsAsciiAlpha(c)) return invalid();
      }
    } else {
      if (part.empty() || part.size() > 8) return invalid();
      for (char c : part) {
        if (!IsAsciiAlpha(c) && !IsAsciiDigit(c)) return invalid();
      }
    }
    first = false;
    if (end == tag.size()) break;
    start = end + 1;
  }
  return absl::OkStatus();
}

absl::Status ValidateDispatchUrl(std::string_view url) {
  const auto invalid = [] {
    return absl::InvalidArgumentError("dispatchUrl must be an http:// or https:// URL");
  };
  if (url.size() > 2048)
    return absl::InvalidArgumentError("dispatchUrl must be at most 2048 characters");
  std::string_view rest;
  if (url.substr(0, 7) == "http://") {
    rest = url.substr(7);
  } else if (url.substr(0, 8) == "https://") {
    rest = url.substr(8);
  } else {
    return invalid();
  }
  const size_t host_end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, host_end);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return invalid();
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7F) return invalid();
  }
  return absl::OkStatus();
}

absl::Status ValidateVariables(const std::vector<Variable>& variables) {
  if (variables.size() > 100) return absl::InvalidArgumentError("variables: at most 100 allowed");
  absl::flat_hash_set<std::string> seen;
  for (size_t i = 0; i < variables.size(); ++i) {
    const std::string& key = variables[i].key;
    const std::string field = fmt::format("variables[{}].key", i);
    if (key.empty() || key.size() > 64 || !IsAsciiAlpha(key[0])) {
      return absl::InvalidArgumentError(field + " must be 1-64 characters and start with a letter");
    }
    for (char c : key) {
      if (!IsAsciiAlpha(c) && !IsAsciiDigit(c) && c != '_' && c != '-') {
        return absl::InvalidArgumentError(field + " may contain only letters, digits, '_' and '-'");
      }
    }
    const std::string normalized = NormalizeColumnKey(key);
    if (normalized == "phonenumber" || normalized == "timezone") {
      return absl::InvalidArgumentError(
          fmt::format("{} \"{}\" is a reserved upload column", field, key));
    }
    if (!seen.insert(normalized).second) {
      return absl::InvalidArgumentError(
          fmt::format("{} \"{}\" duplicates another key (keys match ignoring case, spaces, '_' "
                      "and '-')",
                      field, key));
    }
  }
  return absl::OkStatus();
}

}  // namespace nexus::domain
