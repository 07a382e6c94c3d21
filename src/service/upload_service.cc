#include "service/upload_service.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "core/crypto.h"
#include "core/json_escape.h"
#include "core/object_id.h"
#include "core/status.h"
#include "domain/agent.h"
#include "domain/organization.h"
#include "domain/phone_normalizer.h"
#include "domain/variable_value.h"
#include "ingest/open_table.h"

namespace nexus::service {
namespace {

using domain::NormalizeColumnKey;

std::string_view TrimView(std::string_view text) {
  while (!text.empty() && absl::ascii_isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && absl::ascii_isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

// What one spreadsheet column means.
struct Column {
  enum class Role { kIgnored, kPhone, kTimezone, kVariable, kExtra };
  Role role = Role::kIgnored;
  std::string key;  // variable key (schema) or trimmed header (extra)
  domain::VariableType type = domain::VariableType::kString;
  bool required = false;
};

// Maps the header row onto the agent's schema (SPEC §4 "Headers").
absl::StatusOr<std::vector<Column>> PlanColumns(std::span<const std::string_view> header,
                                                const std::vector<domain::Variable>& schema) {
  std::vector<Column> columns(header.size());
  absl::flat_hash_map<std::string, std::string> seen;  // normalised → trimmed header
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string_view name = TrimView(header[i]);
    if (name.empty()) continue;
    const std::string normalized = NormalizeColumnKey(name);
    if (auto [it, inserted] = seen.emplace(normalized, std::string(name)); !inserted) {
      return absl::InvalidArgumentError(fmt::format(
          "columns \"{}\" and \"{}\" have the same name (headers match ignoring case, spaces, "
          "'_' and '-')",
          it->second, name));
    }
    Column& column = columns[i];
    if (normalized == "phonenumber") {
      column.role = Column::Role::kPhone;
      column.key = "phoneNumber";
      continue;
    }
    if (normalized == "timezone") {
      column.role = Column::Role::kTimezone;
      column.key = "timezone";
      continue;
    }
    // Exact match first, then the normalised form.
    const domain::Variable* match = nullptr;
    for (const auto& v : schema) {
      if (v.key == name) match = &v;
    }
    for (const auto& v : schema) {
      if (match == nullptr && NormalizeColumnKey(v.key) == normalized) match = &v;
    }
    if (match != nullptr) {
      column.role = Column::Role::kVariable;
      column.key = match->key;
      column.type = match->type;
      column.required = match->required;
    } else {
      column.role = Column::Role::kExtra;
      column.key = std::string(name);
    }
  }
  const bool has_phone = std::any_of(columns.begin(), columns.end(), [](const Column& c) {
    return c.role == Column::Role::kPhone;
  });
  if (!has_phone) {
    return absl::InvalidArgumentError(
        "the file has no phoneNumber column (a header such as \"phoneNumber\" or \"Phone Number\" "
        "is required)");
  }
  std::vector<std::string> missing;
  for (const auto& v : schema) {
    if (!v.required) continue;
    const bool present = std::any_of(columns.begin(), columns.end(), [&](const Column& c) {
      return c.role == Column::Role::kVariable && c.key == v.key;
    });
    if (!present) missing.push_back(v.key);
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& key : missing) list += (list.empty() ? "" : ", ") + key;
    return absl::InvalidArgumentError(
        fmt::format("the file is missing required columns of the agent: {}", list));
  }
  return columns;
}

// One data row kept between reading and inserting.
struct RowDraft {
  int64_t row = 0;
  uint32_t phone_offset = 0, phone_size = 0;  // in the phone arena (trimmed text as written)
  uint64_t vars_offset = 0;                   // in the variables arena
  uint32_t vars_size = 0;
  uint32_t tz_offset = 0, tz_size = 0;  // in the phone arena; size 0 = none
  bool has_cell_errors = false;         // errors other than the phone number
};

std::string PhoneErrorMessage(std::string_view text, const domain::PhoneResult& result,
                              std::string_view region) {
  if (text.empty()) return "phone number is required";
  if (domain::LooksLikeExcelScientific(text)) {
    return "the phone number was turned into scientific notation by Excel and its digits are "
           "lost: format the column as Text and export the file again";
  }
  return std::string(domain::PhoneNormalizer::ErrorStatus(result, region).message());
}

// File limits are 422 (OutOfRange); everything else a reader says is a 400.
absl::Status ReadError(const absl::Status& status) {
  if (absl::IsResourceExhausted(status)) return absl::OutOfRangeError(status.message());
  return status;
}

}  // namespace

absl::StatusOr<std::optional<store::IdempotencyRecord>> UploadService::FindStoredAnswer(
    std::string_view user_id, std::string_view key) {
  return store_.FindIdempotencyRecord(user_id, key, clock_.Now() - absl::Hours(24));
}

absl::StatusOr<DncFileResult> UploadService::AddDncFile(const domain::Principal& caller,
                                                        const std::string& file_path,
                                                        std::string_view file_name) {
  const std::string& org_id = caller.user.organization_id;
  NEXUS_ASSIGN_OR_RETURN(const domain::Organization org, store_.GetOrganization(org_id));
  NEXUS_ASSIGN_OR_RETURN(auto reader, ingest::OpenTable(file_path, file_name, limits_.read));
  ingest::Row row;
  auto has_header = reader->Next(row);
  if (!has_header.ok()) return ReadError(has_header.status());
  if (!*has_header)
    return absl::InvalidArgumentError("the file is empty: a header row is required");
  std::optional<size_t> phone_column;
  for (size_t i = 0; i < row.cells.size() && !phone_column; ++i) {
    const std::string key = NormalizeColumnKey(TrimView(row.cells[i]));
    for (const char* name : {"phonenumber", "phone", "number", "mobile", "telephone"}) {
      if (key == name) phone_column = i;
    }
  }
  if (!phone_column && row.cells.size() == 1) phone_column = 0;
  if (!phone_column) {
    return absl::InvalidArgumentError(
        "the file has no phone column (a header such as \"phoneNumber\" or \"phone\")");
  }
  std::string arena;
  std::vector<std::pair<size_t, size_t>> spans;
  for (;;) {
    auto more = reader->Next(row);
    if (!more.ok()) return ReadError(more.status());
    if (!*more) break;
    const std::string_view text =
        *phone_column < row.cells.size() ? TrimView(row.cells[*phone_column]) : std::string_view();
    spans.emplace_back(arena.size(), text.size());
    arena.append(text);
  }
  std::vector<std::string_view> texts;
  texts.reserve(spans.size());
  for (const auto& [offset, size] : spans) texts.emplace_back(arena.data() + offset, size);
  std::vector<domain::PhoneResult> results(texts.size());
  normalizer_.NormalizeBatch(texts, org.default_country, results, limits_.normalize_threads);
  DncFileResult result;
  result.rows = static_cast<int64_t>(texts.size());
  std::vector<std::string> numbers;
  for (const auto& r : results) {
    if (r.ok()) {
      numbers.emplace_back(r.E164());
    } else {
      ++result.invalid;
    }
  }
  if (!numbers.empty()) {
    NEXUS_ASSIGN_OR_RETURN(result.added, store_.AddDncNumbers(org_id, numbers, clock_.Now()));
  }
  return result;
}

absl::StatusOr<UploadOutcome> UploadService::Upload(const domain::Principal& caller,
                                                    const UploadRequest& request,
                                                    const RecordMaker& make_record) {
  const std::string& org_id = caller.user.organization_id;
  // --- existence (404) ---------------------------------------------------------------------
  if (auto user = store_.GetUser(org_id, request.user_id); !user.ok()) {
    if (absl::IsNotFound(user.status())) return absl::NotFoundError("User not found");
    return user.status();
  }
  NEXUS_ASSIGN_OR_RETURN(const domain::Organization org, store_.GetOrganization(org_id));
  std::optional<std::string> agent_id;
  bool several_agents = false, some_unbound = false;
  for (const std::string& number_id : request.settings.calling_number_ids) {
    auto number = store_.GetPhoneNumber(org_id, number_id);
    if (absl::IsNotFound(number.status())) {
      return absl::NotFoundError(fmt::format("Calling number {} not found", number_id));
    }
    NEXUS_RETURN_IF_ERROR(number.status());
    if (!number->agent_id) {
      some_unbound = true;
    } else if (!agent_id) {
      agent_id = number->agent_id;
    } else if (*agent_id != *number->agent_id) {
      several_agents = true;
    }
  }
  if (!agent_id) return absl::NotFoundError("No agent found for calling numbers");
  if (several_agents || some_unbound) {
    return absl::InvalidArgumentError("callingNumbers must all be bound to the same agent");
  }
  NEXUS_ASSIGN_OR_RETURN(const domain::Agent agent, store_.GetAgent(org_id, *agent_id));
  if (!agent.language || agent.language->empty()) {
    return absl::NotFoundError("No language configured for agent");
  }

  UploadOutcome outcome;
  domain::Batch& batch = outcome.batch;
  batch.organization_id = org_id;
  batch.user_id = request.user_id;
  batch.agent_id = agent.id;
  batch.settings = request.settings;
  if (batch.settings.timezone.empty()) batch.settings.timezone = org.timezone;
  if (batch.settings.default_country.empty()) batch.settings.default_country = org.default_country;
  const std::string& region = batch.settings.default_country;

  // --- the file as a whole (400 / 422) ----------------------------------------------------------
  auto opened = ingest::OpenTable(request.file_path, request.file_name, limits_.read);
  if (!opened.ok()) return opened.status();
  ingest::TableReader& reader = **opened;
  ingest::Row row;
  auto has_header = reader.Next(row);
  if (!has_header.ok()) return ReadError(has_header.status());
  if (!*has_header)
    return absl::InvalidArgumentError("the file is empty: a header row is required");
  NEXUS_ASSIGN_OR_RETURN(const std::vector<Column> columns,
                         PlanColumns(row.cells, agent.variables));
  for (const Column& column : columns) {  // the calls' variable keys, in column order
    if (column.role == Column::Role::kVariable || column.role == Column::Role::kExtra) {
      batch.variable_keys.push_back(column.key);
    }
  }

  // --- rows: read, check variables, keep compact drafts ---------------------------------------
  std::string phones;     // phone and timezone texts
  std::string variables;  // JSON objects, one per row
  std::vector<RowDraft> drafts;
  absl::flat_hash_map<int64_t, std::vector<CellError>> cell_errors;  // first rows with errors
  absl::flat_hash_map<std::string, bool> zone_known;
  std::string scratch;
  for (;;) {
    auto more = reader.Next(row);
    if (!more.ok()) return ReadError(more.status());
    if (!*more) break;
    RowDraft draft;
    draft.row = row.number;
    std::vector<CellError> errors;
    const auto add_error = [&](std::string_view column, std::string_view value,
                               std::string message) {
      draft.has_cell_errors = true;
      if (cell_errors.size() < static_cast<size_t>(limits_.max_reported_invalid_rows)) {
        errors.push_back({std::string(column), std::string(value), std::move(message)});
      }
    };
    draft.vars_offset = variables.size();
    variables += '{';
    bool first_var = true;
    const auto append_var = [&](std::string_view key, std::string_view value) {
      if (!first_var) variables += ',';
      first_var = false;
      core::AppendJsonString(variables, key);
      variables += ':';
      core::AppendJsonString(variables, value);
    };
    for (size_t i = 0; i < row.cells.size(); ++i) {
      const std::string_view value = TrimView(row.cells[i]);
      if (i >= columns.size()) {
        if (!value.empty()) {
          add_error(fmt::format("column {}", i + 1), value, "a value in a column without a header");
        }
        continue;
      }
      const Column& column = columns[i];
      switch (column.role) {
        case Column::Role::kIgnored:
          break;
        case Column::Role::kPhone:
          draft.phone_offset = static_cast<uint32_t>(phones.size());
          draft.phone_size = static_cast<uint32_t>(value.size());
          phones.append(value);
          break;
        case Column::Role::kTimezone: {
          if (value.empty()) break;
          auto [it, inserted] = zone_known.try_emplace(std::string(value), false);
          if (inserted) it->second = domain::IsKnownTimeZone(value);
          if (!it->second) {
            add_error("timezone", value, "not a known IANA time zone (e.g. America/New_York)");
            break;
          }
          draft.tz_offset = static_cast<uint32_t>(phones.size());
          draft.tz_size = static_cast<uint32_t>(value.size());
          phones.append(value);
          break;
        }
        case Column::Role::kVariable: {
          if (value.empty()) {
            if (column.required)
              add_error(column.key, value, fmt::format("{} is required", column.key));
            break;
          }
          std::string_view normalized, message;
          if (!domain::CheckVariableValue(column.type, value, scratch, normalized, message)) {
            add_error(column.key, value, std::string(message));
            break;
          }
          append_var(column.key, normalized);
          break;
        }
        case Column::Role::kExtra:
          if (!value.empty()) append_var(column.key, value);
          break;
      }
    }
    variables += '}';
    draft.vars_size = static_cast<uint32_t>(variables.size() - draft.vars_offset);
    if (!errors.empty()) cell_errors.emplace(draft.row, std::move(errors));
    drafts.push_back(draft);
  }
  outcome.summary.encoding = std::string(reader.encoding());
  outcome.summary.rows = static_cast<int64_t>(drafts.size());
  if (drafts.empty()) {
    return absl::InvalidArgumentError("the file has a header row but no data rows");
  }

  // --- phone numbers, duplicates, DNC ----------------------------------------------------------
  std::vector<std::string_view> phone_texts(drafts.size());
  for (size_t i = 0; i < drafts.size(); ++i) {
    phone_texts[i] = std::string_view(phones.data() + drafts[i].phone_offset, drafts[i].phone_size);
  }
  std::vector<domain::PhoneResult> e164(drafts.size());
  normalizer_.NormalizeBatch(phone_texts, region, e164, limits_.normalize_threads);
  absl::flat_hash_set<std::string> dnc;
  if (batch.settings.enable_dnc) {
    NEXUS_ASSIGN_OR_RETURN(const std::vector<std::string> listed, store_.ListAllDncNumbers(org_id));
    dnc.insert(listed.begin(), listed.end());
  }
  absl::flat_hash_set<std::string_view> kept_numbers;
  std::vector<store::NewCall> calls;
  calls.reserve(drafts.size());
  for (size_t i = 0; i < drafts.size(); ++i) {
    const RowDraft& draft = drafts[i];
    const bool phone_ok = e164[i].ok() && !phone_texts[i].empty() &&
                          !domain::LooksLikeExcelScientific(phone_texts[i]);
    if (!phone_ok || draft.has_cell_errors) {
      ++outcome.summary.invalid;
      if (outcome.invalid_rows.size() < static_cast<size_t>(limits_.max_reported_invalid_rows)) {
        InvalidRow& invalid = outcome.invalid_rows.emplace_back();
        invalid.row = draft.row;
        const std::string_view text = phone_texts[i];
        if (!phone_ok) {
          invalid.errors.push_back(
              {"phoneNumber", std::string(text), PhoneErrorMessage(text, e164[i], region)});
        }
        if (auto it = cell_errors.find(draft.row); it != cell_errors.end()) {
          for (auto& error : it->second) invalid.errors.push_back(std::move(error));
        }
      }
      continue;
    }
    const std::string_view number = e164[i].E164();
    if (!kept_numbers.insert(number).second) {
      ++outcome.summary.duplicates;
      continue;
    }
    if (dnc.contains(absl::string_view(number.data(), number.size()))) {
      ++outcome.summary.dnc;
      continue;
    }
    calls.push_back({number, std::string_view(phones.data() + draft.tz_offset, draft.tz_size),
                     std::string_view(variables.data() + draft.vars_offset, draft.vars_size)});
  }
  outcome.summary.inserted = static_cast<int64_t>(calls.size());

  if (outcome.summary.invalid > 0 && !request.lenient) {
    outcome.kind = UploadOutcome::Kind::kInvalidRows;
    outcome.summary.inserted = 0;
    return outcome;
  }
  if (calls.empty()) {
    outcome.kind = UploadOutcome::Kind::kNoValidRows;
    return outcome;
  }
  batch.total_calls = outcome.summary.inserted;
  if (request.dry_run) {
    outcome.kind = UploadOutcome::Kind::kDryRun;
    return outcome;
  }

  // --- one transaction -------------------------------------------------------------------------
  const absl::Time now = clock_.Now();
  batch.id = core::NewObjectId(now);
  batch.call_id_prefix = batch.id.substr(0, 8) + core::HexEncode(core::RandomBytes(5));
  batch.status = domain::BatchStatus::kActive;
  batch.created_at = now;
  batch.updated_at = now;
  outcome.kind = UploadOutcome::Kind::kStored;
  std::optional<store::IdempotencyRecord> record;
  if (make_record) record = make_record(outcome);
  NEXUS_RETURN_IF_ERROR(store_.InsertBatch(batch, calls, record ? &*record : nullptr));
  return outcome;
}

}  // namespace nexus::service
