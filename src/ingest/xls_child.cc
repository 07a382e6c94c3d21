// File: ingest/xls_child.cc
//
// FreeXL → rows → frames. See xls_child.h.
#include "ingest/xls_child.h"

#include <errno.h>
#include <fcntl.h>
#include <freexl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "ingest/cell_format.h"
#include "ingest/xls_biff.h"

namespace nexus::ingest {
namespace {

using xls_protocol::ChildError;
using xls_protocol::ErrorKind;

constexpr unsigned char kOle2Magic[8] = {0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1};

bool IsAsciiSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

bool IsBlank(std::string_view text) {
  for (const char c : text) {
    if (!IsAsciiSpace(c)) return false;
  }
  return true;
}

uint16_t GetU16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

// The file, mapped read-only (closed and unmapped on destruction).
class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // Returns 0 or an errno value.
  int Open(const char* path) {
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    struct stat info {};
    int error = 0;
    if (::fstat(fd, &info) != 0) {
      error = errno;
    } else if (info.st_size > 0) {
      size_ = static_cast<size_t>(info.st_size);
      void* data = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (data == MAP_FAILED) {
        error = errno;
        size_ = 0;
      } else {
        data_ = static_cast<unsigned char*>(data);
      }
    }
    ::close(fd);
    return error;
  }

  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

// Heuristic FILEPASS detection, independent of FreeXL (which may fail on, or misread, encrypted
// record bodies before it reaches its own FILEPASS flag). In an encrypted BIFF5/BIFF8 workbook
// the record headers stay in clear text and the FILEPASS record (0x002F) follows the BOF of the
// globals substream (BOF 0x0809 with version 0x0500/0x0600 and type 0x0005), after at most a
// WRITEPROT record. The Workbook stream starts on a sector (512 or 4096 bytes) or, when it is
// smaller than 4096 bytes, on a 64-byte mini sector; mini sectors live inside regular sectors,
// so the stream always starts at a 64-byte aligned file offset. We check every such offset for
// a globals BOF and look at the next few records. A false positive needs that exact byte
// pattern at a 64-byte boundary: only a crafted file, which then gets the "encrypted" message.
bool FindFilepass(const unsigned char* data, size_t size) {
  for (size_t at = 512; at + 8 <= size; at += 64) {
    const unsigned char* p = data + at;
    if (GetU16(p) != 0x0809) continue;
    const uint16_t length = GetU16(p + 2);
    const uint16_t version = GetU16(p + 4);
    if (length < 8 || (version != 0x0600 && version != 0x0500) || GetU16(p + 6) != 0x0005) {
      continue;
    }
    size_t next = at + 4 + length;
    for (int records = 0; records < 4 && next + 4 <= size; ++records) {
      const uint16_t type = GetU16(data + next);
      if (type == 0x002F) return true;
      if (type != 0x0086 && type != 0x005C && type != 0x0042)
        break;  // WRITEPROT, WRITEACCESS, CODEPAGE
      next += 4 + GetU16(data + next + 2);
    }
  }
  return false;
}

uint32_t GetU32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

// FreeXL 1.0.6 converts each entry name of the first directory sector with the entry's 16-bit
// name length unchecked (parse_dir_entry), reading up to 64 KiB past its 4 KiB stack buffer
// (found by fuzz/xls_reader_fuzz.cc). A valid name is at most 64 bytes (32 UTF-16 units with
// the NUL). Check the sector FreeXL will read, located with FreeXL's own arithmetic (32-bit
// unsigned: (first directory sector + 1) × sector size, 4096 for sector shift 12, else 512).
bool DirectoryNamesFit(const unsigned char* data, size_t size) {
  if (size < 512) return true;  // FreeXL fails on its own
  const uint32_t sector_size = GetU16(data + 0x1E) == 12 ? 4096 : 512;
  const uint32_t offset = (GetU32(data + 0x30) + 1u) * sector_size;
  if (offset > size || size - offset < sector_size) return true;  // FreeXL's read fails
  for (uint32_t entry = 0; entry < sector_size; entry += 128) {
    if (GetU16(data + offset + entry + 64) > 64) return false;
  }
  return true;
}

// An anonymous in-memory copy of the file with some bytes zeroed, for FreeXL to open by its
// /proc/self/fd path (FreeXL opens files by name).
class MemFile {
 public:
  MemFile() = default;
  ~MemFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  bool Create(const unsigned char* data, size_t size, const std::vector<size_t>& zero_at) {
    fd_ = ::memfd_create("nexus-xls", MFD_CLOEXEC);
    if (fd_ < 0) return false;
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::write(fd_, data + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    const char zero = 0;
    for (const size_t offset : zero_at) {
      if (offset >= size || ::pwrite(fd_, &zero, 1, static_cast<off_t>(offset)) != 1) return false;
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
    return true;
  }

  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// Closes the FreeXL handle.
class FreexlHandle {
 public:
  FreexlHandle() = default;
  ~FreexlHandle() {
    if (handle_ != nullptr) freexl_close(handle_);
  }
  FreexlHandle(const FreexlHandle&) = delete;
  FreexlHandle& operator=(const FreexlHandle&) = delete;

  const void** out() { return &handle_; }
  const void* get() const { return handle_; }

 private:
  const void* handle_ = nullptr;
};

ChildError FreexlError(int code) { return {ErrorKind::kFreexl, code, 0}; }

// Appends the text of one FreeXL cell to `out`.
void AppendCellText(const FreeXL_CellValue& value, std::string& out) {
  switch (value.type) {
    case FREEXL_CELL_INT:
      out += std::to_string(value.value.int_value);
      break;
    case FREEXL_CELL_DOUBLE:
      AppendNumberText(value.value.double_value, out);
      break;
    case FREEXL_CELL_TEXT:
    case FREEXL_CELL_SST_TEXT:
    case FREEXL_CELL_TIME:
      if (value.value.text_value != nullptr) out += value.value.text_value;
      break;
    case FREEXL_CELL_DATE:
    case FREEXL_CELL_DATETIME:
      // "YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS": keep the date.
      if (value.value.text_value != nullptr) {
        const std::string_view text(value.value.text_value);
        out += text.substr(0, text.find(' '));
      }
      break;
    default:  // FREEXL_CELL_NULL
      break;
  }
}

// Buffered frame writer on a file descriptor.
class FrameWriter {
 public:
  explicit FrameWriter(int fd) : fd_(fd) { buffer_.reserve(kCapacity + 1024); }

  bool Row(uint32_t row_number, std::span<const std::string_view> cells) {
    buffer_ += xls_protocol::kRowTag;
    xls_protocol::PutU32(buffer_, row_number);
    xls_protocol::PutU32(buffer_, static_cast<uint32_t>(cells.size()));
    for (const std::string_view cell : cells) {
      xls_protocol::PutU32(buffer_, static_cast<uint32_t>(cell.size()));
      buffer_.append(cell.data(), cell.size());
      if (buffer_.size() >= kCapacity && !Flush()) return false;
    }
    return buffer_.size() < kCapacity || Flush();
  }

  bool End() {
    buffer_ += xls_protocol::kEndTag;
    return Flush();
  }

  bool Error(const ChildError& error) {
    buffer_ += xls_protocol::kErrorTag;
    buffer_ += static_cast<char>(error.kind);
    xls_protocol::PutU32(buffer_, static_cast<uint32_t>(error.detail));
    xls_protocol::PutU32(buffer_, error.row);
    return Flush();
  }

  bool Flush() {
    size_t done = 0;
    while (done < buffer_.size()) {
      const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      done += static_cast<size_t>(n);
    }
    buffer_.clear();
    return true;
  }

 private:
  static constexpr size_t kCapacity = 64 * 1024;
  int fd_;
  std::string buffer_;
};

}  // namespace

ChildError ReadXlsRows(const char* path, XlsRowSink sink) {
  BiffScan scan;  // FreeXL's gaps: formulas, booleans, dates, the first worksheet (xls_biff.h)
  bool use_copy = false;
  MemFile patched;  // the copy FreeXL reads, with every XF format set to General
  {
    MappedFile file;
    if (const int error = file.Open(path); error != 0) return {ErrorKind::kOpen, error, 0};
    if (file.size() < sizeof(kOle2Magic) ||
        std::memcmp(file.data(), kOle2Magic, sizeof(kOle2Magic)) != 0) {
      return {ErrorKind::kNotOle2, 0, 0};
    }
    if (!DirectoryNamesFit(file.data(), file.size())) return {ErrorKind::kBadDirectory, 0, 0};
    if (FindFilepass(file.data(), file.size())) return {ErrorKind::kEncrypted, 0, 0};
    switch (ScanBiff(file.data(), file.size(), scan)) {
      case BiffScanStatus::kOk:
        break;
      case BiffScanStatus::kInvalid:
        return {ErrorKind::kBadStructure, 0, 0};
      case BiffScanStatus::kNoWorksheet:
        return {ErrorKind::kNoWorksheet, 0, 0};
      case BiffScanStatus::kEncrypted:
        return {ErrorKind::kEncrypted, 0, 0};
    }
    if (scan.overrun) return {ErrorKind::kBadRecord, 0, 0};
    // Without a memfd FreeXL reads the original and also converts dates (slowly); the scan's
    // cells still take precedence.
    use_copy = patched.Create(file.data(), file.size(), scan.general_format_patches);
  }

  FreexlHandle handle;
  if (const int code = freexl_open(use_copy ? patched.path().c_str() : path, handle.out());
      code != FREEXL_OK) {
    return FreexlError(code);
  }
  unsigned int info = 0;
  if (const int code = freexl_get_info(handle.get(), FREEXL_BIFF_PASSWORD, &info);
      code != FREEXL_OK) {
    return FreexlError(code);
  }
  if (info != FREEXL_BIFF_PLAIN) return {ErrorKind::kEncrypted, 0, 0};
  if (const int code = freexl_get_info(handle.get(), FREEXL_BIFF_SHEET_COUNT, &info);
      code != FREEXL_OK) {
    return FreexlError(code);
  }
  if (info == 0) return {ErrorKind::kNoSheet, 0, 0};
  const auto sheet = static_cast<unsigned short>(
      static_cast<unsigned int>(scan.worksheet_index) < info ? scan.worksheet_index : 0);
  if (const int code = freexl_select_active_worksheet(handle.get(), sheet); code != FREEXL_OK) {
    return FreexlError(code);
  }
  unsigned int rows = 0;
  unsigned short columns = 0;
  if (const int code = freexl_worksheet_dimensions(handle.get(), &rows, &columns);
      code != FREEXL_OK) {
    return FreexlError(code);
  }

  // Row numbers travel as u32 and are 1-based; FreeXL's row count is a u32 as well. A sheet
  // without columns has no cells, whatever its row count (the fuzzer found 2^30 rows × 0 columns:
  // ten seconds of empty loop).
  if (rows > 0xFFFFFFFEu) rows = 0xFFFFFFFEu;
  if (columns == 0) rows = 0;
  std::string text;          // the cells of one row, back to back
  std::vector<size_t> ends;  // end offset of each cell in `text`
  std::vector<std::string_view> cells;
  auto replacement = scan.cells.cbegin();  // the next (row, column) the scan has text for
  for (unsigned int r = 0; r < rows; ++r) {
    text.clear();
    ends.clear();
    size_t width = 0;  // cells up to the last one that is not exactly empty
    bool blank = true;
    while (replacement != scan.cells.cend() && replacement->row < r) ++replacement;
    for (unsigned short c = 0; c < columns; ++c) {
      FreeXL_CellValue value;
      if (const int code = freexl_get_cell_value(handle.get(), r, c, &value); code != FREEXL_OK) {
        return {ErrorKind::kCell, code, r + 1};
      }
      const size_t start = text.size();
      while (replacement != scan.cells.cend() && replacement->row == r && replacement->column < c) {
        ++replacement;
      }
      if (replacement != scan.cells.cend() && replacement->row == r && replacement->column == c) {
        text += replacement->text;
      } else {
        AppendCellText(value, text);
      }
      ends.push_back(text.size());
      if (text.size() > start) {
        width = ends.size();
        if (blank && !IsBlank(std::string_view(text).substr(start))) blank = false;
      }
    }
    if (blank) continue;
    cells.clear();
    size_t start = 0;
    for (size_t i = 0; i < width; ++i) {
      cells.emplace_back(text.data() + start, ends[i] - start);
      start = ends[i];
    }
    if (!sink(r + 1, cells)) return {};
  }
  return {};
}

int RunXlsChild(const char* path, int fd) {
  FrameWriter writer(fd);
  bool write_failed = false;
  ChildError error;
  try {
    error = ReadXlsRows(path, [&](uint32_t row_number, std::span<const std::string_view> cells) {
      if (!writer.Row(row_number, cells)) write_failed = true;
      return !write_failed;
    });
  } catch (const std::bad_alloc&) {
    return kXlsExitOutOfMemory;
  }
  if (write_failed) return kXlsExitWriteFailed;
  const bool ok = error.kind == ErrorKind::kNone ? writer.End() : writer.Error(error);
  return ok ? 0 : kXlsExitWriteFailed;
}

}  // namespace nexus::ingest
