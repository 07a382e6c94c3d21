// batch_query_bench: the cost of the batch-details queries (SPEC §5) on a large batch, and what
// their schema costs the upload's insert. It creates a SQLite store in a fresh directory, inserts
// one batch of N generated calls through Store::InsertBatch (timed), marks a few of them failed /
// completed the way the dialler will (and recounts the batch's counters), then times ListCalls
// for the views an operator uses, each the median of R runs after one warm-up.
//
//   batch_query_bench [--calls N] [--runs R] [--dir DIR] [--drop-status-index] [--no-call-index]
//
// --drop-status-index drops calls_by_status before the insert, to measure what that index costs
// the upload and what it saves the status-filtered views. --no-call-index answers every view
// with SQL (no in-memory call index, store/call_index.h); by default the first view that needs
// the index builds it (timed and printed apart). Results: docs/architecture.md
// ("Batch queries"). Deterministic data (splitmix64): names from 40 x 40 lists, 12 cities,
// account IDs, short notes; phone numbers +1212... unique.
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "bench/sample_names.h"
#include "core/json_escape.h"
#include "fmt/format.h"
#include "store/search_text.h"
#include "store/store.h"

namespace nexus::bench {
namespace {

using Clock = std::chrono::steady_clock;

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return Next() % n; }

 private:
  uint64_t state_;
};

// batch_call_counts recounted from the calls (what a bulk change of calls does), at change 1.
constexpr char kRecountSql[] =
    "REPLACE INTO batch_call_counts (batch_id, queued, in_progress, completed, failed, "
    "no_answer, busy, dnc, canceled, picked, finished, change_seq) "
    "SELECT batch_id, SUM(status = 'queued'), SUM(status = 'in_progress'), "
    "SUM(status = 'completed'), SUM(status = 'failed'), SUM(status = 'no_answer'), "
    "SUM(status = 'busy'), SUM(status = 'dnc'), SUM(status = 'canceled'), SUM(attempts > 0), "
    "SUM(status IN ('completed', 'dnc', 'canceled') OR (status IN ('failed', 'no_answer', "
    "'busy') AND next_attempt_at IS NULL)), 1 FROM calls GROUP BY batch_id";

double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Options {
  int64_t calls = 1'000'000;
  int runs = 9;
  std::string dir;
  bool drop_status_index = false;
  bool call_index = true;
};

Options ParseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--calls") {
      options.calls = std::stoll(value());
    } else if (arg == "--runs") {
      options.runs = std::stoi(value());
    } else if (arg == "--dir") {
      options.dir = value();
    } else if (arg == "--drop-status-index") {
      options.drop_status_index = true;
    } else if (arg == "--no-call-index") {
      options.call_index = false;
    } else {
      std::fprintf(stderr,
                   "usage: batch_query_bench [--calls N] [--runs R] [--dir DIR] "
                   "[--drop-status-index] [--no-call-index]\n");
      std::exit(2);
    }
  }
  return options;
}

void Check(const absl::Status& status, std::string_view what) {
  if (status.ok()) return;
  std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(what.size()), what.data(),
               std::string(status.message()).c_str());
  std::exit(1);
}

void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK ||
      sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "%s: %s\n", sql.c_str(), sqlite3_errmsg(db));
    std::exit(1);
  }
  sqlite3_close(db);
}

}  // namespace

