#include "service/upload_service.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "core/crypto.h"
#include "core/json_escape.h"
#include "core/log.h"
#include "core/memory.h"
#include "core/object_id.h"
#include "core/status.h"
#include "core/string_arena.h"
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

// One data row kept between reading and inserting; its texts live in the upload's arena.
struct RowDraft {
  int64_t row = 0;
  const char* phone = nullptr;      // trimmed text as written
  const char* variables = nullptr;  // JSON object
  const char* timezone = nullptr;
  uint32_t phone_size = 0, variables_size = 0;
  uint16_t timezone_size = 0;    // 0 = none (IANA names are short; longer ones are row errors)
  bool has_cell_errors = false;  // errors other than the phone number
  bool phone_ok = false;         // set by normalisation: `phone` is then the E.164 form

  std::string_view Phone() const { return {phone, phone_size}; }
  std::string_view Variables() const { return {variables, variables_size}; }
  std::string_view Timezone() const { return {timezone, timezone_size}; }
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
  return store_.FindIdempotencyRecord(user_id, key, clock_.Now() - store::kIdempotencyKeyLifetime);
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
  absl::StatusOr<UploadOutcome> outcome = ValidateAndStore(caller, request, make_record);
  // A large file's rows were held in memory (hundreds of MB for a million rows) and are freed
  // by now: give that memory back instead of keeping the server's RSS at the upload's peak.
  core::ReleaseFreeMemory();
  return outcome;
}

