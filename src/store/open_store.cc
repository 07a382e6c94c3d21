// OpenStore(): the one place that maps a store URL to an implementation.
#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "core/status.h"
#include "store/sqlite/sqlite_store.h"
#include "store/store.h"

namespace nexus::store {

absl::StatusOr<std::unique_ptr<Store>> OpenStore(std::string_view url,
                                                 const StoreOptions& options) {
  // Only the scheme is ever echoed: a database URL may carry a password.
  const size_t separator = url.find("://");
  if (separator == std::string_view::npos || separator == 0) {
    return absl::InvalidArgumentError(
        "the store URL has no scheme; expected sqlite://PATH, e.g. sqlite://nexus.db");
  }
  std::string scheme(url.substr(0, separator));
  absl::AsciiStrToLower(&scheme);
  const bool well_formed = absl::ascii_isalpha(scheme[0]) &&
                           std::all_of(scheme.begin(), scheme.end(), [](unsigned char c) {
                             return absl::ascii_isalnum(c) || c == '+' || c == '-' || c == '.';
                           });
  if (!well_formed) {
    return absl::InvalidArgumentError("the store URL is malformed; expected sqlite://PATH");
  }
  const std::string_view rest = url.substr(separator + 3);
  if (scheme == "postgres" || scheme == "postgresql") {
    return absl::InvalidArgumentError("PostgreSQL support is not built yet; use sqlite://PATH");
  }
  if (scheme != "sqlite") {
    return absl::InvalidArgumentError(
        fmt::format("unsupported store URL scheme \"{}\"; expected sqlite://PATH", scheme));
  }
  if (rest.empty()) {
    return absl::InvalidArgumentError(
        "the sqlite store URL has no path; expected sqlite://PATH, e.g. sqlite://nexus.db");
  }
  if (rest.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("the sqlite store URL's path contains a NUL byte");
  }
  NEXUS_ASSIGN_OR_RETURN(std::unique_ptr<sqlite::SqliteStore> store,
                         sqlite::SqliteStore::Open(std::string(rest), options));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace nexus::store
