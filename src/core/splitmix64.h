// File: core/splitmix64.h
//
// splitmix64: a tiny deterministic pseudo-random generator for generated test corpora and
// benchmark data (the same seed gives the same sequence on every machine). NOT for secrets:
// core/crypto.h RandomBytes is the CSPRNG. Not thread-safe; one generator per thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace nexus::core {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // A value in [0, n); n > 0.
  uint64_t Below(uint64_t n) { return Next() % n; }
  // True with probability p percent.
  bool Percent(uint64_t p) { return Below(100) < p; }
  template <typename T, size_t N>
  const T& Pick(const std::array<T, N>& items) {
    return items[Below(N)];
  }

 private:
  uint64_t state_;
};

}  // namespace nexus::core
