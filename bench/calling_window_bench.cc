// Google Benchmark for schedule::NextOpening over 1M (instant, rules) pairs shaped like a US
// campaign: calls in 7 US zones (Eastern to Hawaii, Phoenix without DST), callingHour 09:00-17:00
// Monday to Friday, legal window 08:00-21:00, instants spread uniformly over one week that
// contains the 2026 spring-forward (Sunday 2026-03-08). Deterministic (splitmix64). Target: 1M
// calls in <= 0.5 s, i.e. >= 2M items/s. One iteration is the 1M calls, so its time in ms is
// also the cost of one call in ns.
//   cmake --build build/release --target calling_window_bench -j2
//   build/release/bench/calling_window_bench
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "core/splitmix64.h"
#include "schedule/calling_window.h"

namespace nexus::bench {
namespace {

using schedule::CallingRules;

constexpr size_t kCalls = 1'000'000;
constexpr std::array<const char*, 7> kZones = {
    "America/New_York",    "America/Chicago",   "America/Denver",  "America/Phoenix",
    "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu"};

struct Corpus {
  std::vector<CallingRules> rules;  // one per zone
  std::vector<uint8_t> zone;        // per call: index into rules
  std::vector<absl::Time> at;       // per call
};

Corpus MakeCorpus(bool closed_only) {
  Corpus corpus;
  for (const char* name : kZones) {
    absl::TimeZone zone;
    if (!absl::LoadTimeZone(name, &zone)) {
      std::fprintf(stderr, "cannot load time zone %s\n", name);
      std::exit(1);
    }
    corpus.rules.push_back(CallingRules{zone,
                                        {{9 * 60}, {17 * 60}},
                                        0x3e,  // Monday..Friday
                                        domain::DailyWindow{{8 * 60}, {21 * 60}}});
  }
  core::SplitMix64 rng(42);
  const int64_t week_start = absl::ToUnixSeconds(
      absl::FromCivil(absl::CivilSecond(2026, 3, 4, 0, 0, 0), absl::UTCTimeZone()));  // a Wednesday
  corpus.zone.reserve(kCalls);
  corpus.at.reserve(kCalls);
  while (corpus.at.size() < kCalls) {
    const auto zone = static_cast<uint8_t>(rng.Below(kZones.size()));
    const absl::Time at = absl::FromUnixSeconds(week_start + rng.Below(7 * 86400));
    if (closed_only && schedule::IsOpen(corpus.rules[zone], at)) continue;
    corpus.zone.push_back(zone);
    corpus.at.push_back(at);
  }
  return corpus;
}

void Run(benchmark::State& state, const Corpus& corpus) {
  size_t open = 0;
  for (auto _ : state) {
    int64_t sum = 0;
    open = 0;
    for (size_t i = 0; i < corpus.at.size(); ++i) {
      const absl::Time next = schedule::NextOpening(corpus.rules[corpus.zone[i]], corpus.at[i]);
      sum += absl::ToUnixSeconds(next);
      open += next == corpus.at[i];
    }
    benchmark::DoNotOptimize(sum);
  }
  const auto calls = static_cast<int64_t>(state.iterations() * corpus.at.size());
  state.SetItemsProcessed(calls);
  state.counters["open_pct"] = 100.0 * static_cast<double>(open) / corpus.at.size();
}

// The realistic mix: about a quarter of the instants are inside the window already.
void BM_NextOpeningMix(benchmark::State& state) {
  static const Corpus corpus = MakeCorpus(/*closed_only=*/false);
  Run(state, corpus);
}
BENCHMARK(BM_NextOpeningMix)->Unit(benchmark::kMillisecond)->UseRealTime();

// Only instants outside the window: every call searches for the next opening.
void BM_NextOpeningClosedOnly(benchmark::State& state) {
  static const Corpus corpus = MakeCorpus(/*closed_only=*/true);
  Run(state, corpus);
}
BENCHMARK(BM_NextOpeningClosedOnly)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace nexus::bench

BENCHMARK_MAIN();
