// call_index_bench: store::CallIndex (store/call_index.h) alone, on 1M generated calls shaped like
// batch_query_bench's (a name from 40 x 40 lists with accents, an account ID, one of 12 cities,
// a short note; 1 % failed, 10 % completed): building the index, and Query() for the views
// batch-details answers from it. Google Benchmark; Release:
//   cmake --build build/release --target call_index_bench && build/release/bench/call_index_bench
// Results: docs/performance.md ("Batch details").
#include <benchmark/benchmark.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench/sample_names.h"
#include "core/json_escape.h"
#include "fmt/format.h"
#include "store/call_index.h"

namespace nexus::bench {
namespace {

constexpr int64_t kCalls = 1'000'000;

uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

struct Calls {
  std::vector<std::string> phones;
  std::vector<std::string> variables;
  std::vector<store::CallIndex::CallState> states;
};

const Calls& GeneratedCalls() {
  static const Calls* calls = [] {
    auto* out = new Calls;
    out->phones.reserve(kCalls);
    out->variables.reserve(kCalls);
    for (int64_t i = 0; i < kCalls; ++i) {
      const uint64_t r = Mix(static_cast<uint64_t>(i));
      out->phones.push_back(fmt::format("+1212{:07d}", i));
      std::string json = "{\"name\":";
      core::AppendJsonString(json,
                             fmt::format("{} {}", kFirstNames[r % 40], kLastNames[(r >> 8) % 40]));
      json += fmt::format(",\"account_id\":\"ACC-{:07d}\",\"city\":", (r >> 16) % 10'000'000);
      core::AppendJsonString(json, kCities[(r >> 40) % 12]);
      json += fmt::format(",\"notes\":\"prefers calls after {} pm\"}}", 1 + (r >> 48) % 8);
      out->variables.push_back(std::move(json));
      const domain::CallStatus status = i % 100 == 7  ? domain::CallStatus::kFailed
                                        : i % 10 == 3 ? domain::CallStatus::kCompleted
                                                      : domain::CallStatus::kQueued;
      out->states.push_back(
          {.status = status,
           .attempts = status == domain::CallStatus::kQueued ? 0 : 1,
           .updated_at_ms = 1'747'317'600'000 + static_cast<int64_t>(r % 86'400'000)});
    }
    return out;
  }();
  return *calls;
}

const std::vector<std::string> kKeys = {"name", "account_id", "city", "notes"};

store::CallIndex Build() {
  const Calls& calls = GeneratedCalls();
  store::CallIndex::Builder builder(kKeys, kCalls);
  for (int64_t i = 0; i < kCalls; ++i) {
    if (!builder.Add(calls.phones[i], calls.variables[i], calls.states[i])) std::abort();
  }
  return std::move(builder).Finish(0);
}

const store::CallIndex& Index() {
  static const store::CallIndex* index = new store::CallIndex(Build());
  return *index;
}

void BM_Build(benchmark::State& state) {
  GeneratedCalls();
  for (auto _ : state) {
    store::CallIndex index = Build();
    benchmark::DoNotOptimize(index.size());
    state.counters["bytes_per_call"] = static_cast<double>(index.memory_bytes()) / kCalls;
  }
  state.SetItemsProcessed(state.iterations() * kCalls);
}
BENCHMARK(BM_Build)->Unit(benchmark::kMillisecond)->Iterations(3);

void RunQuery(benchmark::State& state, const store::CallQuery& query) {
  const store::CallIndex& index = Index();
  int64_t total = 0;
  for (auto _ : state) {
    std::optional<store::CallIndex::Page> page = index.Query(query);
    if (!page) std::abort();
    total = page->total;
    benchmark::DoNotOptimize(page->seqs.data());
  }
  state.counters["total"] = static_cast<double>(total);
}

store::CallQuery Query(std::string search, std::optional<domain::CallStatus> status = std::nullopt,
                       std::vector<store::CallQuery::VariableCondition> variables = {}) {
  store::CallQuery query;
  query.search = std::move(search);
  query.status = status;
  query.variables = std::move(variables);
  return query;
}

void BM_SearchRare(benchmark::State& state) { RunQuery(state, Query("emily davis")); }
void BM_SearchCommon(benchmark::State& state) { RunQuery(state, Query("PARIS")); }
void BM_SearchEveryCall(benchmark::State& state) { RunQuery(state, Query("e")); }
void BM_SearchNonAscii(benchmark::State& state) { RunQuery(state, Query("SÃO")); }
void BM_StatusAndSearch(benchmark::State& state) {
  RunQuery(state, Query("emily", domain::CallStatus::kQueued));
}
void BM_VariableStatusAndSearch(benchmark::State& state) {
  RunQuery(state, Query("emily", domain::CallStatus::kQueued, {{"city", "Paris"}}));
}
void BM_PhoneFilter(benchmark::State& state) {
  store::CallQuery query;
  query.phone = "+12120500000";
  RunQuery(state, query);
}
void BM_SortByVariable(benchmark::State& state) {
  store::CallQuery query;
  query.sort_key = store::CallQuery::SortKey::kVariable;
  query.sort_variable = "name";
  RunQuery(state, query);
}
void BM_SortByStatusDeepPage(benchmark::State& state) {
  store::CallQuery query;
  query.sort_key = store::CallQuery::SortKey::kStatus;
  query.offset = 500'000;
  RunQuery(state, query);
}
BENCHMARK(BM_SearchRare)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SearchCommon)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SearchEveryCall)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SearchNonAscii)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StatusAndSearch)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_VariableStatusAndSearch)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PhoneFilter)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SortByVariable)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SortByStatusDeepPage)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace nexus::bench

BENCHMARK_MAIN();
