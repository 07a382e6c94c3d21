// The batch API after an upload (SPEC §5, §6 "Batches"): batch details, a user's batch list,
// delete, start / stop calling and the CSV export. Handlers decode the query or JSON body into
// service requests (syntax: integers, JSON, types), call BatchService, and encode the answer in
// the batch envelope {"message","status","code","errorMessage","data"}; delete answers
// {"success":true,"message":"Batch deleted"} and the export is CSV. Errors always use the
// envelope (delete's also carry "success": false). 401/403 are answered before these handlers
// run, by Api::Prepare, in the workspace error shape.
#include <algorithm>
#include <iterator>
#include <nlohmann/json.hpp>
#include <span>

#include "absl/strings/ascii.h"
#include "core/status.h"
#include "core/time_format.h"
#include "http/api.h"
#include "http/error_mapping.h"
#include "http/json_body.h"
#include "http/query.h"
#include "service/batch_service.h"

namespace nexus::http {
namespace {

using nlohmann::json;
using service::BatchService;

// Fields of a call record; a variable with one of these names stays under "variables".
constexpr std::string_view kCallFields[] = {"_id",       "phoneNumber",   "callStatus",
                                            "attempts",  "nextAttemptAt", "phoneLogs",
                                            "createdAt", "updatedAt",     "variables"};

// The export's fixed columns; a variable with one of these names is written "variables.<key>".
constexpr std::string_view kCsvColumns[] = {"_id",       "phoneNumber",      "callStatus",
                                            "attempts",  "lastCallDuration", "lastRecordingUrl",
                                            "createdAt", "updatedAt"};

template <size_t N>
bool IsOneOf(std::string_view name, const std::string_view (&names)[N]) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

Response Envelope(int code, std::string_view message, json data) {
  return JsonResponse(code, {{"message", message},
                             {"status", true},
                             {"code", code},
                             {"errorMessage", ""},
                             {"data", std::move(data)}});
}

// The batch envelope for an error; the status code, headers and logging (500 details go to the
// log, never to the client) are ErrorResponse's.
Response EnvelopeError(const absl::Status& status, std::string_view request_id,
                       bool with_success = false) {
  Response response = ErrorResponse(status, request_id);
  const json plain = json::parse(response.body, nullptr, false);
  const std::string message = plain.is_object() && plain.contains("message")
                                  ? plain["message"].get<std::string>()
                                  : std::string("internal error");
  json body = {{"message", message},
               {"status", false},
               {"code", response.status},
               {"errorMessage", message},
               {"data", nullptr}};
  if (plain.is_object() && plain.contains("requestId")) body["requestId"] = plain["requestId"];
  if (with_success) body["success"] = false;
  response.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return response;
}

// A handler answering with the body `fn` returns, or the envelope of its error.
Handler Enveloped(std::function<absl::StatusOr<Response>(RouteContext&)> fn,
                  bool errors_with_success = false) {
  return [fn = std::move(fn), errors_with_success](RouteContext& context) {
    absl::StatusOr<Response> response = fn(context);
    if (!response.ok()) {
      return EnvelopeError(response.status(), context.request.request_id, errors_with_success);
    }
    return *std::move(response);
  };
}

json EncodeCounts(const store::CallCounts& counts) {
  json summary = json::object();
  for (domain::CallStatus status : domain::kAllCallStatuses) {
    summary[std::string(domain::CallStatusName(status))] = counts.Of(status);
  }
  return summary;
}

// The call's variables as a JSON object (empty if the stored text is not one).
json Variables(const domain::Call& call) {
  json variables = json::parse(call.variables_json, nullptr, false);
  return variables.is_object() ? variables : json::object();
}

json EncodePhoneLogs(const domain::Call& call) {
  json logs = json::array();
  for (const domain::PhoneLog& log : call.phone_logs) {
    logs.push_back({{"attempt", log.attempt},
                    {"callStatus", domain::CallStatusName(log.status)},
                    {"callDuration", log.duration_seconds ? json(*log.duration_seconds) : json()},
                    {"recordingUrl", log.recording_url},
                    {"transcript", log.transcript},
                    {"createdAt", core::FormatIsoMillis(log.created_at)}});
  }
  return logs;
}

json EncodeCall(const domain::Call& call) {
  json out = {{"_id", call.id},
              {"phoneNumber", call.phone},
              {"callStatus", domain::CallStatusName(call.status)},
              {"attempts", call.attempts},
              {"nextAttemptAt",
               call.next_attempt_at ? json(core::FormatIsoMillis(*call.next_attempt_at)) : json()},
              {"phoneLogs", EncodePhoneLogs(call)},
              {"createdAt", core::FormatIsoMillis(call.created_at)},
              {"updatedAt", core::FormatIsoMillis(call.updated_at)}};
  json nested = json::object();
  json variables = Variables(call);
  for (auto& [key, value] : variables.items()) {
    (IsOneOf(key, kCallFields) ? nested[key] : out[key]) = std::move(value);
  }
  if (!nested.empty()) out["variables"] = std::move(nested);
  return out;
}

// batch-details `filter`: a JSON object of equality conditions.
absl::StatusOr<std::vector<service::CallFilter>> ParseFilter(const std::string& text) {
  std::vector<service::CallFilter> filter;
  if (text.empty()) return filter;
  const json parsed = json::parse(text, nullptr, false);
  if (!parsed.is_object()) {
    return absl::InvalidArgumentError(
        "filter must be a JSON object such as {\"callStatus\":\"completed\"}");
  }
  for (const auto& [key, value] : parsed.items()) {
    service::CallFilter condition{key, std::nullopt};
    if (value.is_string()) {
      condition.value = value.get<std::string>();
    } else if (value.is_number() || value.is_boolean()) {
      condition.value = value.dump();  // compared with the stored text: 10, 2.5, true
    } else if (!value.is_null()) {
      return absl::InvalidArgumentError(
          fmt::format("filter.{} must be a string, number, boolean or null", key));
    }
    filter.push_back(std::move(condition));
  }
  return filter;
}

absl::StatusOr<service::BatchDetailsRequest> ParseDetailsQuery(RouteContext& c) {
  const std::string& query = c.request.query;
  service::BatchDetailsRequest request;
  request.batch_id = std::string(c.Param("batchId"));
  NEXUS_ASSIGN_OR_RETURN(request.page, IntQueryParam(query, "page", 1, 1, BatchService::kMaxPage));
  NEXUS_ASSIGN_OR_RETURN(request.limit,
                         IntQueryParam(query, "limit", 10, 1, BatchService::kMaxDetailsLimit));
  NEXUS_ASSIGN_OR_RETURN(const std::optional<std::string> filter, QueryParam(query, "filter"));
  NEXUS_ASSIGN_OR_RETURN(request.filter, ParseFilter(filter.value_or("")));
  NEXUS_ASSIGN_OR_RETURN(const std::optional<std::string> sort_by, QueryParam(query, "sortBy"));
  request.sort_by = sort_by.value_or("");
  NEXUS_ASSIGN_OR_RETURN(const std::optional<std::string> order, QueryParam(query, "sortOrder"));
  const std::string direction = absl::AsciiStrToLower(order.value_or(""));
  if (direction != "" && direction != "asc" && direction != "desc") {
    return absl::InvalidArgumentError("sortOrder must be asc or desc");
  }
  request.descending = direction != "asc";
  NEXUS_ASSIGN_OR_RETURN(const std::optional<std::string> search, QueryParam(query, "search"));
  request.search = search.value_or("");
  return request;
}

json EncodeDetails(const service::BatchDetails& details) {
  json calls = json::array();
  for (const domain::Call& call : details.calls) calls.push_back(EncodeCall(call));
  return {{"batchId", details.batch.id},
          {"batchName", details.batch.settings.name},
          {"batchStatus", domain::BatchStatusName(details.batch.status)},
          {"page", details.page},
          {"limit", details.limit},
          {"total", details.total},
          {"totalPages", details.total_pages},
          {"summary", EncodeCounts(details.counts)},
          {"data", std::move(calls)}};
}

json EncodeBatchList(const service::BatchList& list) {
  json batches = json::array();
  for (const store::BatchListItem& item : list.items) {
    batches.push_back({{"_id", item.batch.id},
                       {"batchName", item.batch.settings.name},
                       {"totalCalls", item.counts.Total()},
                       {"callsPicked", item.counts.picked},
                       {"callsCompleted", item.counts.finished},
                       {"queue_status", domain::BatchStatusName(item.batch.status)},
                       {"createdAt", core::FormatIsoMillis(item.batch.created_at)},
                       {"updatedAt", core::FormatIsoMillis(item.batch.updated_at)}});
  }
  return {{"batches", std::move(batches)},
          {"pagination",
           {{"total", list.total},
            {"page", list.page},
            {"limit", list.limit},
            {"totalPages", list.total_pages}}}};
}

// --- CSV ---------------------------------------------------------------------------------

// "+12125551234", "-3.5", "+.5", "1e5": what a spreadsheet reads as a number, not a formula.
bool IsPlainNumber(std::string_view text) {
  size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  size_t digits = 0;
  while (i < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) ++i, ++digits;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) {
      ++i, ++digits;
    }
  }
  if (digits == 0) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    size_t exponent = 0;
    while (i < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) {
      ++i, ++exponent;
    }
    if (exponent == 0) return false;
  }
  return i == text.size();
}

