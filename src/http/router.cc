#include "http/router.h"

namespace nexus::http {
namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = path.empty() || path.front() != '/' ? 0 : 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsParam(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

bool PercentDecode(std::string_view text, std::string& out) {
  out.clear();
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return false;
    const int hi = HexDigit(text[i + 1]);
    const int lo = HexDigit(text[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

std::string_view RouteContext::Param(std::string_view name) const {
  for (const auto& [key, value] : params) {
    if (key == name) return value;
  }
  return {};
}

void Router::Add(Route route) {
  std::vector<std::string> segments;
  for (std::string_view part : SplitPath(route.pattern)) segments.emplace_back(part);
  segments_.push_back(std::move(segments));
  routes_.push_back(std::move(route));
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  Match match;
  const std::vector<std::string_view> parts = SplitPath(path);
  for (size_t r = 0; r < routes_.size(); ++r) {
    const std::vector<std::string>& pattern = segments_[r];
    if (pattern.size() != parts.size()) continue;
    PathParams params;
    bool ok = true;
    for (size_t i = 0; i < parts.size() && ok; ++i) {
      if (IsParam(pattern[i])) {
        std::string decoded;
        ok = !parts[i].empty() && PercentDecode(parts[i], decoded) &&
             decoded.find('/') == std::string::npos;
        if (ok)
          params.emplace_back(pattern[i].substr(1, pattern[i].size() - 2), std::move(decoded));
      } else {
        ok = pattern[i] == parts[i];
      }
    }
    if (!ok) continue;
    if (routes_[r].method != method) {
      match.other_method_matches = true;
      continue;
    }
    match.route = &routes_[r];
    match.params = std::move(params);
    return match;
  }
  return match;
}

}  // namespace nexus::http
