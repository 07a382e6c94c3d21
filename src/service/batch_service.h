// File: service/batch_service.h
//
// The batch API after an upload (SPEC §5 and §6 "Batches") as use cases: batch details (one
// filtered, sorted, searched page of a batch's calls with the batch's summary), a user's batch
// list, soft delete, start / stop calling, and the rows of the CSV export.
//
// Visibility: an admin acts on every batch of their organization, a member only on the batches
// they own. A batch that is missing, deleted, of another organization or (for a member) of
// another user is NotFound "Batch not found", so IDs leak nothing.
//
// Requests arrive decoded by the HTTP layer (types and syntax); this layer checks their meaning
// and answers InvalidArgument with a message naming the parameter: a malformed ID ("Invalid
// batch ID format"), page / limit out of range, a filter or sortBy key that is neither built in
// nor a variable of the batch, a callStatus that is not a status. Starting or stopping a
// completed or canceled batch is FailedPrecondition. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "core/clock.h"
#include "domain/batch.h"
#include "domain/credential.h"
#include "store/store.h"

namespace nexus::service {

// One equality condition of batch-details `filter`.
struct CallFilter {
  // "callStatus", "phoneNumber", a variable key of the batch, or "variables.<key>" (to reach a
  // variable named like a built-in field).
  std::string key;
  // The value as text (the HTTP layer writes JSON numbers and booleans as JSON does); nullopt
  // (JSON null) matches calls without the variable, and is refused for the built-in keys.
  std::optional<std::string> value;
};

struct BatchDetailsRequest {
  std::string batch_id;
  int64_t page = 1;    // >= 1
  int64_t limit = 10;  // 1..kMaxDetailsLimit
  std::vector<CallFilter> filter;
  // createdAt, updatedAt, phoneNumber, callStatus, attempts, a variable key of the batch or
  // "variables.<key>"; "" = createdAt.
  std::string sort_by;
  bool descending = true;
  std::string search;  // "" = none; surrounding whitespace is ignored
};

struct BatchDetails {
  domain::Batch batch;
  int64_t page = 1;
  int64_t limit = 10;
  int64_t total = 0;         // calls matching filter and search
  int64_t total_pages = 0;   // ceil(total / limit); 0 when total is 0
  store::CallCounts counts;  // the whole batch
  std::vector<domain::Call> calls;
};

struct BatchListRequest {
  std::string user_id;
  int64_t page = 1;    // >= 1
  int64_t limit = 10;  // 1..kMaxListLimit
  std::string search;  // over name and status; "" = none
};

struct BatchList {
  std::vector<store::BatchListItem> items;  // newest first
  int64_t page = 1;
  int64_t limit = 10;
  int64_t total = 0;
  int64_t total_pages = 0;
};

// A row a lenient upload skipped, as stored with its batch.
using SkippedRow = store::SkippedRow;

class BatchService {
 public:
  static constexpr int64_t kMaxDetailsLimit = 1000;
  static constexpr int64_t kMaxListLimit = 100;
  static constexpr int64_t kMaxPage = 1'000'000'000;

  // `store` and `clock` must outlive the service.
  BatchService(store::Store& store, const core::Clock& clock) : store_(store), clock_(clock) {}

  absl::StatusOr<BatchDetails> GetDetails(const domain::Principal& caller,
                                          const BatchDetailsRequest& request);

  // The batches of `request.user_id`: a member may list only their own (another user's list is
  // NotFound "User not found", as is a user of another organization).
  absl::StatusOr<BatchList> ListBatches(const domain::Principal& caller,
                                        const BatchListRequest& request);

  // Soft delete: the batch is NotFound from then on (the dialler must skip deleted batches).
  absl::Status DeleteBatch(const domain::Principal& caller, std::string_view batch_id);

  // Start (or resume) and stop calling: the batch's status becomes active / paused; doing it
  // twice is not an error. `user_id`, when given, must be a valid ID and the batch's owner
  // (else NotFound). A completed or canceled batch is FailedPrecondition. Returns the batch as
  // it is afterwards.
  absl::StatusOr<domain::Batch> StartCalling(const domain::Principal& caller,
                                             std::string_view batch_id,
                                             const std::optional<std::string>& user_id);
  absl::StatusOr<domain::Batch> StopCalling(const domain::Principal& caller,
                                            std::string_view batch_id,
                                            const std::optional<std::string>& user_id);

  // One page of the export: `begin` gets the batch (for the header), then `row` each of at most
  // `limit` calls (-1: all) whose ID is greater than `after_id` ("" = from the first), in row
  // order, inside one read snapshot; the first error either returns stops the export. A long
  // export asks page after page, so no snapshot or connection is held while the client reads.
  absl::Status ExportCalls(const domain::Principal& caller, std::string_view batch_id,
                           std::string_view after_id, int64_t limit,
                           absl::FunctionRef<absl::Status(const domain::Batch&)> begin,
                           absl::FunctionRef<absl::Status(const domain::Call&)> row);

  // One page of the rows a lenient upload skipped (SkippedRow below): `header` gets the file's
  // header cells, then `row` each of at most `limit` skipped rows (-1: all) numbered above
  // `after_row` (0: from the first), in row order (same visibility and errors as ExportCalls).
  absl::Status ExportSkippedRows(
      const domain::Principal& caller, std::string_view batch_id, int64_t after_row, int64_t limit,
      absl::FunctionRef<absl::Status(std::span<const std::string>)> header,
      absl::FunctionRef<absl::Status(const SkippedRow&)> row);

 private:
  // The batch `batch_id` as `caller` may see it (InvalidArgument / NotFound as above).
  absl::StatusOr<domain::Batch> VisibleBatch(const domain::Principal& caller,
                                             std::string_view batch_id);
  absl::StatusOr<domain::Batch> SetCalling(const domain::Principal& caller,
                                           std::string_view batch_id,
                                           const std::optional<std::string>& user_id, bool start);

  store::Store& store_;
  const core::Clock& clock_;
};

}  // namespace nexus::service