// SPEC §6: a cell starting with =, @, tab or CR, or with + or - and not a plain number, could run
// as a formula in a spreadsheet, so it gets a leading apostrophe.
bool NeedsFormulaGuard(std::string_view cell) {
  if (cell.empty()) return false;
  switch (cell.front()) {
    case '=':
    case '@':
    case '\t':
    case '\r':
      return true;
    case '+':
    case '-':
      return !IsPlainNumber(cell);
    default:
      return false;
  }
}

// Appends `cell` (guarded, then quoted per RFC 4180 when it holds , " CR or LF).
void AppendCsvCell(std::string& out, std::string_view cell) {
  const bool guard = NeedsFormulaGuard(cell);
  const bool quote = cell.find_first_of(",\"\r\n") != std::string_view::npos;
  if (quote) out += '"';
  if (guard) out += '\'';
  for (char c : cell) {
    if (c == '"') out += '"';
    out += c;
  }
  if (quote) out += '"';
}

void AppendCsvRow(std::string& out, std::span<const std::string_view> fixed,
                  const std::vector<std::string>& variables) {
  bool first = true;
  for (std::string_view cell : fixed) {
    if (!first) out += ',';
    first = false;
    AppendCsvCell(out, cell);
  }
  for (const std::string& cell : variables) {
    out += ',';
    AppendCsvCell(out, cell);
  }
  out += "\r\n";
}

