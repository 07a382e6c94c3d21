#include "http/query.h"

#include <charconv>

#include "core/status.h"
#include "http/router.h"

namespace nexus::http {

absl::StatusOr<std::optional<std::string>> QueryParam(std::string_view query,
                                                      std::string_view name) {
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(start, end - start);
    const size_t eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    if (key == name) {
      std::string raw(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
      for (char& c : raw) {
        if (c == '+') c = ' ';
      }
      std::string decoded;
      if (!PercentDecode(raw, decoded)) {
        return absl::InvalidArgumentError(fmt::format("{} is not correctly URL-encoded", name));
      }
      return std::optional<std::string>(std::move(decoded));
    }
    start = end + 1;
  }
  return std::optional<std::string>();
}

absl::StatusOr<int64_t> IntQueryParam(std::string_view query, std::string_view name,
                                      int64_t fallback, int64_t min, int64_t max) {
  NEXUS_ASSIGN_OR_RETURN(const std::optional<std::string> text, QueryParam(query, name));
  if (!text || text->empty()) return fallback;
  int64_t value = 0;
  const char* begin = text->data();
  const char* end = begin + text->size();
  const auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end || value < min || value > max) {
    return absl::InvalidArgumentError(fmt::format("{} must be an integer {}..{}", name, min, max));
  }
  return value;
}

}  // namespace nexus::http
