// File: service/upload_service.h
//
// POST /api/call/upload as a use case (SPEC §4): checks that the user, the calling numbers, their
// agent and its language exist (404), reads the spooled spreadsheet through ingest, matches its
// headers to the agent's variable schema, validates and normalises every row, removes duplicate
// numbers (first kept) and numbers on the do-not-call list, and stores the batch with all its
// calls in one transaction — or, in strict mode with invalid rows, in dry-run mode, or when
// nothing valid is left, stores nothing.
//
// Validation finishes before the write transaction opens, so the database's single writer is
// held for the insert alone. The file is read once, streaming; rows are kept in two compact
// arenas (phone text, variables JSON) until the insert.
//
// Errors (as Status codes; the HTTP layer maps them): InvalidArgument (400: bad file, headers,
// agents), NotFound (404: user, number, agent, language), OutOfRange (422: a file limit crossed,
// naming the row), ResourceExhausted (507: storage full), Unavailable (503). Row problems are not
// errors: they come back in UploadOutcome. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/clock.h"
#include "domain/batch.h"
#include "domain/credential.h"
#include "domain/phone_normalizer.h"
#include "ingest/table_reader.h"
#include "store/store.h"

namespace nexus::service {

struct UploadRequest {
  std::string user_id;             // owner of the batch, lowercase 24-hex
  domain::BatchSettings settings;  // timezone / default_country empty = organization default
  bool lenient = false;            // type=true: skip invalid rows instead of refusing the file
  bool dry_run = false;
  std::string file_path;  // the spooled upload
  std::string file_name;  // as the client named it (decides the expected format)
};

struct CellError {
  std::string column;
  std::string value;
  std::string message;
};

struct InvalidRow {
  int64_t row = 0;  // spreadsheet row number (header = 1)
  std::vector<CellError> errors;
};

struct UploadSummary {
  int64_t rows = 0;  // non-blank data rows = inserted + invalid + duplicates + dnc
  int64_t inserted = 0;
  int64_t invalid = 0;
  int64_t duplicates = 0;
  int64_t dnc = 0;
  std::string encoding = "utf-8";
};

struct UploadOutcome {
  enum class Kind {
    kStored,       // 200, batch stored
    kDryRun,       // 200, nothing stored, batch has no id
    kInvalidRows,  // 422 (strict mode), nothing stored
    kNoValidRows,  // 400, nothing stored
  };
  Kind kind = Kind::kStored;
  domain::Batch batch;  // settings resolved; id and timestamps set only when stored
  UploadSummary summary;
  std::vector<InvalidRow> invalid_rows;  // the first kMaxReportedRows, in row order
};

struct UploadLimits {
  ingest::ReadLimits read;
  int max_reported_invalid_rows = 1000;
  int normalize_threads = 2;
};

struct DncFileResult {
  int64_t rows = 0;     // non-blank data rows
  int64_t added = 0;    // numbers new to the list
  int64_t invalid = 0;  // rows whose number is not a valid phone number
};

class UploadService {
 public:
  // `store`, `clock` and `normalizer` must outlive the service.
  UploadService(store::Store& store, const core::Clock& clock,
                const domain::PhoneNormalizer& normalizer, UploadLimits limits = {})
      : store_(store), clock_(clock), normalizer_(normalizer), limits_(limits) {}

  // Renders the stored answer of a request made with an Idempotency-Key, from the outcome about
  // to be stored (batch ID and timestamps set), so that it commits with the batch.
  using RecordMaker = std::function<store::IdempotencyRecord(const UploadOutcome&)>;

  // The stored answer of `user_id`'s request with Idempotency-Key `key` made in the last 24 h.
  absl::StatusOr<std::optional<store::IdempotencyRecord>> FindStoredAnswer(std::string_view user_id,
                                                                           std::string_view key);

  // POST /api/dnc/upload: every valid number of the file's phone column (a header matching
  // phoneNumber, phone, number, mobile or telephone; or the only column) joins the caller's
  // organization's DNC list, all in one transaction. Same file errors as Upload.
  absl::StatusOr<DncFileResult> AddDncFile(const domain::Principal& caller,
                                           const std::string& file_path,
                                           std::string_view file_name);

  absl::StatusOr<UploadOutcome> Upload(const domain::Principal& caller,
                                       const UploadRequest& request,
                                       const RecordMaker& make_record = nullptr);

 private:
  absl::StatusOr<UploadOutcome> ValidateAndStore(const domain::Principal& caller,
                                                 const UploadRequest& request,
                                                 const RecordMaker& make_record);

  store::Store& store_;
  const core::Clock& clock_;
  const domain::PhoneNormalizer& normalizer_;
  UploadLimits limits_;
};

}  // namespace nexus::service
