// Google Benchmark for phone-number normalisation: libphonenumber's Parse + IsValidNumber +
// Format(E164) (domain::NormalizePhoneNumber) against domain::PhoneNormalizer, single-threaded
// and batched on 1 and 2 threads. The corpus is shaped like bench/data/phones_1m.txt of
// /work/shared/research/perf-anchors.md: US numbers in 7 spellings (33 % digits only), 2 %
// duplicates of an earlier number (usually re-spelled), 1 % invalid. Deterministic (splitmix64).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/splitmix64.h"
#include "domain/phone.h"
#include "domain/phone_normalizer.h"
#include "fmt/format.h"

namespace nexus::bench {
namespace {

using Rng = core::SplitMix64;

// Area codes in service across the US (a few of their exchanges are not in the metadata).
constexpr std::array<std::string_view, 120> kAreaCodes = {
    "201", "202", "203", "205", "206", "207", "208", "209", "210", "212", "213", "214",
    "215", "216", "217", "218", "219", "224", "225", "228", "229", "231", "234", "239",
    "240", "248", "251", "252", "253", "254", "256", "260", "262", "267", "269", "270",
    "276", "281", "301", "302", "303", "304", "305", "307", "308", "309", "310", "312",
    "313", "314", "315", "316", "317", "318", "319", "320", "321", "323", "330", "334",
    "336", "337", "347", "352", "360", "361", "401", "402", "404", "405", "406", "407",
    "408", "409", "410", "412", "413", "414", "415", "417", "419", "423", "424", "425",
    "435", "440", "443", "469", "478", "480", "501", "502", "503", "504", "505", "507",
    "508", "509", "510", "512", "513", "515", "516", "517", "518", "520", "530", "540",
    "541", "559", "561", "562", "602", "617", "646", "702", "713", "718", "801", "917"};
constexpr std::array<std::string_view, 10> kInvalid = {
    "12345", "555-0123",      "212555012",      "212555012345", "555-CALL",
    "n/a",   "1-800-FLOWERS", "(000) 000-0000", "+1 212 555",   "2125550123456789"};

struct Us {
  uint32_t area;
  uint32_t exchange;
  uint32_t line;
};

// The 7 spellings of perf-anchors; styles 0 and 1 are digits only (33 % of the total).
std::string Spell(const Us& p, uint64_t roll) {
  const std::string_view a = kAreaCodes[p.area];
  const uint64_t style = roll % 100 < 33 ? roll % 2 : 2 + roll % 5;
  switch (style) {
    case 0:
      return fmt::format("{}{:03}{:04}", a, p.exchange, p.line);
    case 1:
      return fmt::format("1{}{:03}{:04}", a, p.exchange, p.line);
    case 2:
      return fmt::format("({}) {:03}-{:04}", a, p.exchange, p.line);
    case 3:
      return fmt::format("+1 {}-{:03}-{:04}", a, p.exchange, p.line);
    case 4:
      return fmt::format("1-{}-{:03}-{:04}", a, p.exchange, p.line);
    case 5:
      return fmt::format("{}.{:03}.{:04}", a, p.exchange, p.line);
    default:
      return fmt::format("+1{}{:03}{:04}", a, p.exchange, p.line);
  }
}

struct Corpus {
  std::vector<std::string> storage;
  std::vector<std::string_view> texts;
};

const Corpus& Phones() {
  static const Corpus* corpus = [] {
    constexpr size_t kSize = 1000000;
    auto* c = new Corpus();
    Rng rng(20240601);
    std::vector<Us> seen;
    c->storage.reserve(kSize);
    for (size_t i = 0; i < kSize; ++i) {
      if (rng.Percent(1)) {
        c->storage.emplace_back(kInvalid[rng.Below(kInvalid.size())]);
      } else if (!seen.empty() && rng.Percent(2)) {
        c->storage.push_back(Spell(seen[rng.Below(seen.size())], rng.Next()));
      } else {
        const Us p{static_cast<uint32_t>(rng.Below(kAreaCodes.size())),
                   static_cast<uint32_t>(200 + rng.Below(800)),
                   static_cast<uint32_t>(rng.Below(10000))};
        seen.push_back(p);
        c->storage.push_back(Spell(p, rng.Next()));
      }
    }
    c->texts.assign(c->storage.begin(), c->storage.end());
    return c;
  }();
  return *corpus;
}

const domain::PhoneNormalizer& Normalizer() {
  static const domain::PhoneNormalizer* normalizer = new domain::PhoneNormalizer();
  return *normalizer;
}

// CPU seconds of the whole process (every thread), for figures that do not depend on how busy
// the shared machine is.
double ProcessCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

// items_per_second; wall_us = wall-clock µs per number; cpu_us = process CPU µs per number.
void Report(benchmark::State& state, size_t per_iteration, double cpu_seconds) {
  const double numbers = static_cast<double>(state.iterations() * per_iteration);
  state.SetItemsProcessed(static_cast<int64_t>(numbers));
  state.counters["wall_us"] =
      benchmark::Counter(numbers * 1e-6, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["cpu_us"] = cpu_seconds * 1e6 / numbers;
}

// libphonenumber Parse + IsValidNumber + Format(E164), on the first 50,000 numbers (≈ 1 s).
void BM_LibphonenumberSlowPath(benchmark::State& state) {
  const auto texts = std::span(Phones().texts).first(50000);
  const double cpu = ProcessCpuSeconds();
  for (auto _ : state) {
    size_t valid = 0;
    for (const std::string_view text : texts) {
      valid += domain::NormalizePhoneNumber(text, "US").ok();
    }
    benchmark::DoNotOptimize(valid);
  }
  Report(state, texts.size(), ProcessCpuSeconds() - cpu);
}
BENCHMARK(BM_LibphonenumberSlowPath)->Unit(benchmark::kMillisecond)->UseRealTime();

// PhoneNormalizer::Normalize (StatusOr<std::string>), one thread, 1M numbers, memo warm.
void BM_FastNormalize(benchmark::State& state) {
  const auto& texts = Phones().texts;
  const domain::PhoneNormalizer& normalizer = Normalizer();
  const double cpu = ProcessCpuSeconds();
  for (auto _ : state) {
    size_t valid = 0;
    for (const std::string_view text : texts) valid += normalizer.Normalize(text, "US").ok();
    benchmark::DoNotOptimize(valid);
  }
  Report(state, texts.size(), ProcessCpuSeconds() - cpu);
}
BENCHMARK(BM_FastNormalize)->Unit(benchmark::kMillisecond)->UseRealTime();

// NormalizeBatch over 1M numbers on state.range(0) threads, memo warm.
void BM_FastBatch(benchmark::State& state) {
  const auto& texts = Phones().texts;
  const domain::PhoneNormalizer& normalizer = Normalizer();
  std::vector<domain::PhoneResult> out(texts.size());
  const double cpu = ProcessCpuSeconds();
  for (auto _ : state) {
    normalizer.NormalizeBatch(texts, "US", out, static_cast<int>(state.range(0)));
    benchmark::DoNotOptimize(out.data());
  }
  Report(state, texts.size(), ProcessCpuSeconds() - cpu);
}
BENCHMARK(BM_FastBatch)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same with a new PhoneNormalizer per iteration: metadata load, DAG builds and memo fills
// included (what the first upload after start-up pays).
void BM_FastBatchCold(benchmark::State& state) {
  const auto& texts = Phones().texts;
  std::vector<domain::PhoneResult> out(texts.size());
  const double cpu = ProcessCpuSeconds();
  for (auto _ : state) {
    const domain::PhoneNormalizer normalizer;
    normalizer.NormalizeBatch(texts, "US", out, static_cast<int>(state.range(0)));
    benchmark::DoNotOptimize(out.data());
  }
  Report(state, texts.size(), ProcessCpuSeconds() - cpu);
}
BENCHMARK(BM_FastBatchCold)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Outcome summary of the corpus (printed once): valid, distinct E.164, fast-path share.
void BM_CorpusSummary(benchmark::State& state) {
  const auto& texts = Phones().texts;
  std::vector<domain::PhoneResult> out(texts.size());
  for (auto _ : state) Normalizer().NormalizeBatch(texts, "US", out, 2);
  std::vector<std::string_view> e164;
  size_t fast = 0;
  for (const domain::PhoneResult& r : out) {
    fast += r.fast;
    if (r.ok()) e164.push_back(r.E164());
  }
  const size_t valid = e164.size();
  std::sort(e164.begin(), e164.end());
  const size_t distinct = std::unique(e164.begin(), e164.end()) - e164.begin();
  state.counters["valid"] = static_cast<double>(valid);
  state.counters["distinct"] = static_cast<double>(distinct);
  state.counters["fast"] = static_cast<double>(fast);
}
BENCHMARK(BM_CorpusSummary)->Iterations(1)->Unit(benchmark::kMillisecond);

// NEXUS_PHONE_VERIFY=1: the batch results for the whole 1M corpus against NormalizePhoneNumber
// (≈ 20 s). Reports the number of inputs whose outcome differs (must be 0).
void BM_VerifyCorpus(benchmark::State& state) {
  if (std::getenv("NEXUS_PHONE_VERIFY") == nullptr) {
    state.SkipWithError("set NEXUS_PHONE_VERIFY=1 to run");
    for (auto _ : state) {
    }
    return;
  }
  const auto& texts = Phones().texts;
  std::vector<domain::PhoneResult> out(texts.size());
  size_t mismatches = 0;
  for (auto _ : state) {
    Normalizer().NormalizeBatch(texts, "US", out, 2);
    for (size_t i = 0; i < texts.size(); ++i) {
      const absl::StatusOr<std::string> expected = domain::NormalizePhoneNumber(texts[i], "US");
      const bool same = expected.ok() ? out[i].ok() && out[i].E164() == *expected
                                      : !out[i].ok() && domain::PhoneNormalizer::ErrorStatus(
                                                            out[i], "US") == expected.status();
      if (!same && ++mismatches <= 10) std::fprintf(stderr, "mismatch: %s\n", texts[i].data());
    }
  }
  state.counters["checked"] = static_cast<double>(texts.size());
  state.counters["mismatches"] = static_cast<double>(mismatches);
}
BENCHMARK(BM_VerifyCorpus)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace nexus::bench

BENCHMARK_MAIN();
