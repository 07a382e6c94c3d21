// POST /api/call/upload (SPEC §4): the body streams through the multipart parser; the file part
// is spooled to a private temp file (hashed on the way for Idempotency-Key fingerprints), the
// other fields are collected; once the body is complete the form is checked and the upload
// service does the rest. The temp file is removed when the request ends, however it ends.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/crypto.h"
#include "core/log.h"
#include "core/status.h"
#include "core/time_format.h"
#include "http/api.h"
#include "http/error_mapping.h"
#include "http/json_body.h"
#include "http/multipart.h"
#include "http/upload_form.h"
#include "service/idempotency.h"

namespace nexus::http {

constexpr char kUploadRowsMetric[] = "nexus_upload_rows_total";
constexpr char kUploadRateMetric[] = "nexus_upload_rows_per_second";
namespace {

using nlohmann::json;
using service::UploadOutcome;

json EncodeBatch(const domain::Batch& batch, bool stored) {
  const domain::BatchSettings& s = batch.settings;
  json out = {{"batchName", s.name},
              {"callingNumbers", s.calling_number_ids},
              {"totalCalls", batch.total_calls},
              {"batchType", domain::BatchTypeName(s.type)},
              {"status", domain::BatchStatusName(batch.status)},
              {"agentId", batch.agent_id},
              {"timezone", s.timezone},
              {"callingHour",
               {{"start", domain::FormatTimeOfDay(s.calling_hour.start)},
                {"end", domain::FormatTimeOfDay(s.calling_hour.end)}}},
              {"allowedDays", s.allowed_days},
              {"retry", s.retry},
              {"delay", s.delay_seconds},
              {"enableDNC", s.enable_dnc},
              {"defaultCountry", s.default_country}};
  if (stored) {
    out["_id"] = batch.id;
    out["userId"] = batch.user_id;
    out["createdAt"] = core::FormatIsoMillis(batch.created_at);
  }
  return out;
}

json EncodeInvalidRows(const std::vector<service::InvalidRow>& rows) {
  json out = json::array();
  for (const auto& row : rows) {
    json errors = json::array();
    for (const auto& e : row.errors) {
      errors.push_back({{"column", e.column}, {"value", e.value}, {"message", e.message}});
    }
    out.push_back({{"row", row.row}, {"errors", std::move(errors)}});
  }
  return out;
}

json EncodeSummary(const service::UploadSummary& s) {
  return {{"rows", s.rows},       {"inserted", s.inserted},
          {"invalid", s.invalid}, {"duplicates", s.duplicates},
          {"dnc", s.dnc},         {"encoding", s.encoding}};
}

Response EncodeOutcome(const UploadOutcome& outcome) {
  switch (outcome.kind) {
    case UploadOutcome::Kind::kStored:
    case UploadOutcome::Kind::kDryRun: {
      const bool stored = outcome.kind == UploadOutcome::Kind::kStored;
      json body = {{"success", true},
                   {"batch", EncodeBatch(outcome.batch, stored)},
                   {"summary", EncodeSummary(outcome.summary)},
                   {"invalidRows", EncodeInvalidRows(outcome.invalid_rows)}};
      if (!stored) body["dryRun"] = true;
      return JsonResponse(200, body);
    }
    case UploadOutcome::Kind::kInvalidRows:
      return JsonResponse(
          422, {{"success", false},
                {"message", fmt::format("{} of {} rows are invalid; nothing was stored (send "
                                        "type=true to skip invalid rows instead)",
                                        outcome.summary.invalid, outcome.summary.rows)},
                {"invalidCount", outcome.summary.invalid},
                {"summary", EncodeSummary(outcome.summary)},
                {"invalidRows", EncodeInvalidRows(outcome.invalid_rows)}});
    case UploadOutcome::Kind::kNoValidRows:
      return JsonResponse(400, {{"success", false},
                                {"message", "no valid rows: nothing left to call"},
                                {"invalidCount", outcome.summary.invalid},
                                {"summary", EncodeSummary(outcome.summary)},
                                {"invalidRows", EncodeInvalidRows(outcome.invalid_rows)}});
  }
  return JsonResponse(500, {{"success", false}, {"message", "internal error"}});
}

// A multipart form as it streams in: text fields collected, the `file` part spooled to a private
// temp file (hashed on the way). The file is removed when this object is destroyed.
class SpooledForm final : private MultipartHandler {
 public:
  SpooledForm(std::string spool_dir, absl::StatusOr<std::string> boundary)
      : spool_dir_(std::move(spool_dir)), boundary_status_(boundary.status()) {
    if (boundary.ok()) parser_.emplace(*boundary, static_cast<MultipartHandler*>(this));
  }
  ~SpooledForm() override {
    if (spool_fd_ >= 0) close(spool_fd_);
    if (!spool_path_.empty()) unlink(spool_path_.c_str());
  }
  SpooledForm(const SpooledForm&) = delete;
  SpooledForm& operator=(const SpooledForm&) = delete;