// The CSV export, streamed: pages of kExportPage calls, each read in its own short transaction
// and sent as one chunk before the next is read, so memory holds one page whatever the batch's
// size and a slow client holds neither a thread nor a database snapshot. The rows of a batch
// being dialled may change between pages; each row is as it was when its page was read.
constexpr int64_t kExportPage = 2000;

struct ExportState {
  BatchService* batches = nullptr;
  domain::Principal principal;
  std::string batch_id;
  std::vector<std::string> keys;  // the batch's variable keys (columns after the fixed ones)
  std::string after;              // the last call ID written
  bool header_written = false;
  std::vector<std::string> values;
};

// Appends the next page (the header first) to `csv`; true while more calls may follow.
absl::StatusOr<bool> AppendExportPage(ExportState& state, std::string& csv,
                                      std::vector<Header>* headers) {
  int64_t rows = 0;
  NEXUS_RETURN_IF_ERROR(state.batches->ExportCalls(
      state.principal, state.batch_id, state.after, kExportPage,
      [&](const domain::Batch& batch) {
        if (state.header_written) return absl::OkStatus();
        state.header_written = true;
        state.keys = batch.variable_keys;
        std::vector<std::string> header;
        for (const std::string& key : state.keys) {
          header.push_back(IsOneOf(key, kCsvColumns) ? "variables." + key : key);
        }
        AppendCsvRow(csv, kCsvColumns, header);
        if (headers != nullptr) {
          headers->push_back({"Content-Disposition",
                              fmt::format("attachment; filename=\"batch-{}.csv\"", batch.id)});
        }
        return absl::OkStatus();
      },
      [&](const domain::Call& call) {
        ++rows;
        state.after = call.id;
        const json variables = Variables(call);
        state.values.assign(state.keys.size(), std::string());
        for (size_t i = 0; i < state.keys.size(); ++i) {
          const auto it = variables.find(state.keys[i]);
          if (it != variables.end() && it->is_string()) state.values[i] = it->get<std::string>();
        }
        const std::string attempts = std::to_string(call.attempts);
        const std::string created = core::FormatIsoMillis(call.created_at);
        const std::string updated = core::FormatIsoMillis(call.updated_at);
        // The latest reported attempt's duration and recording.
        std::string duration, recording;
        if (!call.phone_logs.empty()) {
          const domain::PhoneLog& last = call.phone_logs.back();
          if (last.duration_seconds) duration = std::to_string(*last.duration_seconds);
          recording = last.recording_url;
        }
        const std::string_view fixed[] = {call.id,  call.phone, domain::CallStatusName(call.status),
                                          attempts, duration,   recording,
                                          created,  updated};
        AppendCsvRow(csv, fixed, state.values);
        return absl::OkStatus();
      }));
  return rows == kExportPage;
}

