// File: ingest/zip_archive.h
//
// A read-only ZIP archive for the XLSX reader, on minizip's unzip API, that treats the archive as
// hostile. Nothing is extracted to disk; entries stream out one at a time, and every inflated byte
// is counted against caps before the caller sees it:
//   * the inflated bytes of all entries read, together (ZipLimits::max_total_bytes);
//   * the inflated bytes of one entry (the `max_bytes` given to OpenEntry);
//   * the ratio inflated / compressed bytes of one entry, past a grace of ratio_grace_bytes.
// Sizes declared by the central directory are checked against the same caps before inflating
// (an honest bomb fails at once), and the bytes actually produced are checked as they come (a
// lying one fails a little later). At the end of an entry its size must match the directory and
// its CRC-32 must match (minizip reports UNZ_CRCERROR).
//
// The archive is refused when its central directory cannot be read, has more than max_entries
// entries, or names an entry twice (names compared case-insensitively with '\' read as '/', as OPC
// part names are). An entry is refused when it is encrypted or uses a method other than stored or
// deflate. Error messages speak of the workbook (this class is the XLSX reader's container
// layer): InvalidArgument "corrupt XLSX file: ...", "workbook is a decompression bomb: ...",
// "encrypted XLSX file: ...". Opening a missing file gives NotFound (errno statuses).
//
// Not thread-safe; an archive has at most one open entry stream at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace nexus::ingest {

struct ZipLimits {
  uint64_t max_total_bytes = 1ull << 30;    // inflated bytes of all entries read
  int max_entries = 10'000;                 // entries in the central directory
  uint64_t ratio_grace_bytes = 100 * 1024;  // the ratio cap applies past this many bytes
  uint64_t max_ratio = 100;                 // inflated / compressed bytes of one entry
  bool verify_crc = true;                   // false only for fuzzing
};

class ZipArchive {
 public:
  struct Entry {
    std::string name;  // as stored
    uint64_t compressed_size = 0;
    uint64_t uncompressed_size = 0;
    uint32_t flags = 0;             // general purpose bit flag; bit 0 = encrypted
    uint32_t method = 0;            // 0 stored, 8 deflate
    uint64_t directory_offset = 0;  // minizip's position of the entry (unz64_file_pos)
    uint64_t file_number = 0;
  };
  class EntryStream;
  struct Source;  // the bytes: a file descriptor or a buffer (zip_archive.cc)

  static absl::StatusOr<std::unique_ptr<ZipArchive>> OpenFile(const std::string& path,
                                                              const ZipLimits& limits);
  // `data` must outlive the archive.
  static absl::StatusOr<std::unique_ptr<ZipArchive>> OpenBuffer(std::string_view data,
                                                                const ZipLimits& limits);
  ~ZipArchive();
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  // The entry called `name` (case-insensitive, '\' = '/', a leading '/' ignored), or nullptr.
  const Entry* Find(std::string_view name) const;
  const std::vector<Entry>& entries() const { return entries_; }

  // Starts streaming `entry` (from entries()), which may inflate to at most `max_bytes` (and what
  // is left of max_total_bytes). The stream must be destroyed before the next OpenEntry and
  // before the archive.
  absl::StatusOr<std::unique_ptr<EntryStream>> OpenEntry(const Entry& entry, uint64_t max_bytes);

  // The whole entry as a string (for small entries), same caps.
  absl::StatusOr<std::string> ReadEntry(const Entry& entry, uint64_t max_bytes);

  // Inflated bytes handed out so far, all entries together.
  uint64_t total_inflated() const { return total_inflated_; }

  // The lookup key of a name: ASCII-lowercased, '\' → '/', without a leading '/'.
  static std::string NormalizeName(std::string_view name);

 private:
  ZipArchive(std::unique_ptr<Source> source, const ZipLimits& limits);
  absl::Status ReadDirectory();

  struct UnzipCloser {
    void operator()(void* unz) const;  // unzClose
  };

  std::unique_ptr<Source> source_;  // declared first: destroyed after unz_ closes
  const ZipLimits limits_;
  std::unique_ptr<void, UnzipCloser> unz_;  // unzFile
  std::vector<Entry> entries_;
  absl::flat_hash_map<std::string, size_t> index_;  // NormalizeName → entries_ index
  uint64_t total_inflated_ = 0;
  bool entry_open_ = false;

  friend class EntryStream;
};

// One entry being inflated. Read() returns the next bytes; 0 at the end, once the entry's size
// and CRC have been checked. After an error every Read returns it again. The entry is inflated
// in blocks of kBlockBytes whatever the callers' buffer sizes, so every check happens at the same
// point of the data however it is read.
class ZipArchive::EntryStream {
 public:
  ~EntryStream();
  EntryStream(const EntryStream&) = delete;
  EntryStream& operator=(const EntryStream&) = delete;

  static constexpr size_t kBlockBytes = 64 * 1024;

  absl::StatusOr<size_t> Read(char* buffer, size_t capacity);

  const Entry& entry() const { return entry_; }
  uint64_t inflated() const { return inflated_; }
  // True once all of the entry has been inflated (its size and CRC then checked).
  bool at_end() const { return done_; }

 private:
  friend class ZipArchive;
  EntryStream(ZipArchive& archive, const Entry& entry, uint64_t max_bytes, uint64_t start);
  absl::StatusOr<size_t> Inflate(char* buffer, size_t capacity);  // one block; sets error_
  absl::Status Finish();
  absl::Status Check();

  ZipArchive& archive_;
  const Entry entry_;
  const uint64_t max_bytes_;
  const uint64_t start_;  // where the compressed data starts in the file
  uint64_t inflated_ = 0;
  bool done_ = false;
  absl::Status error_;
  std::unique_ptr<char[]> block_;
  size_t block_size_ = 0;
  size_t block_used_ = 0;
};

}  // namespace nexus::ingest
