#include "ingest/zip_archive.h"

#include <fcntl.h>
#include <minizip/unzip.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

#include "core/status.h"
#include "fmt/format.h"

namespace nexus::ingest {

// The archive's bytes, served to minizip through the ioapi callbacks below: pread(2) on a file
// descriptor (opened O_CLOEXEC, so a forked helper does not inherit it) or a buffer in memory.
struct ZipArchive::Source {
  int fd = -1;
  std::string_view data;  // when fd < 0
  uint64_t size = 0;
  uint64_t position = 0;
  bool error = false;

  ~Source() {
    if (fd >= 0) ::close(fd);
  }
};

namespace {

using Source = ZipArchive::Source;

voidpf IoOpen(voidpf /*opaque*/, const void* filename, int /*mode*/) {
  // unzOpen2_64 passes our "file name" through: it is the Source itself.
  return const_cast<void*>(filename);
}

uLong IoRead(voidpf /*opaque*/, voidpf stream, void* buf, uLong size) {
  auto* source = static_cast<Source*>(stream);
  if (source->position >= source->size) return 0;
  const uint64_t want = std::min<uint64_t>(size, source->size - source->position);
  if (source->fd < 0) {
    std::memcpy(buf, source->data.data() + source->position, want);
    source->position += want;
    return static_cast<uLong>(want);
  }
  uint64_t done = 0;
  while (done < want) {
    const ssize_t n = ::pread(source->fd, static_cast<char*>(buf) + done, want - done,
                              static_cast<off_t>(source->position + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      source->error = n < 0;
      break;
    }
    done += static_cast<uint64_t>(n);
  }
  source->position += done;
  return static_cast<uLong>(done);
}

uLong IoWrite(voidpf /*opaque*/, voidpf /*stream*/, const void* /*buf*/, uLong /*size*/) {
  return 0;  // read-only
}

ZPOS64_T IoTell(voidpf /*opaque*/, voidpf stream) { return static_cast<Source*>(stream)->position; }

long IoSeek(voidpf /*opaque*/, voidpf stream, ZPOS64_T offset, int origin) {
  auto* source = static_cast<Source*>(stream);
  uint64_t base = 0;
  switch (origin) {
    case ZLIB_FILEFUNC_SEEK_SET:
      base = 0;
      break;
    case ZLIB_FILEFUNC_SEEK_CUR:
      base = source->position;
      break;
    case ZLIB_FILEFUNC_SEEK_END:
      base = source->size;
      break;
    default:
      return -1;
  }
  if (offset > source->size || base + offset > source->size) return -1;
  source->position = base + offset;
  return 0;
}

int IoClose(voidpf /*opaque*/, voidpf /*stream*/) { return 0; }  // the Source owns the fd

int IoError(voidpf /*opaque*/, voidpf stream) { return static_cast<Source*>(stream)->error; }

absl::Status Corrupt(std::string_view what) {
  return absl::InvalidArgumentError(fmt::format("corrupt XLSX file: {}", what));
}

absl::Status Bomb(std::string_view what) {
  return absl::InvalidArgumentError(fmt::format("workbook is a decompression bomb: {}", what));
}

std::string_view UnzipErrorText(int error) {
  switch (error) {
    case Z_DATA_ERROR:
      return "damaged compressed data";
    case Z_BUF_ERROR:
      return "compressed data ends too early";
    case Z_MEM_ERROR:
      return "out of memory";
    case UNZ_ERRNO:
      return "read error";
    case UNZ_BADZIPFILE:
      return "bad ZIP structure";
    case UNZ_CRCERROR:
      return "CRC mismatch";
    default:
      return "unreadable data";
  }
}

}  // namespace

std::string ZipArchive::NormalizeName(std::string_view name) {
  while (!name.empty() && (name.front() == '/' || name.front() == '\\')) name.remove_prefix(1);
  std::string key(name);
  for (char& c : key) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
    if (c == '\\') c = '/';
  }
  return key;
}

ZipArchive::ZipArchive(std::unique_ptr<Source> source, const ZipLimits& limits)
    : source_(std::move(source)), limits_(limits) {}

void ZipArchive::UnzipCloser::operator()(void* unz) const { unzClose(static_cast<unzFile>(unz)); }

ZipArchive::~ZipArchive() = default;

absl::StatusOr<std::unique_ptr<ZipArchive>> ZipArchive::OpenFile(const std::string& path,
                                                                 const ZipLimits& limits) {
  auto source = std::make_unique<Source>();
  do {
    source->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (source->fd < 0 && errno == EINTR);
  if (source->fd < 0) {
    const int error = errno;
    return absl::ErrnoToStatus(error, fmt::format("cannot open {}", path));
  }
  struct stat info {};
  if (::fstat(source->fd, &info) != 0) {
    const int error = errno;
    return absl::ErrnoToStatus(error, fmt::format("cannot stat {}", path));
  }
  source->size = static_cast<uint64_t>(info.st_size);
  std::unique_ptr<ZipArchive> archive(new ZipArchive(std::move(source), limits));
  NEXUS_RETURN_IF_ERROR(archive->ReadDirectory());
  return archive;
}

absl::StatusOr<std::unique_ptr<ZipArchive>> ZipArchive::OpenBuffer(std::string_view data,
                                                                   const ZipLimits& limits) {
  auto source = std::make_unique<Source>();
  source->data = data;
  source->size = data.size();
  std::unique_ptr<ZipArchive> archive(new ZipArchive(std::move(source), limits));
  NEXUS_RETURN_IF_ERROR(archive->ReadDirectory());
  return archive;
}

absl::Status ZipArchive::ReadDirectory() {
  zlib_filefunc64_def io{};
  io.zopen64_file = IoOpen;
  io.zread_file = IoRead;
  io.zwrite_file = IoWrite;
  io.ztell64_file = IoTell;
  io.zseek64_file = IoSeek;
  io.zclose_file = IoClose;
  io.zerror_file = IoError;
  io.opaque = nullptr;
  unzFile unz = unzOpen2_64(source_.get(), &io);
  if (unz == nullptr) return Corrupt("not a readable ZIP archive (no central directory)");
  unz_.reset(unz);

  unz_global_info64 global{};
  if (unzGetGlobalInfo64(unz, &global) != UNZ_OK) return Corrupt("unreadable ZIP directory");
  if (global.number_entry > static_cast<ZPOS64_T>(limits_.max_entries)) {
    return absl::InvalidArgumentError(fmt::format("corrupt XLSX file: {} ZIP entries (limit {})",
                                                  global.number_entry, limits_.max_entries));
  }
  if (global.number_entry == 0) return absl::OkStatus();
  entries_.reserve(global.number_entry);
  std::string name(65536, '\0');  // the ZIP format's longest name, plus a NUL
  int error = unzGoToFirstFile(unz);
  for (; error == UNZ_OK; error = unzGoToNextFile(unz)) {
    if (entries_.size() >= static_cast<size_t>(limits_.max_entries)) {
      return absl::InvalidArgumentError(
          fmt::format("corrupt XLSX file: more than {} ZIP entries", limits_.max_entries));
    }
    unz_file_info64 info{};
    error = unzGetCurrentFileInfo64(unz, &info, name.data(), static_cast<uLong>(name.size()),
                                    nullptr, 0, nullptr, 0);
    if (error != UNZ_OK) break;
    unz64_file_pos position{};
    error = unzGetFilePos64(unz, &position);
    if (error != UNZ_OK) break;
    Entry entry;
    entry.name.assign(name.data(), ::strnlen(name.data(), name.size()));
    entry.compressed_size = info.compressed_size;
    entry.uncompressed_size = info.uncompressed_size;
    entry.flags = static_cast<uint32_t>(info.flag);
    entry.method = static_cast<uint32_t>(info.compression_method);
    entry.directory_offset = position.pos_in_zip_directory;
    entry.file_number = position.num_of_file;
    if (!index_.emplace(NormalizeName(entry.name), entries_.size()).second) {
      return Corrupt(fmt::format("the ZIP names entry {} twice", entry.name));
    }
    entries_.push_back(std::move(entry));
  }
  if (error != UNZ_END_OF_LIST_OF_FILE) {
    return Corrupt(fmt::format("ZIP directory: {}", UnzipErrorText(error)));
  }
  return absl::OkStatus();
}

const ZipArchive::Entry* ZipArchive::Find(std::string_view name) const {
  const auto it = index_.find(NormalizeName(name));
  return it == index_.end() ? nullptr : &entries_[it->second];
}

absl::StatusOr<std::unique_ptr<ZipArchive::EntryStream>> ZipArchive::OpenEntry(const Entry& entry,
                                                                               uint64_t max_bytes) {
  if (entry_open_) return absl::InternalError("ZipArchive: another entry is open");
  if ((entry.flags & 1) != 0) {
    return absl::InvalidArgumentError(fmt::format(
        "encrypted XLSX file: ZIP entry {} is password-protected; remove the password and "
        "upload again",
        entry.name));
  }
  if (entry.method != 0 && entry.method != Z_DEFLATED) {
    return Corrupt(
        fmt::format("{} uses ZIP compression method {} (only stored and deflate "
                    "are supported)",
                    entry.name, entry.method));
  }
  // What the directory declares, checked before inflating anything.
  const uint64_t left =
      limits_.max_total_bytes - std::min(total_inflated_, limits_.max_total_bytes);
  if (entry.uncompressed_size > max_bytes) {
    return Bomb(fmt::format("{} inflates to {} bytes (limit {})", entry.name,
                            entry.uncompressed_size, max_bytes));
  }
  if (entry.uncompressed_size > left) {
    return Bomb(fmt::format("its parts inflate to more than {} bytes (limit {})",
                            limits_.max_total_bytes, limits_.max_total_bytes));
  }
  if (entry.uncompressed_size > limits_.ratio_grace_bytes &&
      entry.uncompressed_size / limits_.max_ratio > std::max<uint64_t>(entry.compressed_size, 1)) {
    return Bomb(fmt::format("{} inflates {} bytes to {} (more than {} times)", entry.name,
                            entry.compressed_size, entry.uncompressed_size, limits_.max_ratio));
  }

  auto unz = static_cast<unzFile>(unz_.get());
  unz64_file_pos position{entry.directory_offset, entry.file_number};
  int error = unzGoToFilePos64(unz, &position);
  if (error == UNZ_OK) error = unzOpenCurrentFile(unz);
  if (error != UNZ_OK) {
    return Corrupt(fmt::format("{}: {}", entry.name, UnzipErrorText(error)));
  }
  entry_open_ = true;
  const uint64_t start = unzGetCurrentFileZStreamPos64(unz);
  return std::unique_ptr<EntryStream>(new EntryStream(*this, entry, max_bytes, start));
}

absl::StatusOr<std::string> ZipArchive::ReadEntry(const Entry& entry, uint64_t max_bytes) {
  NEXUS_ASSIGN_OR_RETURN(std::unique_ptr<EntryStream> stream, OpenEntry(entry, max_bytes));
  std::string out;
  char buffer[16 * 1024];
  for (;;) {
    NEXUS_ASSIGN_OR_RETURN(const size_t n, stream->Read(buffer, sizeof buffer));
    if (n == 0) return out;
    out.append(buffer, n);
  }
}

ZipArchive::EntryStream::EntryStream(ZipArchive& archive, const Entry& entry, uint64_t max_bytes,
                                     uint64_t start)
    : archive_(archive), entry_(entry), max_bytes_(max_bytes), start_(start) {}

ZipArchive::EntryStream::~EntryStream() {
  if (!done_) unzCloseCurrentFile(static_cast<unzFile>(archive_.unz_.get()));
  archive_.entry_open_ = false;
}

absl::StatusOr<size_t> ZipArchive::EntryStream::Read(char* buffer, size_t capacity) {
  if (!error_.ok()) return error_;
  if (capacity == 0) return 0;
  if (block_used_ == block_size_) {
    if (done_) return 0;
    if (block_ == nullptr) block_.reset(new char[kBlockBytes]);
    NEXUS_ASSIGN_OR_RETURN(block_size_, Inflate(block_.get(), kBlockBytes));
    block_used_ = 0;
    if (block_size_ == 0) return 0;
  }
  const size_t n = std::min(capacity, block_size_ - block_used_);
  std::memcpy(buffer, block_.get() + block_used_, n);
  block_used_ += n;
  return n;
}

absl::StatusOr<size_t> ZipArchive::EntryStream::Inflate(char* buffer, size_t capacity) {
  auto unz = static_cast<unzFile>(archive_.unz_.get());
  const int n = unzReadCurrentFile(unz, buffer, static_cast<unsigned>(capacity));
  if (n < 0) {
    error_ = Corrupt(fmt::format("{}: {}", entry_.name, UnzipErrorText(n)));
    return error_;
  }
  if (n == 0) {
    error_ = Finish();
    if (!error_.ok()) return error_;
    return 0;
  }
  inflated_ += static_cast<uint64_t>(n);
  archive_.total_inflated_ += static_cast<uint64_t>(n);
  error_ = Check();
  if (!error_.ok()) return error_;
  return static_cast<size_t>(n);
}

// The caps, on the bytes actually produced (the directory may have lied).
absl::Status ZipArchive::EntryStream::Check() {
  const ZipLimits& limits = archive_.limits_;
  if (inflated_ > max_bytes_) {
    return Bomb(fmt::format("{} inflates to more than {} bytes (limit {})", entry_.name, max_bytes_,
                            max_bytes_));
  }
  if (archive_.total_inflated_ > limits.max_total_bytes) {
    return Bomb(fmt::format("its parts inflate to more than {} bytes (limit {})",
                            limits.max_total_bytes, limits.max_total_bytes));
  }
  if (inflated_ > limits.ratio_grace_bytes) {
    // minizip reads the compressed data 16 KiB ahead, so this overestimates what was consumed:
    // the check errs on the lenient side by at most that much.
    const uint64_t position =
        unzGetCurrentFileZStreamPos64(static_cast<unzFile>(archive_.unz_.get()));
    const uint64_t consumed = std::max<uint64_t>(position > start_ ? position - start_ : 0, 1);
    if (inflated_ / limits.max_ratio > consumed) {
      return Bomb(fmt::format("{} inflates more than {} times its compressed size", entry_.name,
                              limits.max_ratio));
    }
  }
  return absl::OkStatus();
}

// The end of the entry: its size must match the directory, and its CRC-32 (which minizip checks
// on close once it has produced the declared size).
absl::Status ZipArchive::EntryStream::Finish() {
  done_ = true;
  const int closed = unzCloseCurrentFile(static_cast<unzFile>(archive_.unz_.get()));
  if (inflated_ != entry_.uncompressed_size) {
    return Corrupt(fmt::format("{} inflates to {} bytes, but the ZIP directory says {}",
                               entry_.name, inflated_, entry_.uncompressed_size));
  }
  if (closed == UNZ_CRCERROR) {
    if (!archive_.limits_.verify_crc) return absl::OkStatus();
    return Corrupt(fmt::format("{}: CRC mismatch (damaged file)", entry_.name));
  }
  if (closed != UNZ_OK) return Corrupt(fmt::format("{}: {}", entry_.name, UnzipErrorText(closed)));
  return absl::OkStatus();
}

}  // namespace nexus::ingest