// A CSV answer produced a page at a time by `next_page(out, headers)` (true while more pages may
// follow; `headers` is non-null for the first page only). The first page is produced here, so a
// bad ID or a missing batch is still a plain 4xx answer; a CSV of one page gets a plain body
// with a Content-Length, a longer one streams the other pages.
absl::StatusOr<Response> PagedCsv(
    std::function<absl::StatusOr<bool>(std::string& out, std::vector<Header>* headers)> next_page) {
  Response response;
  response.content_type = "text/csv; charset=utf-8";
  NEXUS_ASSIGN_OR_RETURN(const bool more, next_page(response.body, &response.headers));
  if (!more) return response;
  response.body_stream = [next_page = std::move(next_page), first = std::move(response.body)](
                             std::string& out) mutable -> absl::StatusOr<bool> {
    if (!first.empty()) {
      out.swap(first);
      first.clear();
      return true;
    }
    return next_page(out, nullptr);
  };
  return response;
}

absl::StatusOr<Response> ExportCsv(BatchService& batches, RouteContext& c) {
  NEXUS_ASSIGN_OR_RETURN(const std::optional<std::string> batch_id,
                         QueryParam(c.request.query, "batchId"));
  if (!batch_id || batch_id->empty()) return absl::InvalidArgumentError("batchId is required");
  auto state = std::make_shared<ExportState>();
  state->batches = &batches;
  state->principal = *c.principal;
  state->batch_id = *batch_id;
  return PagedCsv([state](std::string& out, std::vector<Header>* headers) {
    return AppendExportPage(*state, out, headers);
  });
}

// The rows a lenient upload skipped: row, the first error's column and message, then the
// file's own columns as read (every cell formula-guarded); paged like the export.
constexpr int64_t kSkippedRowsPage = 2000;

absl::StatusOr<Response> ExportSkippedRowsCsv(BatchService& batches, RouteContext& c) {
  struct State {
    BatchService* batches = nullptr;
    domain::Principal principal;
    std::string batch_id;
    int64_t after_row = 0;
    std::vector<std::string> original;
  };
  auto state = std::make_shared<State>();
  state->batches = &batches;
  state->principal = *c.principal;
  state->batch_id = std::string(c.Param("id"));
  return PagedCsv([state](std::string& csv, std::vector<Header>* headers) -> absl::StatusOr<bool> {
    int64_t rows = 0;
    NEXUS_RETURN_IF_ERROR(state->batches->ExportSkippedRows(
        state->principal, state->batch_id, state->after_row, kSkippedRowsPage,
        [&](std::span<const std::string> header) {
          if (headers == nullptr) return absl::OkStatus();  // written with the first page
          constexpr std::string_view kFixed[] = {"row", "column", "message"};
          AppendCsvRow(csv, kFixed, std::vector<std::string>(header.begin(), header.end()));
          headers->push_back(
              {"Content-Disposition",
               fmt::format("attachment; filename=\"batch-{}-invalid-rows.csv\"", state->batch_id)});
          return absl::OkStatus();
        },
        [&](const service::SkippedRow& row) -> absl::Status {
          const json parsed = json::parse(row.cells_json, nullptr, /*allow_exceptions=*/false);
          if (!parsed.is_array()) return absl::InternalError("stored skipped row is not an array");
          state->original.clear();
          for (const json& cell : parsed) {
            state->original.push_back(cell.is_string() ? cell.get<std::string>() : std::string());
          }
          const std::string number = std::to_string(row.row);
          const std::string_view fixed[] = {number, row.column, row.message};
          AppendCsvRow(csv, fixed, state->original);
          state->after_row = row.row;
          ++rows;
          return absl::OkStatus();
        }));
    return rows == kSkippedRowsPage;
  });
}

