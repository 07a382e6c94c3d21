// File: http/upload_form.h
//
// The form fields of POST /api/call/upload (SPEC §4 table), decoded and checked for syntax: the
// first check of the upload after authentication. Every error is InvalidArgument (→ 400) with
// the message of the seed document where it has one ("Invalid User ID format") and otherwise a
// message naming the field. Existence (user, numbers, agent: 404) is checked later by the
// service; the file is checked after that.
//
// Rules beyond the table: an empty or all-space optional field means absent; a field sent twice
// is an error; unknown fields are ignored. Booleans accept true/false/1/0 in any case.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "domain/batch.h"

namespace nexus::http {

// The non-file fields as received, in order.
using FormFields = std::vector<std::pair<std::string, std::string>>;

struct UploadForm {
  std::string user_id;             // lowercase 24-hex
  domain::BatchSettings settings;  // timezone / default_country empty = organization default
  bool lenient = false;            // type=true
  bool dry_run = false;
};

// `fields` are the text fields; `has_file` whether a `file` part was sent.
absl::StatusOr<UploadForm> ParseUploadForm(const FormFields& fields, bool has_file);

// Parses a boolean form value: true/false/1/0, any case. nullopt otherwise.
std::optional<bool> ParseFormBool(std::string_view text);

}  // namespace nexus::http
