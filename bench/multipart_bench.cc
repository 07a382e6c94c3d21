// Google Benchmark for http::MultipartParser: one 100 MB file part fed in 64 KiB chunks, as the
// upload endpoint will see it. Content kinds: random bytes (CR every ~256 bytes), CSV with CRLF
// lines (CR every ~32 bytes), and a hostile part that is nothing but near-miss delimiters
// ("\r\n--<boundary minus its last byte>" repeated: the longest compare per CR) and one of only
// CRs (a memchr hit on every byte): the two worst cases for the CR-then-compare scan.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "http/multipart.h"

namespace nexus::http {
namespace {

// Argument 1 picks the boundary: 0 curl's (40 chars), 1 the shortest possible.
constexpr std::string_view kBoundaries[] = {"------------------------a27a08a5cca06476", "b"};
constexpr size_t kFileBytes = 100 * 1000 * 1000;
constexpr size_t kChunk = 64 * 1024;

class CountingHandler : public MultipartHandler {
 public:
  absl::Status OnField(const PartHeaders&, std::string_view value) override {
    bytes += value.size();
    return absl::OkStatus();
  }
  absl::Status OnPartBegin(const PartHeaders&) override { return absl::OkStatus(); }
  absl::Status OnPartData(std::string_view chunk) override {
    bytes += chunk.size();
    benchmark::DoNotOptimize(chunk.data());
    return absl::OkStatus();
  }
  absl::Status OnPartEnd() override { return absl::OkStatus(); }
  size_t bytes = 0;
};

std::string Body(int kind, std::string_view boundary) {
  std::string data;
  data.reserve(kFileBytes);
  std::mt19937_64 rng(42);
  if (kind == 0) {
    while (data.size() < kFileBytes) {
      const uint64_t word = rng();
      data.append(reinterpret_cast<const char*>(&word), sizeof word);
    }
  } else if (kind == 1) {
    for (uint64_t i = 0; data.size() < kFileBytes; ++i) {
      data +=
          "+1212555" + std::to_string(1000 + i % 9000) + ",Ann Lee," + std::to_string(i) + "\r\n";
    }
  } else if (kind == 3) {
    data.assign(kFileBytes, '\r');
  } else if (kind == 4) {
    while (data.size() < kFileBytes) data += "\r\n";
  } else if (kind == 5) {
    const std::string lookalike = "\r\n--" + std::string(boundary) + "X";
    while (data.size() < kFileBytes) data += lookalike;
  } else {
    const std::string near_miss = "\r\n--" + std::string(boundary.substr(0, boundary.size() - 1));
    while (data.size() < kFileBytes) data += near_miss;
  }
  data.resize(kFileBytes);
  return "--" + std::string(boundary) +
         "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"contacts.csv\"\r\n"
         "Content-Type: text/csv\r\n\r\n" +
         data + "\r\n--" + std::string(boundary) + "--\r\n";
}

void BM_MultipartFilePart(benchmark::State& state) {
  const std::string_view boundary = kBoundaries[state.range(1)];
  const std::string body = Body(static_cast<int>(state.range(0)), boundary);
  for (auto _ : state) {
    CountingHandler handler;
    MultipartParser parser(boundary, &handler);
    for (size_t at = 0; at < body.size(); at += kChunk) {
      const absl::Status status = parser.Feed(std::string_view(body).substr(at, kChunk));
      if (!status.ok()) state.SkipWithError(std::string(status.message()).c_str());
    }
    if (!parser.Finish().ok() || handler.bytes != kFileBytes) {
      state.SkipWithError("wrong parse");
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  static constexpr const char* kLabels[] = {"random", "csv_crlf", "near_miss",
                                            "all_cr", "all_crlf", "lookalike"};
  state.SetLabel(std::string(kLabels[state.range(0)]) + (state.range(1) ? ",boundary=b" : ""));
}
BENCHMARK(BM_MultipartFilePart)
    ->ArgsProduct({{0, 1, 2, 3, 4, 5}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace nexus::http

BENCHMARK_MAIN();
