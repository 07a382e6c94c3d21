#include "service/batch_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "core/crypto.h"
#include "core/object_id.h"
#include "service/service_test_support.h"

namespace nexus::service {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Three calls: Ann (Paris, the file's phone column spelled as E.164), Bob (London), Cy (no city).
constexpr const char* kPhones[] = {"+12125550100", "+12125550101", "+14155550102"};
constexpr const char* kVariables[] = {R"({"name":"Ann","city":"Paris","attempts":"7"})",
                                      R"({"name":"Bob","city":"London"})", R"({"name":"Cy"})"};

BatchDetailsRequest Details(std::string batch_id,
                            const std::function<void(BatchDetailsRequest&)>& edit = nullptr) {
  BatchDetailsRequest request;
  request.batch_id = std::move(batch_id);
  if (edit) edit(request);
  return request;
}

BatchListRequest Listing(std::string user_id,
                         const std::function<void(BatchListRequest&)>& edit = nullptr) {
  BatchListRequest request;
  request.user_id = std::move(user_id);
  if (edit) edit(request);
  return request;
}

class BatchServiceTest : public testing::Test {
 protected:
  void SetUp() override {
    ws_ = TestWorkspace::Make();
    ASSERT_NE(ws_, nullptr);
    member_.user = domain::User{.id = core::NewObjectId(ws_->clock.Now()),
                                .organization_id = ws_->init.organization.id,
                                .email = "member@example.com",
                                .name = "Member",
                                .role = domain::Role::kMember,
                                .created_at = ws_->clock.Now()};
    ASSERT_TRUE(ws_->store->InsertUser(member_.user).ok());
    service_ = std::make_unique<BatchService>(*ws_->store, ws_->clock);
  }

  // A batch of three calls owned by `owner`.
  std::string AddBatch(const std::string& owner, const std::string& name = "Spring",
                       domain::BatchStatus status = domain::BatchStatus::kActive) {
    domain::Batch batch;
    batch.id = core::NewObjectId(ws_->clock.Now());
    batch.organization_id = ws_->init.organization.id;
    batch.user_id = owner;
    batch.agent_id = ws_->init.agent->id;
    batch.call_id_prefix = batch.id.substr(0, 8) + core::HexEncode(core::RandomBytes(5));
    batch.settings.name = name;
    batch.settings.calling_number_ids = {ws_->init.phone_number->id};
    batch.settings.timezone = "UTC";
    batch.settings.default_country = "US";
    batch.status = status;
    batch.variable_keys = {"name", "city", "attempts"};
    batch.created_at = batch.updated_at = ws_->clock.Now();
    std::vector<store::NewCall> calls;
    for (int i = 0; i < 3; ++i) calls.push_back({kPhones[i], "", kVariables[i]});
    EXPECT_TRUE(ws_->store->InsertBatch(batch, calls, {}, nullptr).ok());
    ws_->clock.Advance(absl::Seconds(1));
    return batch.id;
  }

  // The phone numbers of the calls `request` answers.
  std::vector<std::string> Phones(const BatchDetailsRequest& request) {
    auto details = service_->GetDetails(ws_->Admin(), request);
    EXPECT_TRUE(details.ok()) << details.status();
    std::vector<std::string> phones;
    if (details.ok()) {
      for (const auto& call : details->calls) phones.push_back(call.phone);
    }
    return phones;
  }

  std::unique_ptr<TestWorkspace> ws_;
  std::unique_ptr<BatchService> service_;
  domain::Principal member_;
};

TEST_F(BatchServiceTest, DetailsResolveFilterSortAndPaging) {
  const std::string id = AddBatch(ws_->Admin().user.id);
  const BatchDetailsRequest request = Details(id);
  auto details = service_->GetDetails(ws_->Admin(), request);
  ASSERT_TRUE(details.ok()) << details.status();
  EXPECT_EQ(details->batch.id, id);
  EXPECT_EQ(details->total, 3);
  EXPECT_EQ(details->total_pages, 1);
  EXPECT_EQ(details->counts.Of(domain::CallStatus::kQueued), 3);
  EXPECT_EQ(details->calls.size(), 3u);

  // Any spelling of a phone number filters on its E.164 form.
  EXPECT_THAT(Phones(Details(id,
                             [&](auto& r) {
                               r.filter = {{"phoneNumber", "(212) 555-0101"}};
                             })),
              ElementsAre("+12125550101"));
  EXPECT_THAT(Phones(Details(id,
                             [&](auto& r) {
                               r.filter = {{"city", "Paris"}};
                             })),
              ElementsAre(kPhones[0]));
  EXPECT_THAT(Phones(Details(id,
                             [&](auto& r) {
                               r.filter = {{"city", std::nullopt}};
                             })),
              ElementsAre(kPhones[2]));
  EXPECT_THAT(Phones(Details(id,
                             [&](auto& r) {
                               r.filter = {{"callStatus", "queued"}, {"name", "Bob"}};
                             })),
              ElementsAre(kPhones[1]));
  // "attempts" is built in for sortBy; the variable of that name is "variables.attempts".
  EXPECT_THAT(Phones(Details(id,
                             [&](auto& r) {
                               r.filter = {{"variables.attempts", "7"}};
                             })),
              ElementsAre(kPhones[0]));
  EXPECT_THAT(Phones(Details(id,
                             [&](auto& r) {
                               r.filter = {{"attempts", "7"}};
                             })),
              ElementsAre(kPhones[0]));
  EXPECT_THAT(Phones(Details(id,
                             [&](auto& r) {
                               r.sort_by = "name";
                               r.descending = false;
                             })),
              ElementsAre(kPhones[0], kPhones[1], kPhones[2]));
  EXPECT_THAT(Phones(Details(id, [&](auto& r) { r.sort_by = "phoneNumber"; })),
              ElementsAre(kPhones[2], kPhones[1], kPhones[0]));
  EXPECT_THAT(Phones(Details(id, [&](auto& r) { r.search = "  PARIS "; })),
              ElementsAre(kPhones[0]));
  auto paged = service_->GetDetails(ws_->Admin(), Details(id, [&](auto& r) {
                                      r.page = 2;
                                      r.limit = 2;
                                    }));
  ASSERT_TRUE(paged.ok());
  EXPECT_EQ(paged->total_pages, 2);
  ASSERT_EQ(paged->calls.size(), 1u);
  EXPECT_EQ(paged->calls[0].phone, kPhones[0]);  // newest first: row 0 is last
  auto past = service_->GetDetails(ws_->Admin(), Details(id, [&](auto& r) { r.page = 9; }));
  ASSERT_TRUE(past.ok());
  EXPECT_TRUE(past->calls.empty());
  EXPECT_EQ(past->total, 3);
  auto none =
      service_->GetDetails(ws_->Admin(), Details(id, [&](auto& r) { r.search = "nobody"; }));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->total_pages, 0);
}

TEST_F(BatchServiceTest, BadRequestsAreInvalidArgumentNamingTheParameter) {
  const std::string id = AddBatch(ws_->Admin().user.id);
  const auto error = [&](BatchDetailsRequest request) {
    return service_->GetDetails(ws_->Admin(), request).status();
  };
  EXPECT_THAT(std::string(error(Details("123")).message()), "Invalid batch ID format");
  EXPECT_THAT(std::string(error(Details(id, [&](auto& r) { r.page = 0; })).message()),
              HasSubstr("page"));
  EXPECT_THAT(std::string(error(Details(id, [&](auto& r) { r.limit = 1001; })).message()),
              HasSubstr("limit"));
  EXPECT_THAT(std::string(error(Details(id, [&](auto& r) { r.limit = 0; })).message()),
              HasSubstr("limit"));
  EXPECT_THAT(std::string(error(Details(id,
                                        [&](auto& r) {
                                          r.filter = {{"nope", "x"}};
                                        }))
                              .message()),
              HasSubstr("filter key \"nope\""));
  EXPECT_THAT(std::string(error(Details(id,
                                        [&](auto& r) {
                                          r.filter = {{"callStatus", "done"}};
                                        }))
                              .message()),
              HasSubstr("filter.callStatus must be one of queued"));
  EXPECT_THAT(std::string(error(Details(id,
                                        [&](auto& r) {
                                          r.filter = {{"callStatus", std::nullopt}};
                                        }))
                              .message()),
              HasSubstr("filter.callStatus"));
  EXPECT_THAT(std::string(error(Details(id,
                                        [&](auto& r) {
                                          r.filter = {{"phoneNumber", std::nullopt}};
                                        }))
                              .message()),
              HasSubstr("filter.phoneNumber"));
  EXPECT_THAT(std::string(error(Details(id, [&](auto& r) { r.sort_by = "_id"; })).message()),
              HasSubstr("sortBy \"_id\""));
  EXPECT_THAT(
      std::string(error(Details(id, [&](auto& r) { r.sort_by = "variables.nope"; })).message()),
      HasSubstr("sortBy"));
  for (const auto& status :
       {error(Details("123")), error(Details(id, [&](auto& r) { r.page = 0; })),
        error(Details(id, [&](auto& r) { r.sort_by = "_id"; }))}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  }
  // An uppercase ID is the same batch.
  std::string upper = id;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(service_->GetDetails(ws_->Admin(), Details(upper)).ok());
}

TEST_F(BatchServiceTest, MembersSeeOnlyTheirOwnBatches) {
  const std::string admins = AddBatch(ws_->Admin().user.id);
  const std::string members = AddBatch(member_.user.id);
  EXPECT_TRUE(service_->GetDetails(member_, Details(members)).ok());
  EXPECT_TRUE(service_->GetDetails(ws_->Admin(), Details(members)).ok());
  const absl::Status hidden = service_->GetDetails(member_, Details(admins)).status();
  EXPECT_EQ(hidden.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(hidden.message(), "Batch not found");
  EXPECT_EQ(service_->DeleteBatch(member_, admins).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(service_->StopCalling(member_, admins, std::nullopt).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(service_->ListBatches(member_, Listing(ws_->Admin().user.id)).status().code(),
            absl::StatusCode::kNotFound);
  auto own = service_->ListBatches(member_, Listing(member_.user.id));
  ASSERT_TRUE(own.ok()) << own.status();
  ASSERT_EQ(own->items.size(), 1u);
  EXPECT_EQ(own->items[0].batch.id, members);
  auto as_admin = service_->ListBatches(ws_->Admin(), Listing(member_.user.id));
  ASSERT_TRUE(as_admin.ok());
  EXPECT_EQ(as_admin->total, 1);
}

TEST_F(BatchServiceTest, BatchListPagesNewestFirstAndValidatesTheUser) {
  const std::string admin_id = ws_->Admin().user.id;
  const std::string first = AddBatch(admin_id, "First");
  const std::string second = AddBatch(admin_id, "Second");
  auto list = service_->ListBatches(ws_->Admin(), Listing(admin_id, [&](auto& r) { r.limit = 1; }));
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->total, 2);
  EXPECT_EQ(list->total_pages, 2);
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(list->items[0].batch.id, second);
  list =
      service_->ListBatches(ws_->Admin(), Listing(admin_id, [&](auto& r) { r.search = "FIRST"; }));
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(list->items[0].batch.id, first);
  EXPECT_EQ(service_->ListBatches(ws_->Admin(), Listing("x")).status().message(),
            "Invalid User ID format");
  EXPECT_EQ(service_->ListBatches(ws_->Admin(), Listing(core::NewObjectId(ws_->clock.Now())))
                .status()
                .message(),
            "User not found");
  EXPECT_EQ(service_->ListBatches(ws_->Admin(), Listing(admin_id, [&](auto& r) { r.limit = 101; }))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  auto empty = service_->ListBatches(ws_->Admin(), Listing(member_.user.id));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->total_pages, 0);
}

TEST_F(BatchServiceTest, StartAndStopFlipTheStatusAndRefuseFinishedBatches) {
  const std::string id = AddBatch(ws_->Admin().user.id);
  auto stopped = service_->StopCalling(ws_->Admin(), id, std::nullopt);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->status, domain::BatchStatus::kPaused);
  EXPECT_TRUE(service_->StopCalling(ws_->Admin(), id, std::nullopt).ok());  // again: no change
  EXPECT_EQ(ws_->store->GetBatch(ws_->init.organization.id, id)->status,
            domain::BatchStatus::kPaused);
  auto started = service_->StartCalling(ws_->Admin(), id, ws_->Admin().user.id);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->status, domain::BatchStatus::kActive);
  // userId must be the owner.
  EXPECT_EQ(service_->StartCalling(ws_->Admin(), id, member_.user.id).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(service_->StartCalling(ws_->Admin(), id, std::string("zz")).status().message(),
            "Invalid User ID format");
  const std::string done = AddBatch(ws_->Admin().user.id, "Done", domain::BatchStatus::kCompleted);
  const absl::Status refused = service_->StartCalling(ws_->Admin(), done, std::nullopt).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("completed"));
}

TEST_F(BatchServiceTest, DeletedBatchIsNotFoundEverywhere) {
  const std::string id = AddBatch(ws_->Admin().user.id);
  ASSERT_TRUE(service_->DeleteBatch(ws_->Admin(), id).ok());
  EXPECT_EQ(service_->GetDetails(ws_->Admin(), Details(id)).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(service_->DeleteBatch(ws_->Admin(), id).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(service_->StartCalling(ws_->Admin(), id, std::nullopt).status().code(),
            absl::StatusCode::kNotFound);
  auto list = service_->ListBatches(ws_->Admin(), Listing(ws_->Admin().user.id));
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->total, 0);
}

TEST_F(BatchServiceTest, ExportGivesTheBatchThenEveryCallInRowOrder) {
  const std::string id = AddBatch(ws_->Admin().user.id);
  std::vector<std::string> seen;
  const absl::Status status = service_->ExportCalls(
      ws_->Admin(), id, "", -1,
      [&](const domain::Batch& batch) {
        seen.push_back("batch " + batch.id);
        return absl::OkStatus();
      },
      [&](const domain::Call& call) {
        seen.push_back(call.phone);
        return absl::OkStatus();
      });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(seen, ElementsAre("batch " + id, kPhones[0], kPhones[1], kPhones[2]));

  // Page by page: at most `limit` calls after the last one seen.
  std::vector<std::string> pages;
  std::string after;
  for (int page = 0; page < 3; ++page) {
    std::string last;
    ASSERT_TRUE(service_
                    ->ExportCalls(
                        ws_->Admin(), id, after, 2,
                        [](const domain::Batch&) { return absl::OkStatus(); },
                        [&](const domain::Call& call) {
                          pages.push_back(std::to_string(page) + " " + call.phone);
                          last = call.id;
                          return absl::OkStatus();
                        })
                    .ok());
    if (last.empty()) break;
    after = last;
  }
  EXPECT_THAT(pages, ElementsAre("0 " + std::string(kPhones[0]), "0 " + std::string(kPhones[1]),
                                 "1 " + std::string(kPhones[2])));

  EXPECT_EQ(service_
                ->ExportCalls(
                    member_, id, "", -1, [](const domain::Batch&) { return absl::OkStatus(); },
                    [](const domain::Call&) { return absl::OkStatus(); })
                .code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace nexus::service
