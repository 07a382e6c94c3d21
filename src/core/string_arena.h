// File: core/string_arena.h
//
// Append-only storage for many small strings (an upload's phone numbers and variables): each
// Append copies the text into the current block and returns a view that stays valid until the
// arena is destroyed. Blocks never move, so there is no per-string allocation and no doubling
// copy of one big buffer; a text longer than a block gets a block of its own. Not thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

namespace nexus::core {

class StringArena {
 public:
  static constexpr size_t kDefaultBlockSize = size_t{1} << 20;

  explicit StringArena(size_t block_size = kDefaultBlockSize) : block_size_(block_size) {}
  StringArena(const StringArena&) = delete;
  StringArena& operator=(const StringArena&) = delete;
  StringArena(StringArena&&) = default;
  StringArena& operator=(StringArena&&) = default;

  std::string_view Append(std::string_view text);
  // Bytes held by the arena's blocks (used and free).
  size_t capacity() const { return capacity_; }

 private:
  size_t block_size_;
  std::vector<std::unique_ptr<char[]>> blocks_;
  char* cursor_ = nullptr;
  size_t left_ = 0;
  size_t capacity_ = 0;
};

}  // namespace nexus::core