absl::StatusOr<UploadOutcome> UploadService::ValidateAndStore(const domain::Principal& caller,
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
  const absl::Time read_start = absl::Now();
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
  const std::vector<std::string> header(row.cells.begin(), row.cells.end());
  for (const Column& column : columns) {  // the calls' variable keys, in column order
    if (column.role == Column::Role::kVariable || column.role == Column::Role::kExtra) {
      batch.variable_keys.push_back(column.key);
    }
  }

  // --- rows: read, check variables, keep compact drafts ---------------------------------------
  // Memory: a 1M-row upload keeps ~85 bytes of texts and a 48-byte draft per row. The arena
  // never copies what it holds, and the drafts are reserved up front: untouched reserved pages
  // cost no memory, and a doubling vector would hold two copies at its last growth.
  core::StringArena texts;
  std::string variables;  // the current row's JSON object
  std::vector<RowDraft> drafts;
  drafts.reserve(static_cast<size_t>(std::clamp<int64_t>(limits_.read.max_rows, 0, 1 << 24)));
  absl::flat_hash_map<int64_t, std::vector<CellError>> cell_errors;  // first rows with errors
  // Every row with cell errors: its first error's column and message (invalid-rows.csv).
  absl::flat_hash_map<int64_t, std::pair<std::string, std::string>> first_errors;
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
      if (!draft.has_cell_errors) {
        first_errors.try_emplace(draft.row, std::string(column), message);
      }
      draft.has_cell_errors = true;
      if (cell_errors.size() < static_cast<size_t>(limits_.max_reported_invalid_rows)) {
        errors.push_back({std::string(column), std::string(value), std::move(message)});
      }
    };
    variables.assign(1, '{');
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
          draft.phone = texts.Append(value).data();
          draft.phone_size = static_cast<uint32_t>(value.size());
          break;
        case Column::Role::kTimezone: {
          if (value.empty()) break;
          auto [it, inserted] = zone_known.try_emplace(std::string(value), false);
          if (inserted) it->second = domain::IsKnownTimeZone(value);
          if (!it->second) {
            add_error("timezone", value, "not a known IANA time zone (e.g. America/New_York)");
            break;
          }
          draft.timezone = texts.Append(value).data();
          draft.timezone_size = static_cast<uint16_t>(value.size());
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
    draft.variables = texts.Append(variables).data();
    draft.variables_size = static_cast<uint32_t>(variables.size());
    if (!errors.empty()) cell_errors.emplace(draft.row, std::move(errors));
    drafts.push_back(draft);
  }
  outcome.summary.encoding = std::string(reader.encoding());
  outcome.summary.rows = static_cast<int64_t>(drafts.size());
  if (drafts.empty()) {
    return absl::InvalidArgumentError("the file has a header row but no data rows");
  }

  // --- phone numbers, duplicates, DNC ----------------------------------------------------------
  // Skipped rows (lenient uploads): row, first error's column and message; their cells are read
  // again from the file below, only if the batch is stored.
  struct Skip {
    int64_t row;
    std::string column;
    std::string message;
  };
  std::vector<Skip> skips;
  const absl::Time normalize_start = absl::Now();
  {
    // In chunks, so that only one chunk's texts and results exist besides the drafts; a valid
    // number's E.164 form replaces its text in the draft.
    constexpr size_t kChunk = 1 << 16;
    std::vector<std::string_view> phone_texts;
    std::vector<domain::PhoneResult> results;
    for (size_t begin = 0; begin < drafts.size(); begin += kChunk) {
      const size_t end = std::min(drafts.size(), begin + kChunk);
      phone_texts.clear();
      for (size_t i = begin; i < end; ++i) phone_texts.push_back(drafts[i].Phone());
      results.assign(end - begin, {});
      normalizer_.NormalizeBatch(phone_texts, region, results, limits_.normalize_threads);
      for (size_t i = begin; i < end; ++i) {
        RowDraft& draft = drafts[i];
        const domain::PhoneResult& result = results[i - begin];
        const std::string_view text = draft.Phone();
        draft.phone_ok = result.ok() && !text.empty() && !domain::LooksLikeExcelScientific(text);
        if (draft.phone_ok && !draft.has_cell_errors) {
          const std::string_view e164 = texts.Append(result.E164());
          draft.phone = e164.data();
          draft.phone_size = static_cast<uint32_t>(e164.size());
          continue;
        }
        ++outcome.summary.invalid;
        const std::string phone_message =
            draft.phone_ok ? std::string() : PhoneErrorMessage(text, result, region);
        if (outcome.invalid_rows.size() < static_cast<size_t>(limits_.max_reported_invalid_rows)) {
          InvalidRow& invalid = outcome.invalid_rows.emplace_back();
          invalid.row = draft.row;
          if (!draft.phone_ok) {
            invalid.errors.push_back({"phoneNumber", std::string(text), phone_message});
          }
          if (auto it = cell_errors.find(draft.row); it != cell_errors.end()) {
            for (auto& error : it->second) invalid.errors.push_back(std::move(error));
          }
        }
        if (!draft.phone_ok) {
          skips.push_back({draft.row, "phoneNumber", phone_message});
        } else if (auto it = first_errors.find(draft.row); it != first_errors.end()) {
          skips.push_back({draft.row, std::move(it->second.first), std::move(it->second.second)});
        }
        draft.phone_ok = false;  // the row is skipped
      }
    }
  }
  first_errors = {};
  cell_errors = {};

  // Duplicates: E.164 numbers as integers ("+" and at most 15 digits, no leading zero), sorted
  // with their row index; in each run of equal numbers the first row is kept. 16 bytes per row
  // instead of a hash map of strings (~50 bytes per row at a million rows).
  constexpr uint32_t kKept = UINT32_MAX;
  std::vector<uint32_t> first_of(drafts.size(), kKept);  // a duplicate's first row index
  {
    std::vector<std::pair<uint64_t, uint32_t>> keys;
    for (size_t i = 0; i < drafts.size(); ++i) {
      if (!drafts[i].phone_ok) continue;
      uint64_t number = 0;
      for (char c : drafts[i].Phone().substr(1))
        number = number * 10 + static_cast<uint64_t>(c - '0');
      keys.emplace_back(number, static_cast<uint32_t>(i));
    }
    std::sort(keys.begin(), keys.end());
    for (size_t k = 1; k < keys.size(); ++k) {
      if (keys[k].first != keys[k - 1].first) continue;
      const uint32_t previous = keys[k - 1].second;
      first_of[keys[k].second] = first_of[previous] == kKept ? previous : first_of[previous];
    }
  }

  absl::flat_hash_set<std::string> dnc;
  if (batch.settings.enable_dnc) {
    NEXUS_ASSIGN_OR_RETURN(const std::vector<std::string> listed, store_.ListAllDncNumbers(org_id));
    dnc.insert(listed.begin(), listed.end());
  }
  std::vector<store::NewCall> calls;
  calls.reserve(drafts.size() - static_cast<size_t>(outcome.summary.invalid));
  const size_t first_later_skip = skips.size();
  for (size_t i = 0; i < drafts.size(); ++i) {
    const RowDraft& draft = drafts[i];
    if (!draft.phone_ok) continue;
    const std::string_view number = draft.Phone();
    if (first_of[i] != kKept) {
      ++outcome.summary.duplicates;
      skips.push_back({draft.row, "phoneNumber",
                       fmt::format("duplicate of row {} ({})", drafts[first_of[i]].row, number)});
      continue;
    }
    if (dnc.contains(absl::string_view(number.data(), number.size()))) {
      ++outcome.summary.dnc;
      skips.push_back({draft.row, "phoneNumber", "on the do-not-call list"});
      continue;
    }
    calls.push_back({number, draft.Timezone(), draft.Variables()});
  }
  // Invalid rows were listed first, duplicates and DNC after: both runs are in row order.
  std::inplace_merge(skips.begin(), skips.begin() + static_cast<ptrdiff_t>(first_later_skip),
                     skips.end(), [](const Skip& a, const Skip& b) { return a.row < b.row; });
  first_of = {};
  drafts = {};  // the calls' views point into `texts`, not into the drafts
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

  // --- the skipped rows' original cells: a second, raw pass over the file ----------------------
  std::vector<store::SkippedRow> skipped;
  core::StringArena skipped_texts;
  if (!skips.empty()) {
    NEXUS_ASSIGN_OR_RETURN(auto again,
                           ingest::OpenTable(request.file_path, request.file_name, limits_.read));
    std::string cells_json;
    size_t next = 0;
    skipped.reserve(skips.size());
    while (next < skips.size()) {
      auto more = again->Next(row);
      if (!more.ok()) return ReadError(more.status());
      if (!*more) break;
      if (row.number != skips[next].row) continue;
      cells_json.assign(1, '[');
      for (size_t i = 0; i < row.cells.size(); ++i) {
        if (i > 0) cells_json += ',';
        core::AppendJsonString(cells_json, row.cells[i]);
      }
      cells_json += ']';
      const Skip& skip = skips[next++];
      skipped.push_back({skip.row, skip.column, skip.message, skipped_texts.Append(cells_json)});
    }
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
  const absl::Time insert_start = absl::Now();
  NEXUS_RETURN_IF_ERROR(
      store_.InsertBatch(batch, calls, {header, skipped}, record ? &*record : nullptr));
  core::Log(core::LogLevel::kInfo, "upload stored")
      .Str("batch_id", batch.id)
      .Int("rows", outcome.summary.rows)
      .Int("inserted", outcome.summary.inserted)
      .Int("read_ms", absl::ToInt64Milliseconds(normalize_start - read_start))
      .Int("normalize_ms", absl::ToInt64Milliseconds(insert_start - normalize_start))
      .Int("insert_ms", absl::ToInt64Milliseconds(absl::Now() - insert_start));
  return outcome;
}

}  // namespace nexus::service
