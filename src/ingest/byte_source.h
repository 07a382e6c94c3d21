// File: ingest/byte_source.h
//
// A ByteSource hands out the bytes of one uploaded file, front to back, in pieces of whatever size
// it likes. Readers (CsvReader, later XLSX/XLS) pull from it and never need the whole file in
// memory. Implementations: FileByteSource (a file on disk, read with POSIX read(2) in chunks) and
// StringByteSource (bytes in memory; tests and fuzzers). The HTTP upload will feed the multipart
// file part through this interface.
//
// Not thread-safe: one reader pulls from one source on one thread.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace nexus::ingest {

class ByteSource {
 public:
  virtual ~ByteSource() = default;

  // Copies up to `capacity` (> 0) next bytes into `buffer` and returns how many. 0 means the end
  // of the data; after that every call returns 0 again. A short read is not the end. Errors
  // (e.g. an I/O failure) are returned as a status; the reader passes them on unchanged.
  virtual absl::StatusOr<size_t> Read(char* buffer, size_t capacity) = 0;
};

// Reads a file through a POSIX file descriptor. Each Read is one read(2) of at most
// min(capacity, max_read) bytes, retried on EINTR.
class FileByteSource final : public ByteSource {
 public:
  static constexpr size_t kDefaultMaxRead = 256 * 1024;

  // Opens `path` read-only. NotFound / PermissionDenied / ... (from errno) when it cannot.
  static absl::StatusOr<std::unique_ptr<FileByteSource>> Open(const std::string& path,
                                                              size_t max_read = kDefaultMaxRead);
  ~FileByteSource() override;
  FileByteSource(const FileByteSource&) = delete;
  FileByteSource& operator=(const FileByteSource&) = delete;

  absl::StatusOr<size_t> Read(char* buffer, size_t capacity) override;

 private:
  FileByteSource(int fd, std::string path, size_t max_read);

  int fd_;
  std::string path_;
  size_t max_read_;
  bool at_end_ = false;
};

// Serves bytes it owns. `max_read` caps each Read (1 feeds one byte at a time: chunk-boundary
// tests use it).
class StringByteSource final : public ByteSource {
 public:
  explicit StringByteSource(std::string data, size_t max_read = static_cast<size_t>(-1));

  absl::StatusOr<size_t> Read(char* buffer, size_t capacity) override;

 private:
  std::string data_;
  size_t offset_ = 0;
  size_t max_read_;
};

}  // namespace nexus::ingest