  absl::Status Feed(std::string_view piece) {
    NEXUS_RETURN_IF_ERROR(boundary_status_);
    return parser_->Feed(piece);
  }

  // The body has ended: checks the closing boundary and closes the spooled file.
  absl::Status Finish() {
    NEXUS_RETURN_IF_ERROR(boundary_status_);
    NEXUS_RETURN_IF_ERROR(parser_->Finish());
    if (spool_fd_ >= 0) {
      const bool closed = close(spool_fd_) == 0;
      spool_fd_ = -1;
      if (!closed) return absl::InternalError("cannot close the spooled upload");
    }
    return absl::OkStatus();
  }

  const FormFields& fields() const { return fields_; }
  bool has_file() const { return has_file_; }
  const std::string& file_path() const { return spool_path_; }
  const std::string& file_name() const { return file_name_; }

  // SHA-256 over the sorted fields and the file: the same form and file give the same fingerprint
  // whatever the field order. Call once, after Finish.
  std::string Fingerprint() {
    auto sorted = fields_;
    std::sort(sorted.begin(), sorted.end());
    core::Sha256Stream hash;
    for (const auto& [name, value] : sorted) {
      hash.Update(name);
      hash.Update(std::string_view("\0", 1));
      hash.Update(value);
      hash.Update(std::string_view("\0", 1));
    }
    hash.Update(file_name_);
    hash.Update(file_hash_.FinishHex());
    return hash.FinishHex();
  }

 private:
  absl::Status OnField(const PartHeaders& headers, std::string_view value) override {
    fields_.emplace_back(headers.name, std::string(value));
    return absl::OkStatus();
  }

  absl::Status OnPartBegin(const PartHeaders& headers) override {
    if (headers.name != "file") return absl::OkStatus();  // other file parts are ignored
    if (has_file_) return absl::InvalidArgumentError("field file was sent more than once");
    has_file_ = true;
    in_file_ = true;
    file_name_ = headers.SanitizedFilename();
    spool_path_ = fmt::format("{}/upload-{}-{}.part", spool_dir_, getpid(),
                              core::HexEncode(core::RandomBytes(8)));
    spool_fd_ = open(spool_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (spool_fd_ < 0) {
      core::Log(core::LogLevel::kError, "cannot create upload spool file")
          .Str("path", spool_path_)
          .Str("error", std::strerror(errno));
      spool_path_.clear();
      return absl::UnavailableError("cannot store the uploaded file right now");
    }
    return absl::OkStatus();
  }

  absl::Status OnPartData(std::string_view chunk) override {
    if (!in_file_) return absl::OkStatus();
    file_hash_.Update(chunk);
    while (!chunk.empty()) {
      const ssize_t written = write(spool_fd_, chunk.data(), chunk.size());
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) {
        if (errno == ENOSPC || errno == EDQUOT) {
          return absl::ResourceExhaustedError(
              "no space left to store the upload; nothing was stored");
        }
        return absl::InternalError(
            fmt::format("cannot spool the upload: {}", std::strerror(errno)));
      }
      chunk.remove_prefix(static_cast<size_t>(written));
    }
    return absl::OkStatus();
  }