int Main(int argc, char** argv) {
  const Options options = ParseOptions(argc, argv);
  std::string dir = options.dir;
  if (dir.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "batch-bench-XXXXXX").string();
    dir = mkdtemp(pattern.data());
  }
  const std::string path = dir + "/nexus.db";
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");

  store::StoreOptions store_options;
  store_options.call_index_warm = false;  // the first indexed view builds it
  store_options.call_index_max_bytes = options.call_index ? size_t{1} << 30 : 0;
  auto opened = store::OpenStore("sqlite://" + path, store_options);
  Check(opened.status(), "open");
  store::Store& store = **opened;
  const absl::Time now = absl::FromUnixSeconds(1'747'317'600);
  store::NewWorkspace workspace;
  workspace.organization = {.id = "org-1",
                            .name = "Bench",
                            .timezone = "UTC",
                            .default_country = "US",
                            .legal_window = std::nullopt,
                            .created_at = now};
  workspace.admin = {.id = "user-1",
                     .organization_id = "org-1",
                     .email = "a@bench.test",
                     .name = "Admin",
                     .role = domain::Role::kAdmin,
                     .created_at = now};
  workspace.admin_token = {.id = "cred-1",
                           .organization_id = "org-1",
                           .user_id = "user-1",
                           .kind = domain::CredentialKind::kToken,
                           .name = "",
                           .secret_hash = "hash-1",
                           .created_at = now,
                           .revoked_at = std::nullopt};
  Check(store.CreateWorkspace(workspace), "workspace");
  if (options.drop_status_index) RawExec(path, "DROP INDEX calls_by_status");

  // --- generate ----------------------------------------------------------------------------
  Rng rng(20240601);
  std::vector<std::string> phones, variables;
  phones.reserve(options.calls);
  variables.reserve(options.calls);
  size_t bytes = 0;
  for (int64_t i = 0; i < options.calls; ++i) {
    phones.push_back(fmt::format("+1212{:07d}", i));
    std::string json = "{\"name\":";
    core::AppendJsonString(json,
                           fmt::format("{} {}", kFirstNames[rng.Below(std::size(kFirstNames))],
                                       kLastNames[rng.Below(std::size(kLastNames))]));
    json += fmt::format(",\"account_id\":\"ACC-{:07d}\",\"city\":", rng.Below(10'000'000));
    core::AppendJsonString(json, kCities[rng.Below(std::size(kCities))]);
    json += fmt::format(",\"notes\":\"prefers calls after {} pm\"}}", 1 + rng.Below(8));
    bytes += json.size();
    variables.push_back(std::move(json));
  }
  std::vector<store::NewCall> calls;
  calls.reserve(options.calls);
  for (int64_t i = 0; i < options.calls; ++i) calls.push_back({phones[i], "", variables[i]});
  std::printf("calls: %lld, variables JSON %.1f bytes/call\n",
              static_cast<long long>(options.calls), static_cast<double>(bytes) / options.calls);

  // What building every search text costs (what storing it would add to the insert's CPU).
  {
    const auto start = Clock::now();
    size_t total = 0;
    for (int64_t i = 0; i < options.calls; ++i) {
      total += store::CallSearchText(phones[i], variables[i]).size();
    }
    std::printf("CallSearchText for every call: %.0f ms (%.1f bytes/call)\n",
                Millis(Clock::now() - start), static_cast<double>(total) / options.calls);
  }

  // --- insert ------------------------------------------------------------------------------
  domain::Batch batch;
  batch.id = "6644556600aabbccdd000001";
  batch.organization_id = "org-1";
  batch.user_id = "user-1";
  batch.agent_id = "agent-1";
  batch.call_id_prefix = "6644556600aabbccdd";
  batch.settings.name = "Bench";
  batch.settings.calling_number_ids = {"phone-1"};
  batch.settings.timezone = "UTC";
  batch.settings.default_country = "US";
  batch.variable_keys = {"name", "account_id", "city", "notes"};
  batch.created_at = batch.updated_at = now;
  {
    const auto start = Clock::now();
    Check(store.InsertBatch(batch, calls, {}, nullptr), "insert");
    std::printf("InsertBatch: %.0f ms (%s calls_by_status)\n", Millis(Clock::now() - start),
                options.drop_status_index ? "without" : "with");
  }
  std::printf("database: %.1f MB\n",
              static_cast<double>(std::filesystem::file_size(path) +
                                  (std::filesystem::exists(path + "-wal")
                                       ? std::filesystem::file_size(path + "-wal")
                                       : 0)) /
                  1e6);
  // The first view that needs the call index builds it; the first one after the calls change
  // catches up with them.
  const auto timed_search = [&](const char* what) {
    if (!options.call_index) return;
    store::CallQuery query;
    query.search = "emily";
    const auto start = Clock::now();
    Check(store.ListCalls("org-1", batch.id, query).status(), what);
    std::printf("%s: %.0f ms\n", what, Millis(Clock::now() - start));
  };
  timed_search("first view needing the call index (builds it)");
  // What the dialler will have done: 1 % failed, 10 % completed, with the counters recounted.
  {
    const auto start = Clock::now();
    RawExec(path,
            "UPDATE calls SET status = CASE WHEN seq % 100 = 7 THEN 'failed' ELSE 'completed' END, "
            "attempts = 1, change_seq = 1 WHERE seq % 100 = 7 OR seq % 10 = 3");
    std::printf("marking 11%% of the calls finished: %.0f ms\n", Millis(Clock::now() - start));
    const auto recount = Clock::now();
    RawExec(path, kRecountSql);
    std::printf("recounting the batch's counters: %.0f ms\n", Millis(Clock::now() - recount));
  }
  timed_search("next view (catches up with the 110k changed calls)");

  // --- queries -----------------------------------------------------------------------------
  using SortKey = store::CallQuery::SortKey;
  struct View {
    std::string name;
    std::function<void(store::CallQuery&)> edit;
  };
  const std::vector<View> views = {
      {"default (page 1, createdAt desc)", nullptr},
      {"default, page 1000 (offset 9990)", [](auto& q) { q.offset = 9'990; }},
      {"filter callStatus=failed (1%)", [](auto& q) { q.status = domain::CallStatus::kFailed; }},
      {"filter callStatus=queued (89%)", [](auto& q) { q.status = domain::CallStatus::kQueued; }},
      {"search \"emily davis\" (0.06%)", [](auto& q) { q.search = "emily davis"; }},
      {"search \"paris\" (8%)", [](auto& q) { q.search = "PARIS"; }},
      {"search \"zz\" (no match)", [](auto& q) { q.search = "zz"; }},
      {"search \"e\" (most calls)", [](auto& q) { q.search = "e"; }},
      {"search \"são\" (non-ASCII)", [](auto& q) { q.search = "SÃO"; }},
      {"filter failed + search \"emily\"",
       [](auto& q) { q.status = domain::CallStatus::kFailed, q.search = "emily"; }},
      {"filter queued + search \"emily\"",
       [](auto& q) { q.status = domain::CallStatus::kQueued, q.search = "emily"; }},
      {"filter city=Paris + search \"emily\"",
       [](auto& q) {
         q.variables = {{"city", "Paris"}}, q.search = "emily";
       }},
      {"filter city=Paris + queued + search \"emily\"",
       [](auto& q) {
         q.variables = {{"city", "Paris"}}, q.status = domain::CallStatus::kQueued,
         q.search = "emily";
       }},
      {"filter phoneNumber", [](auto& q) { q.phone = "+12120500000"; }},
      {"sortBy callStatus asc",
       [](auto& q) { q.sort_key = SortKey::kStatus, q.descending = false; }},
      {"sortBy phoneNumber asc",
       [](auto& q) { q.sort_key = SortKey::kPhone, q.descending = false; }},
      {"sortBy name (variable)",
       [](auto& q) { q.sort_key = SortKey::kVariable, q.sort_variable = "name"; }},
      {"failed, sortBy updatedAt",
       [](auto& q) { q.status = domain::CallStatus::kFailed, q.sort_key = SortKey::kUpdatedAt; }},
  };
  std::printf("\n%-44s %10s %10s %10s\n", "ListCalls view (limit 10)", "median ms", "min ms",
              "total");
  for (const View& view : views) {
    store::CallQuery query;
    if (view.edit) view.edit(query);
    std::vector<double> times;
    int64_t total = 0;
    for (int run = 0; run <= options.runs; ++run) {
      const auto start = Clock::now();
      auto page = store.ListCalls("org-1", batch.id, query);
      const double ms = Millis(Clock::now() - start);
      if (!page.ok()) break;  // a view that needs the dropped calls_by_status
      total = page->total;
      if (run > 0) times.push_back(ms);  // run 0 warms the page cache
    }
    if (times.empty()) {
      std::printf("%-44s %10s\n", view.name.c_str(), "n/a (needs calls_by_status)");
      continue;
    }
    std::sort(times.begin(), times.end());
    std::printf("%-44s %10.2f %10.2f %10lld\n", view.name.c_str(), times[times.size() / 2],
                times.front(), static_cast<long long>(total));
  }
  {
    const auto start = Clock::now();
    int64_t rows = 0;
    Check(store.ForEachCall("org-1", batch.id,
                            [&](const domain::Call&) {
                              ++rows;
                              return absl::OkStatus();
                            }),
          "export");
    std::printf("%-44s %10.0f ms for %lld calls\n", "ForEachCall (export cursor)",
                Millis(Clock::now() - start), static_cast<long long>(rows));
  }
  if (options.dir.empty()) std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace nexus::bench

int main(int argc, char** argv) { return nexus::bench::Main(argc, argv); }