// start-calling / stop-calling.
Handler SetCalling(BatchService* batches, bool start) {
  return Enveloped([batches, start](RouteContext& c) -> absl::StatusOr<Response> {
    NEXUS_ASSIGN_OR_RETURN(const JsonObject body, JsonObject::Parse(c.request.body));
    NEXUS_ASSIGN_OR_RETURN(const std::optional<std::string> batch_id, body.String("batchId"));
    if (!batch_id) return absl::InvalidArgumentError("batchId is required");
    NEXUS_ASSIGN_OR_RETURN(const std::optional<std::string> user_id, body.String("userId"));
    NEXUS_ASSIGN_OR_RETURN(const domain::Batch batch,
                           start ? batches->StartCalling(*c.principal, *batch_id, user_id)
                                 : batches->StopCalling(*c.principal, *batch_id, user_id));
    return Envelope(200, start ? "Calling started" : "Calling stopped",
                    {{"batchId", batch.id},
                     {"status", start ? "started" : "stopped"},
                     {"batchStatus", domain::BatchStatusName(batch.status)}});
  });
}

}  // namespace

void AddBatchRoutes(Router& router, const ApiServices& services, uint64_t json_body_limit) {
  BatchService* batches = services.batch;
  router.Add({"GET", "/api/call/batch-details/{batchId}", Access::kMember, 0,
              Enveloped([batches](RouteContext& c) -> absl::StatusOr<Response> {
                NEXUS_ASSIGN_OR_RETURN(const service::BatchDetailsRequest request,
                                       ParseDetailsQuery(c));
                NEXUS_ASSIGN_OR_RETURN(const service::BatchDetails details,
                                       batches->GetDetails(*c.principal, request));
                return Envelope(200, "Calls fetched successfully", EncodeDetails(details));
              }),
              nullptr});
  router.Add({"GET", "/api/call/batches/{userId}", Access::kMember, 0,
              Enveloped([batches](RouteContext& c) -> absl::StatusOr<Response> {
                const std::string& query = c.request.query;
                service::BatchListRequest request;
                request.user_id = std::string(c.Param("userId"));
                NEXUS_ASSIGN_OR_RETURN(request.page,
                                       IntQueryParam(query, "page", 1, 1, BatchService::kMaxPage));
                NEXUS_ASSIGN_OR_RETURN(request.limit, IntQueryParam(query, "limit", 10, 1,
                                                                    BatchService::kMaxListLimit));
                NEXUS_ASSIGN_OR_RETURN(const std::optional<std::string> search,
                                       QueryParam(query, "search"));
                request.search = search.value_or("");
                NEXUS_ASSIGN_OR_RETURN(const service::BatchList list,
                                       batches->ListBatches(*c.principal, request));
                return Envelope(200, "Batches fetched successfully", EncodeBatchList(list));
              }),
              nullptr});
  router.Add({"DELETE", "/api/call/delete-batch/{batchId}", Access::kMember, 0,
              Enveloped(
                  [batches](RouteContext& c) -> absl::StatusOr<Response> {
                    NEXUS_RETURN_IF_ERROR(batches->DeleteBatch(*c.principal, c.Param("batchId")));
                    return JsonResponse(200, {{"success", true}, {"message", "Batch deleted"}});
                  },
                  /*errors_with_success=*/true),
              nullptr});
  router.Add({"POST", "/api/call/start-calling", Access::kMember, json_body_limit,
              SetCalling(batches, /*start=*/true), nullptr});
  router.Add({"POST", "/api/call/stop-calling", Access::kMember, json_body_limit,
              SetCalling(batches, /*start=*/false), nullptr});
  router.Add({"GET", "/api/call/export/csv", Access::kMember, 0,
              Enveloped([batches](RouteContext& c) { return ExportCsv(*batches, c); }), nullptr});
  router.Add({"GET", "/api/call/batch/{id}/invalid-rows.csv", Access::kMember, 0,
              Enveloped([batches](RouteContext& c) { return ExportSkippedRowsCsv(*batches, c); }),
              nullptr});
}

}  // namespace nexus::http
