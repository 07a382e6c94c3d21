#include "ingest/byte_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace nexus::ingest {

absl::StatusOr<std::unique_ptr<FileByteSource>> FileByteSource::Open(const std::string& path,
                                                                     size_t max_read) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int error = errno;
    return absl::ErrnoToStatus(error, fmt::format("cannot open {}", path));
  }
  // A hint only: the kernel may read ahead more aggressively. Failure changes nothing.
  (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<FileByteSource>(
      new FileByteSource(fd, path, std::max<size_t>(max_read, 1)));
}

FileByteSource::FileByteSource(int fd, std::string path, size_t max_read)
    : fd_(fd), path_(std::move(path)), max_read_(max_read) {}

FileByteSource::~FileByteSource() { ::close(fd_); }

absl::StatusOr<size_t> FileByteSource::Read(char* buffer, size_t capacity) {
  if (at_end_ || capacity == 0) return 0;
  const size_t want = std::min(capacity, max_read_);
  for (;;) {
    const ssize_t n = ::read(fd_, buffer, want);
    if (n > 0) return static_cast<size_t>(n);
    if (n == 0) {
      at_end_ = true;
      return 0;
    }
    if (errno == EINTR) continue;
    const int error = errno;
    return absl::ErrnoToStatus(error, fmt::format("cannot read {}", path_));
  }
}

StringByteSource::StringByteSource(std::string data, size_t max_read)
    : data_(std::move(data)), max_read_(std::max<size_t>(max_read, 1)) {}

absl::StatusOr<size_t> StringByteSource::Read(char* buffer, size_t capacity) {
  const size_t n = std::min({capacity, max_read_, data_.size() - offset_});
  if (n > 0) std::memcpy(buffer, data_.data() + offset_, n);
  offset_ += n;
  return n;
}

}  // namespace nexus::ingest