  absl::Status OnPartEnd() override {
    in_file_ = false;
    return absl::OkStatus();
  }

  const std::string spool_dir_;
  const absl::Status boundary_status_;
  std::optional<MultipartParser> parser_;
  FormFields fields_;
  bool has_file_ = false;
  bool in_file_ = false;
  std::string file_name_;
  std::string spool_path_;
  int spool_fd_ = -1;
  core::Sha256Stream file_hash_;
};

// The parts every form route shares: feeding the form and answering its errors.
class FormSink : public BodySink {
 public:
  FormSink(const UploadRouteOptions& options, std::string request_id,
           absl::StatusOr<std::string> boundary)
      : request_id_(std::move(request_id)), form_(options.spool_dir, std::move(boundary)) {}

  std::optional<Response> Consume(std::string_view piece) override {
    if (absl::Status status = form_.Feed(piece); !status.ok()) return Error(status);
    return std::nullopt;
  }

  Response Finish(Request& request) final {
    if (absl::Status status = form_.Finish(); !status.ok()) return Error(status);
    return Complete(request);
  }

 protected:
  // The use case, once the whole form has arrived.
  virtual Response Complete(Request& request) = 0;
  Response Error(const absl::Status& status) const { return ErrorResponse(status, request_id_); }

  const std::string request_id_;
  SpooledForm form_;
};

// POST /api/call/upload.
class UploadSink final : public FormSink {
 public:
  UploadSink(const ApiServices& services, const UploadRouteOptions& options,
             domain::Principal caller, std::string request_id, absl::StatusOr<std::string> boundary)
      : FormSink(options, std::move(request_id), std::move(boundary)),
        services_(services),
        caller_(std::move(caller)) {}

 private:
  Response Complete(Request& request) override {
    auto form = ParseUploadForm(form_.fields(), form_.has_file());
    if (!form.ok()) return Error(form.status());

    // Idempotency-Key: replay, conflict, or a lease while this request runs.
    std::optional<std::string> key;
    if (const std::string* header = request.FindHeader("idempotency-key")) key = *header;
    service::InFlightKeys::Lease lease;
    std::string fingerprint;
    if (key) {
      if (absl::Status status = service::ValidateIdempotencyKey(*key); !status.ok()) {
        return Error(status);
      }
      if (absl::Status status = services_.in_flight->TryBegin(caller_.user.id, *key, lease);
          !status.ok()) {
        return Error(status);
      }
      fingerprint = form_.Fingerprint();
      auto stored = services_.upload->FindStoredAnswer(caller_.user.id, *key);
      if (!stored.ok()) return Error(stored.status());
      if (stored->has_value()) {
        if ((*stored)->fingerprint != fingerprint) {
          return Error(
              absl::OutOfRangeError("Idempotency-Key was already used with a different request"));
        }
        Response replay;
        replay.status = (*stored)->http_status;
        replay.body = (*stored)->response_body;
        replay.headers.push_back({"Idempotent-Replayed", "true"});
        return replay;
      }
    }

    service::UploadRequest upload;
    upload.user_id = form->user_id;
    upload.settings = std::move(form->settings);
    upload.lenient = form->lenient;
    upload.dry_run = form->dry_run;
    upload.file_path = form_.file_path();
    upload.file_name = form_.file_name();
    service::UploadService::RecordMaker make_record;
    if (key && !upload.dry_run) {
      make_record = [&](const UploadOutcome& outcome) {
        store::IdempotencyRecord record;
        record.user_id = caller_.user.id;
        record.key = *key;
        record.fingerprint = fingerprint;
        const Response response = EncodeOutcome(outcome);
        record.http_status = response.status;
        record.response_body = response.body;
        record.created_at = outcome.batch.created_at;
        return record;
      };
    }
    const auto started = std::chrono::steady_clock::now();
    auto outcome = services_.upload->Upload(caller_, upload, make_record);
    if (!outcome.ok()) return Error(outcome.status());
    RecordUploadMetrics(*outcome, std::chrono::steady_clock::now() - started);
    return EncodeOutcome(*outcome);
  }

