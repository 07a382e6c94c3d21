#include "service/batch_service.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "core/object_id.h"
#include "core/status.h"
#include "domain/phone.h"

namespace nexus::service {
namespace {

using SortKey = store::CallQuery::SortKey;

constexpr std::string_view kVariablesPrefix = "variables.";

// `id` lowercased, or InvalidArgument("Invalid <what> ID format").
absl::StatusOr<std::string> ParseId(std::string_view id, std::string_view what) {
  if (!core::IsObjectId(id))
    return absl::InvalidArgumentError(fmt::format("Invalid {} ID format", what));
  return absl::AsciiStrToLower(absl::string_view(id.data(), id.size()));
}

absl::Status BatchNotFound() { return absl::NotFoundError("Batch not found"); }

int64_t TotalPages(int64_t total, int64_t limit) {
  return limit > 0 ? (total + limit - 1) / limit : 0;
}

absl::Status CheckPaging(int64_t page, int64_t limit, int64_t max_limit) {
  if (page < 1 || page > BatchService::kMaxPage) {
    return absl::InvalidArgumentError(
        fmt::format("page must be an integer 1..{}", BatchService::kMaxPage));
  }
  if (limit < 1 || limit > max_limit) {
    return absl::InvalidArgumentError(fmt::format("limit must be an integer 1..{}", max_limit));
  }
  return absl::OkStatus();
}

// The variable of `batch` that `name` refers to: one of its keys, or "variables.<key>".
std::optional<std::string> VariableKey(const domain::Batch& batch, std::string_view name) {
  const auto known = [&batch](std::string_view key) {
    return std::find(batch.variable_keys.begin(), batch.variable_keys.end(), key) !=
           batch.variable_keys.end();
  };
  if (known(name)) return std::string(name);
  if (name.starts_with(kVariablesPrefix) && known(name.substr(kVariablesPrefix.size()))) {
    return std::string(name.substr(kVariablesPrefix.size()));
  }
  return std::nullopt;
}

std::string StatusList() {
  std::string names;
  for (domain::CallStatus status : domain::kAllCallStatuses) {
    if (!names.empty()) names += ", ";
    names += domain::CallStatusName(status);
  }
  return names;
}

// The store query for `request` on `batch`.
absl::StatusOr<store::CallQuery> BuildQuery(const domain::Batch& batch,
                                            const BatchDetailsRequest& request) {
  store::CallQuery query;
  for (const CallFilter& condition : request.filter) {
    const std::string& key = condition.key;
    if (key == "callStatus") {
      const std::optional<domain::CallStatus> status =
          condition.value ? domain::ParseCallStatus(*condition.value) : std::nullopt;
      if (!status) {
        return absl::InvalidArgumentError(
            fmt::format("filter.callStatus must be one of {}", StatusList()));
      }
      query.status = status;
    } else if (key == "phoneNumber") {
      if (!condition.value) {
        return absl::InvalidArgumentError("filter.phoneNumber must be a phone number");
      }
      // Any spelling of a valid number finds its E.164 form; anything else matches as written.
      auto e164 = domain::NormalizePhoneNumber(*condition.value, batch.settings.default_country);
      query.phone = e164.ok() ? *std::move(e164) : *condition.value;
    } else if (std::optional<std::string> variable = VariableKey(batch, key)) {
      if (query.variables.size() == store::CallQuery::kMaxVariableConditions) {
        return absl::InvalidArgumentError(
            fmt::format("filter may hold at most {} variable conditions",
                        store::CallQuery::kMaxVariableConditions));
      }
      query.variables.push_back({*std::move(variable), condition.value});
    } else {
      return absl::InvalidArgumentError(fmt::format(
          "filter key \"{}\" is not callStatus, phoneNumber or a variable of this batch", key));
    }
  }

  const std::string_view sort_by = request.sort_by;
  if (sort_by.empty() || sort_by == "createdAt") {
    query.sort_key = SortKey::kCreatedAt;
  } else if (sort_by == "updatedAt") {
    query.sort_key = SortKey::kUpdatedAt;
  } else if (sort_by == "phoneNumber") {
    query.sort_key = SortKey::kPhone;
  } else if (sort_by == "callStatus") {
    query.sort_key = SortKey::kStatus;
  } else if (sort_by == "attempts") {
    query.sort_key = SortKey::kAttempts;
  } else if (std::optional<std::string> variable = VariableKey(batch, sort_by)) {
    query.sort_key = SortKey::kVariable;
    query.sort_variable = *std::move(variable);
  } else {
    return absl::InvalidArgumentError(fmt::format(
        "sortBy \"{}\" is not createdAt, updatedAt, phoneNumber, callStatus, attempts or a "
        "variable of this batch",
        sort_by));
  }
  query.descending = request.descending;
  query.search = std::string(absl::StripAsciiWhitespace(request.search));
  query.limit = request.limit;
  query.offset = (request.page - 1) * request.limit;
  return query;
}

}  // namespace

absl::StatusOr<domain::Batch> BatchService::VisibleBatch(const domain::Principal& caller,
                                                         std::string_view batch_id) {
  NEXUS_ASSIGN_OR_RETURN(const std::string id, ParseId(batch_id, "batch"));
  absl::StatusOr<domain::Batch> batch = store_.GetBatch(caller.user.organization_id, id);
  if (absl::IsNotFound(batch.status())) return BatchNotFound();
  NEXUS_RETURN_IF_ERROR(batch.status());
  if (!caller.IsAdmin() && batch->user_id != caller.user.id) return BatchNotFound();
  return batch;
}

absl::StatusOr<BatchDetails> BatchService::GetDetails(const domain::Principal& caller,
                                                      const BatchDetailsRequest& request) {
  NEXUS_ASSIGN_OR_RETURN(domain::Batch batch, VisibleBatch(caller, request.batch_id));
  NEXUS_RETURN_IF_ERROR(CheckPaging(request.page, request.limit, kMaxDetailsLimit));
  NEXUS_ASSIGN_OR_RETURN(const store::CallQuery query, BuildQuery(batch, request));
  absl::StatusOr<store::CallPage> page =
      store_.ListCalls(caller.user.organization_id, batch.id, query);
  if (absl::IsNotFound(page.status())) return BatchNotFound();  // deleted meanwhile
  NEXUS_RETURN_IF_ERROR(page.status());
  BatchDetails details;
  details.batch = std::move(batch);
  details.page = request.page;
  details.limit = request.limit;
  details.total = page->total;
  details.total_pages = TotalPages(page->total, request.limit);
  details.counts = page->counts;
  details.calls = std::move(page->calls);
  return details;
}

absl::StatusOr<BatchList> BatchService::ListBatches(const domain::Principal& caller,
                                                    const BatchListRequest& request) {
  NEXUS_ASSIGN_OR_RETURN(const std::string user_id, ParseId(request.user_id, "User"));
  NEXUS_RETURN_IF_ERROR(CheckPaging(request.page, request.limit, kMaxListLimit));
  const std::string& org_id = caller.user.organization_id;
  if (!caller.IsAdmin() && user_id != caller.user.id) {
    return absl::NotFoundError("User not found");
  }
  if (auto user = store_.GetUser(org_id, user_id); !user.ok()) {
    if (absl::IsNotFound(user.status())) return absl::NotFoundError("User not found");
    return user.status();
  }
  const std::string search(absl::StripAsciiWhitespace(request.search));
  NEXUS_ASSIGN_OR_RETURN(store::BatchListPage listed,
                         store_.ListBatches(org_id, user_id, search,
                                            (request.page - 1) * request.limit, request.limit));
  BatchList list;
  list.items = std::move(listed.items);
  list.page = request.page;
  list.limit = request.limit;
  list.total = listed.total;
  list.total_pages = TotalPages(listed.total, request.limit);
  return list;
}

absl::Status BatchService::DeleteBatch(const domain::Principal& caller, std::string_view batch_id) {
  NEXUS_ASSIGN_OR_RETURN(const domain::Batch batch, VisibleBatch(caller, batch_id));
  const absl::Status deleted =
      store_.DeleteBatch(caller.user.organization_id, batch.id, clock_.Now());
  if (absl::IsNotFound(deleted)) return BatchNotFound();  // deleted meanwhile
  return deleted;
}

absl::StatusOr<domain::Batch> BatchService::StartCalling(
    const domain::Principal& caller, std::string_view batch_id,
    const std::optional<std::string>& user_id) {
  return SetCalling(caller, batch_id, user_id, /*start=*/true);
}

absl::StatusOr<domain::Batch> BatchService::StopCalling(const domain::Principal& caller,
                                                        std::string_view batch_id,
                                                        const std::optional<std::string>& user_id) {
  return SetCalling(caller, batch_id, user_id, /*start=*/false);
}

absl::StatusOr<domain::Batch> BatchService::SetCalling(const domain::Principal& caller,
                                                       std::string_view batch_id,
                                                       const std::optional<std::string>& user_id,
                                                       bool start) {
  using domain::BatchStatus;
  NEXUS_ASSIGN_OR_RETURN(const std::string id, ParseId(batch_id, "batch"));
  std::optional<std::string> owner;
  if (user_id) {
    NEXUS_ASSIGN_OR_RETURN(owner, ParseId(*user_id, "User"));
  }
  const BatchStatus wanted = start ? BatchStatus::kActive : BatchStatus::kPaused;
  const BatchStatus other = start ? BatchStatus::kPaused : BatchStatus::kActive;
  // Compare-and-set, re-read when the dialler or another request changed the status meanwhile.
  for (int attempt = 0;; ++attempt) {
    NEXUS_ASSIGN_OR_RETURN(domain::Batch batch, VisibleBatch(caller, id));
    if (owner && *owner != batch.user_id) return BatchNotFound();
    if (batch.status == wanted) return batch;
    if (batch.status != other) {
      return absl::FailedPreconditionError(fmt::format("the batch is {}; it can no longer be {}",
                                                       domain::BatchStatusName(batch.status),
                                                       start ? "started" : "stopped"));
    }
    const absl::Time now = clock_.Now();
    const absl::Status set =
        store_.UpdateBatchStatus(caller.user.organization_id, batch.id, other, wanted, now);
    if (set.ok()) {
      batch.status = wanted;
      batch.updated_at = now;
      return batch;
    }
    if (absl::IsNotFound(set)) return BatchNotFound();
    if (!absl::IsFailedPrecondition(set) || attempt == 2) return set;
  }
}

absl::Status BatchService::ExportCalls(const domain::Principal& caller, std::string_view batch_id,
                                       std::string_view after_id, int64_t limit,
                                       absl::FunctionRef<absl::Status(const domain::Batch&)> begin,
                                       absl::FunctionRef<absl::Status(const domain::Call&)> row) {
  NEXUS_ASSIGN_OR_RETURN(const domain::Batch batch, VisibleBatch(caller, batch_id));
  NEXUS_RETURN_IF_ERROR(begin(batch));
  const absl::Status status =
      store_.ForEachCallAfter(caller.user.organization_id, batch.id, after_id, limit, row);
  if (absl::IsNotFound(status)) return BatchNotFound();
  return status;
}

absl::Status BatchService::ExportSkippedRows(
    const domain::Principal& caller, std::string_view batch_id, int64_t after_row, int64_t limit,
    absl::FunctionRef<absl::Status(std::span<const std::string>)> header,
    absl::FunctionRef<absl::Status(const SkippedRow&)> row) {
  NEXUS_ASSIGN_OR_RETURN(const domain::Batch batch, VisibleBatch(caller, batch_id));
  const absl::Status status = store_.ForEachSkippedRow(caller.user.organization_id, batch.id,
                                                       after_row, limit, header, row);
  if (absl::IsNotFound(status)) return BatchNotFound();
  return status;
}

}  // namespace nexus::service
