#include "core/object_id.h"

#include <array>
#include <atomic>
#include <cstdint>

#include "core/crypto.h"

namespace nexus::core {
namespace {

struct ProcessUnique {
  std::array<uint8_t, 5> random;
  std::atomic<uint32_t> counter;
};

ProcessUnique& Unique() {
  static ProcessUnique* unique = [] {
    auto* u = new ProcessUnique();
    std::string bytes = RandomBytes(8);
    for (size_t i = 0; i < 5; ++i) u->random[i] = static_cast<uint8_t>(bytes[i]);
    u->counter = static_cast<uint32_t>(static_cast<uint8_t>(bytes[5])) << 16 |
                 static_cast<uint32_t>(static_cast<uint8_t>(bytes[6])) << 8 |
                 static_cast<uint8_t>(bytes[7]);
    return u;
  }();
  return *unique;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string NewObjectId(absl::Time now) {
  ProcessUnique& unique = Unique();
  const uint32_t seconds = static_cast<uint32_t>(absl::ToUnixSeconds(now));
  const uint32_t count = unique.counter.fetch_add(1, std::memory_order_relaxed) & 0xFFFFFF;
  std::array<uint8_t, 12> bytes;
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<uint8_t>(seconds >> (24 - 8 * i));
  for (int i = 0; i < 5; ++i) bytes[4 + i] = unique.random[i];
  for (int i = 0; i < 3; ++i) bytes[9 + i] = static_cast<uint8_t>(count >> (16 - 8 * i));
  return HexEncode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

bool IsObjectId(std::string_view text) {
  if (text.size() != 24) return false;
  for (char c : text) {
    if (HexValue(c) < 0) return false;
  }
  return true;
}

absl::Time ObjectIdTime(std::string_view id) {
  uint32_t seconds = 0;
  for (size_t i = 0; i < 8 && i < id.size(); ++i) {
    seconds = seconds << 4 | static_cast<uint32_t>(HexValue(id[i]) & 0xF);
  }
  return absl::FromUnixSeconds(seconds);
}

}  // namespace nexus::core
