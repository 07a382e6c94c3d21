#include "core/string_arena.h"

#include <cstring>

namespace nexus::core {

std::string_view StringArena::Append(std::string_view text) {
  if (text.empty()) return {};
  if (text.size() > left_) {
    const size_t size = std::max(block_size_, text.size());
    blocks_.push_back(std::make_unique_for_overwrite<char[]>(size));
    capacity_ += size;
    cursor_ = blocks_.back().get();
    left_ = size;
  }
  std::memcpy(cursor_, text.data(), text.size());
  const std::string_view stored(cursor_, text.size());
  cursor_ += text.size();
  left_ -= text.size();
  return stored;
}

}  // namespace nexus::core