  // Rows read (their rate is the upload rows/s) and each upload's own rows per second, from
  // reading the spooled file to the answer.
  void RecordUploadMetrics(const UploadOutcome& outcome, std::chrono::steady_clock::duration took) {
    if (services_.metrics == nullptr) return;
    const char* result = outcome.kind == UploadOutcome::Kind::kStored   ? "stored"
                         : outcome.kind == UploadOutcome::Kind::kDryRun ? "dry_run"
                                                                        : "rejected";
    services_.metrics->Add(kUploadRowsMetric, {{"result", result}},
                           static_cast<double>(outcome.summary.rows));
    const double seconds = std::chrono::duration<double>(took).count();
    if (seconds > 0 && outcome.summary.rows > 0) {
      services_.metrics->Observe(kUploadRateMetric, {},
                                 static_cast<double>(outcome.summary.rows) / seconds);
    }
  }

  const ApiServices& services_;
  const domain::Principal caller_;
};

// POST /api/dnc/upload: a file with a phone column, added to the organization's DNC list.
class DncUploadSink final : public FormSink {
 public:
  DncUploadSink(const ApiServices& services, const UploadRouteOptions& options,
                domain::Principal caller, std::string request_id,
                absl::StatusOr<std::string> boundary)
      : FormSink(options, std::move(request_id), std::move(boundary)),
        services_(services),
        caller_(std::move(caller)) {}

 private:
  Response Complete(Request&) override {
    if (!form_.has_file()) {
      return Error(
          absl::InvalidArgumentError("file is required (a .csv, .xls or .xlsx spreadsheet)"));
    }
    auto result = services_.upload->AddDncFile(caller_, form_.file_path(), form_.file_name());
    if (!result.ok()) return Error(result.status());
    return JsonResponse(200, {{"success", true},
                              {"added", result->added},
                              {"invalid", result->invalid},
                              {"rows", result->rows}});
  }

  const ApiServices& services_;
  const domain::Principal caller_;
};

}  // namespace

int SweepUploadSpool(const std::string& dir) {
  DIR* listing = opendir(dir.c_str());
  if (listing == nullptr) return 0;
  int removed = 0;
  while (const dirent* entry = readdir(listing)) {
    const std::string_view name = entry->d_name;
    if (!name.starts_with("upload-") || !name.ends_with(".part")) continue;
    const long pid = std::strtol(entry->d_name + 7, nullptr, 10);
    if (pid > 0 && (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM)) continue;
    if (unlinkat(dirfd(listing), entry->d_name, 0) == 0) ++removed;
  }
  closedir(listing);
  return removed;
}

void AddUploadRoutes(Router& router, const ApiServices& services,
                     const UploadRouteOptions& options) {
  if (services.metrics != nullptr) {
    services.metrics->DescribeCounter(kUploadRowsMetric,
                                      "Data rows read by POST /api/call/upload, by result");
    services.metrics->DescribeHistogram(
        kUploadRateMetric, "Rows per second of each upload, from reading the file to the answer",
        {1e3, 1e4, 5e4, 1e5, 2e5, 5e5, 1e6});
  }
  router.Add({"POST", "/api/dnc/upload", Access::kAdmin, options.max_body_bytes, nullptr,
              [&services, &options](RouteContext& c) -> std::shared_ptr<BodySink> {
                const std::string* type = c.request.FindHeader("content-type");
                return std::make_shared<DncUploadSink>(
                    services, options, *c.principal, c.request.request_id,
                    BoundaryFromContentType(type != nullptr ? *type : ""));
              }});
  router.Add({"POST", "/api/call/upload", Access::kAdmin, options.max_body_bytes, nullptr,
              [&services, &options](RouteContext& c) -> std::shared_ptr<BodySink> {
                const std::string* type = c.request.FindHeader("content-type");
                return std::make_shared<UploadSink>(
                    services, options, *c.principal, c.request.request_id,
                    BoundaryFromContentType(type != nullptr ? *type : ""));
              }});
}

}  // namespace nexus::http
