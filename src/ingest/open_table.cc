// File: ingest/open_table.cc
//
// Format detection → the right reader. See open_table.h.
#include "ingest/open_table.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "core/status.h"
#include "ingest/byte_source.h"
#include "ingest/csv_reader.h"
#include "ingest/format_sniff.h"
#include "ingest/xls_reader.h"
#include "ingest/xlsx_reader.h"

namespace nexus::ingest {
namespace {

// Up to 512 bytes of the file's start.
absl::StatusOr<std::string> ReadHead(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    const std::string message = fmt::format("{}: {}", path, std::strerror(error));
    if (error == ENOENT) return absl::NotFoundError(message);
    if (error == EACCES) return absl::PermissionDeniedError(message);
    return absl::InternalError(message);
  }
  std::string head(512, '\0');
  size_t size = 0;
  while (size < head.size()) {
    const ssize_t n = ::read(fd, head.data() + size, head.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      return absl::InternalError(fmt::format("{}: {}", path, std::strerror(error)));
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  ::close(fd);
  head.resize(size);
  return head;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TableReader>> OpenTable(const std::string& path,
                                                       std::string_view filename,
                                                       const ReadLimits& limits) {
  NEXUS_ASSIGN_OR_RETURN(const std::string head, ReadHead(path));
  NEXUS_ASSIGN_OR_RETURN(const FileFormat format, DetectFileFormat(filename, head, path));
  switch (format) {
    case FileFormat::kCsv: {
      NEXUS_ASSIGN_OR_RETURN(std::unique_ptr<FileByteSource> source, FileByteSource::Open(path));
      return std::unique_ptr<TableReader>(new CsvReader(std::move(source), limits));
    }
    case FileFormat::kXlsx:
      return OpenXlsxReader(path, limits);
    case FileFormat::kXls:
      return OpenXlsReader(path, limits);
  }
  return absl::InternalError("unknown file format");
}

}  // namespace nexus::ingest
