// File: ingest/format_sniff.cc
//
// Extension + magic bytes → FileFormat. See format_sniff.h.
#include "ingest/format_sniff.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>

#include "core/status.h"

namespace nexus::ingest {
namespace {

constexpr std::string_view kZip("PK\x03\x04", 4);
constexpr std::string_view kEmptyZip("PK\x05\x06", 4);
constexpr std::string_view kOle2("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8);
constexpr std::string_view kEncryptionInfo("E\0n\0c\0r\0y\0p\0t\0i\0o\0n\0I\0n\0f\0o\0", 28);

constexpr char kEncrypted[] = "encrypted workbook: remove the password and upload again";

absl::Status Unsupported(std::string_view why) {
  return absl::InvalidArgumentError(fmt::format("unsupported or invalid file type: {}", why));
}

std::string LowerExtension(std::string_view filename) {
  const size_t slash = filename.find_last_of("/\\");
  if (slash != std::string_view::npos) filename.remove_prefix(slash + 1);
  const size_t dot = filename.rfind('.');
  if (dot == std::string_view::npos) return "";
  std::string ext(filename.substr(dot + 1));
  for (char& c : ext) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return ext;
}

// A short name for a binary signature at the start of `bytes`, or "" when none is known.
std::string_view BinaryKind(std::string_view bytes) {
  if (bytes.starts_with(kZip) || bytes.starts_with(kEmptyZip)) return "a ZIP archive (.xlsx?)";
  if (bytes.starts_with(kOle2)) return "an OLE2 compound file (.xls?)";
  if (bytes.starts_with("\x89PNG")) return "a PNG image";
  if (bytes.starts_with("%PDF-")) return "a PDF document";
  if (bytes.starts_with("\x7F"
                        "ELF"))
    return "an executable (ELF)";
  if (bytes.starts_with("\x1F\x8B")) return "a GZIP archive";
  return "";
}

}  // namespace

absl::StatusOr<bool> HasEncryptionInfoStream(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    return error == ENOENT ? absl::NotFoundError(fmt::format("{}: {}", path, std::strerror(error)))
                           : absl::InternalError(fmt::format("{}: {}", path, std::strerror(error)));
  }
  constexpr size_t kChunk = 64 * 1024;  // a multiple of 128: entries never straddle two chunks
  std::unique_ptr<char[]> buffer(new char[kChunk]);
  bool found = false;
  absl::Status status;
  for (off_t offset = 512;;) {
    const ssize_t n = ::pread(fd, buffer.get(), kChunk, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      status = absl::InternalError(fmt::format("{}: {}", path, std::strerror(errno)));
      break;
    }
    for (size_t at = 0; at + kEncryptionInfo.size() <= static_cast<size_t>(n); at += 128) {
      if (std::memcmp(buffer.get() + at, kEncryptionInfo.data(), kEncryptionInfo.size()) == 0) {
        found = true;
        break;
      }
    }
    if (found || static_cast<size_t>(n) < kChunk) break;
    offset += n;
  }
  ::close(fd);
  if (!status.ok()) return status;
  return found;
}

absl::StatusOr<FileFormat> DetectFileFormat(std::string_view filename, std::string_view first_bytes,
                                            const std::string& path_for_deeper_checks) {
  const std::string ext = LowerExtension(filename);
  if (ext == "xlsm" || ext == "xlsb" || ext == "ods" || ext == "numbers") {
    return Unsupported(fmt::format(".{} files cannot be read: save as .xlsx or .csv", ext));
  }
  if (ext != "csv" && ext != "xls" && ext != "xlsx") {
    return Unsupported(ext.empty() ? std::string("the file name has no extension: upload a .csv, "
                                                 ".xls or .xlsx file")
                                   : fmt::format(".{} is not supported: upload a .csv, .xls or "
                                                 ".xlsx file",
                                                 ext));
  }

  const bool ole2 = first_bytes.starts_with(kOle2);
  auto encrypted = [&]() -> absl::StatusOr<bool> {
    if (path_for_deeper_checks.empty()) return false;
    return HasEncryptionInfoStream(path_for_deeper_checks);
  };

  if (ext == "csv") {
    const std::string_view kind = BinaryKind(first_bytes);
    if (!kind.empty()) return Unsupported(fmt::format("this .csv file is {}", kind));
    return FileFormat::kCsv;
  }
  if (ext == "xlsx") {
    if (first_bytes.starts_with(kZip)) return FileFormat::kXlsx;
    if (first_bytes.starts_with(kEmptyZip)) {
      return Unsupported("this .xlsx file is an empty ZIP archive, not a workbook");
    }
    if (ole2) {
      NEXUS_ASSIGN_OR_RETURN(const bool has_encryption, encrypted());
      if (has_encryption) return absl::InvalidArgumentError(kEncrypted);
      return Unsupported(
          "this is an old .xls workbook saved with an .xlsx name: rename it to .xls or save as "
          ".xlsx");
    }
    return Unsupported("this .xlsx file is not an Excel workbook (not a ZIP archive)");
  }
  // .xls
  if (ole2) {
    NEXUS_ASSIGN_OR_RETURN(const bool has_encryption, encrypted());
    if (has_encryption) return absl::InvalidArgumentError(kEncrypted);
    return FileFormat::kXls;
  }
  if (first_bytes.starts_with(kZip)) {
    return Unsupported("this is an .xlsx workbook saved with an .xls name: rename it to .xlsx");
  }
  return Unsupported(
      "this .xls file is not an Excel 97-2003 workbook (not an OLE2 compound file); save it as "
      ".xlsx or .csv");
}

}  // namespace nexus::ingest
