// File: ingest/xls_biff.cc
//
// OLE2 container → Workbook stream → the BIFF records FreeXL ignores. See xls_biff.h.
// References: [MS-CFB] (compound file), [MS-XLS] 2.4 (records).
#include "ingest/xls_biff.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <utility>

#include "ingest/cell_format.h"
#include "ingest/text_encoding.h"

namespace nexus::ingest {
namespace {

constexpr uint32_t kEndOfChain = 0xFFFFFFFE;

// Record types.
constexpr uint16_t kBof = 0x0809;
constexpr uint16_t kEof = 0x000A;
constexpr uint16_t kBoundSheet = 0x0085;
constexpr uint16_t kXf = 0x00E0;
constexpr uint16_t kFormat = 0x041E;
constexpr uint16_t kDateMode = 0x0022;
constexpr uint16_t kFilePass = 0x002F;
constexpr uint16_t kBoolErr = 0x0205;
constexpr uint16_t kFormula = 0x0006;
constexpr uint16_t kString = 0x0207;
constexpr uint16_t kContinue = 0x003C;
constexpr uint16_t kNumber = 0x0203;
constexpr uint16_t kRk = 0x027E;
constexpr uint16_t kMulRk = 0x00BD;

uint16_t U16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t U32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

// The compound file: sectors, FAT, directory, streams.
class CompoundFile {
 public:
  CompoundFile(const unsigned char* data, size_t size) : data_(data), size_(size) {}

  bool Open() {
    if (size_ < 512) return false;
    const uint16_t shift = U16(data_ + 0x1E);
    if ((shift != 9 && shift != 12) || U16(data_ + 0x20) != 6) return false;
    sector_size_ = size_t{1} << shift;
    if (size_ < 2 * sector_size_) return false;
    sectors_ = size_ / sector_size_ - 1;  // sector i is at (i + 1) × sector size
    mini_cutoff_ = U32(data_ + 0x38);

    // FAT sectors: the first 109 ids are in the header, the rest in the DIFAT sector chain.
    const uint32_t fat_count = U32(data_ + 0x2C);
    if (fat_count > sectors_) return false;
    std::vector<uint32_t> fat_sectors;
    for (uint32_t i = 0; i < fat_count && i < 109; ++i) {
      fat_sectors.push_back(U32(data_ + 0x4C + 4 * i));
    }
    uint32_t difat = U32(data_ + 0x44);
    for (size_t hops = 0; fat_sectors.size() < fat_count; ++hops) {
      const unsigned char* sector = Sector(difat);
      if (sector == nullptr || hops > sectors_) return false;
      const size_t ids = sector_size_ / 4 - 1;
      for (size_t i = 0; i < ids && fat_sectors.size() < fat_count; ++i) {
        fat_sectors.push_back(U32(sector + 4 * i));
      }
      difat = U32(sector + 4 * ids);
    }
    fat_.reserve(fat_sectors.size() * (sector_size_ / 4));
    for (const uint32_t id : fat_sectors) {
      const unsigned char* sector = Sector(id);
      if (sector == nullptr) return false;
      for (size_t i = 0; i < sector_size_; i += 4) fat_.push_back(U32(sector + i));
    }
    return ReadChain(U32(data_ + 0x30), directory_);
  }

  // The bytes of the stream named `name` (ASCII) or `alternative`, or false. `offsets` receives
  // the file offset of each `unit`-byte piece of the stream.
  bool ReadStream(std::string_view name, std::string_view alternative, std::string& out,
                  std::vector<size_t>& offsets, size_t& unit) {
    const unsigned char* root = nullptr;
    const unsigned char* found = nullptr;
    for (size_t at = 0; at + 128 <= directory_.size(); at += 128) {
      const auto* entry = reinterpret_cast<const unsigned char*>(directory_.data() + at);
      const uint8_t type = entry[66];
      if (type == 5 && root == nullptr) root = entry;
      if (type == 2 && found == nullptr && (NameIs(entry, name) || NameIs(entry, alternative))) {
        found = entry;
      }
    }
    if (found == nullptr) return false;
    const uint32_t start = U32(found + 116);
    const uint32_t size = U32(found + 120);
    if (size >= mini_cutoff_) {
      unit = sector_size_;
      if (!ReadChain(start, out, &offsets)) return false;
    } else {
      // Small streams live in 64-byte mini sectors inside the root entry's stream.
      if (root == nullptr) return false;
      std::string container;
      std::vector<size_t> container_offsets;
      std::string mini_fat;
      if (!ReadChain(U32(root + 116), container, &container_offsets) ||
          !ReadChain(U32(data_ + 0x3C), mini_fat)) {
        return false;
      }
      unit = 64;
      const size_t entries = mini_fat.size() / 4;
      uint32_t id = start;
      for (size_t hops = 0; id != kEndOfChain; ++hops) {
        if (id >= entries || hops > entries || (size_t{id} + 1) * 64 > container.size()) {
          return false;
        }
        out.append(container, size_t{id} * 64, 64);
        offsets.push_back(container_offsets[size_t{id} * 64 / sector_size_] +
                          size_t{id} * 64 % sector_size_);
        id = U32(reinterpret_cast<const unsigned char*>(mini_fat.data()) + 4 * size_t{id});
      }
    }
    if (out.size() > size) out.resize(size);
    return true;
  }

 private:
  const unsigned char* Sector(uint32_t id) const {
    if (id >= sectors_) return nullptr;
    return data_ + (size_t{id} + 1) * sector_size_;
  }

  bool ReadChain(uint32_t id, std::string& out, std::vector<size_t>* offsets = nullptr) const {
    for (size_t hops = 0; id != kEndOfChain; ++hops) {
      const unsigned char* sector = Sector(id);
      if (sector == nullptr || id >= fat_.size() || hops > sectors_) return false;
      out.append(reinterpret_cast<const char*>(sector), sector_size_);
      if (offsets != nullptr) offsets->push_back(static_cast<size_t>(sector - data_));
      id = fat_[id];
    }
    return true;
  }

  static bool NameIs(const unsigned char* entry, std::string_view name) {
    const uint16_t bytes = U16(entry + 64);  // including the UTF-16 NUL
    if (name.empty() || bytes != 2 * (name.size() + 1)) return false;
    for (size_t i = 0; i < name.size(); ++i) {
      if (entry[2 * i] != static_cast<unsigned char>(name[i]) || entry[2 * i + 1] != 0) {
        return false;
      }
    }
    return true;
  }

  const unsigned char* data_;
  size_t size_;
  size_t sector_size_ = 512;
  size_t sectors_ = 0;
  uint32_t mini_cutoff_ = 4096;
  std::vector<uint32_t> fat_;
  std::string directory_;
};

struct Record {
  uint16_t type = 0;
  const unsigned char* body = nullptr;
  uint16_t size = 0;
  size_t offset = 0;  // of the body in the stream
};

// Walks the records of a BIFF stream.
class Records {
 public:
  explicit Records(std::string_view stream, size_t pos = 0)
      : data_(reinterpret_cast<const unsigned char*>(stream.data())),
        size_(stream.size()),
        pos_(pos) {}

  bool Next(Record& record) {
    if (pos_ > size_ || size_ - pos_ < 4) return false;
    const uint16_t size = U16(data_ + pos_ + 2);
    if (size_ - pos_ - 4 < size) return false;
    record = {U16(data_ + pos_), data_ + pos_ + 4, size, pos_ + 4};
    pos_ += 4 + size_t{size};
    return true;
  }

  // The type of the next record, or 0 at the end.
  uint16_t PeekType() const {
    if (pos_ > size_ || size_ - pos_ < 4) return 0;
    return U16(data_ + pos_);
  }

 private:
  const unsigned char* data_;
  size_t size_;
  size_t pos_;
};

// Appends UTF-16LE code units (from 8-bit "compressed" or 16-bit characters) to `utf16`.
void AppendChars(const unsigned char* p, size_t count, bool high_byte, std::string& utf16) {
  for (size_t i = 0; i < count; ++i) {
    utf16 += static_cast<char>(high_byte ? p[2 * i] : p[i]);
    utf16 += static_cast<char>(high_byte ? p[2 * i + 1] : 0);
  }
}

void AppendUtf16AsUtf8(const std::string& utf16, std::string& out) {
  const size_t start = out.size();
  out.resize(start + 3 * (utf16.size() / 2) + 3);
  size_t written = 0;
  Utf16ToUtf8(reinterpret_cast<const unsigned char*>(utf16.data()), utf16.size(),
              /*big_endian=*/false, /*final=*/true, out.data() + start, &written);
  out.resize(start + written);
}

// The BIFF8 STRING record `record` (a formula's string result), continued in CONTINUE records.
std::string ReadStringRecord(const Record& record, Records& records, bool biff8) {
  std::string text;
  if (record.size < 2) return text;
  size_t remaining = U16(record.body);
  if (!biff8) {
    AppendWindows1252AsUtf8(std::string_view(reinterpret_cast<const char*>(record.body + 2),
                                             std::min<size_t>(remaining, record.size - 2u)),
                            text);
    return text;
  }
  std::string utf16;
  const unsigned char* p = record.body + 2;
  size_t available = record.size - 2u;
  while (remaining > 0 && available > 0) {
    const bool high_byte = (*p & 0x01) != 0;
    ++p;
    --available;
    const size_t count = std::min(remaining, high_byte ? available / 2 : available);
    AppendChars(p, count, high_byte, utf16);
    remaining -= count;
    if (remaining == 0 || records.PeekType() != kContinue) break;
    Record next;
    if (!records.Next(next)) break;
    p = next.body;
    available = next.size;
  }
  AppendUtf16AsUtf8(utf16, text);
  return text;
}

// An RK number: a 30-bit integer or the top 30 bits of a double, optionally divided by 100.
double RkValue(uint32_t rk) {
  double value;
  if ((rk & 0x02) != 0) {
    value = static_cast<double>(static_cast<int32_t>(rk) >> 2);
  } else {
    const uint64_t bits = static_cast<uint64_t>(rk & 0xFFFFFFFCu) << 32;
    std::memcpy(&value, &bits, sizeof(value));
  }
  return (rk & 0x01) != 0 ? value / 100 : value;
}

// True when the string of a FORMAT or LABEL record, as FreeXL 1.0.6 reads it, runs past the end
// of the record. BIFF8: a 16-bit character count at `count_at`, then a flags byte (bit 0: 16-bit
// characters; bit 3: a 2-byte rich-text run count follows; bit 2: a 4-byte extension size).
// BIFF5: FreeXL reads FORMAT's 8-bit count at offset 3 and the characters from offset 3 (sic),
// LABEL's 16-bit count at 6 and the characters from 8.
bool StringOverruns(const Record& record, bool biff8) {
  if (record.type != kFormat && record.type != 0x0204) return false;
  const bool label = record.type == 0x0204;
  size_t need;
  if (biff8) {
    const size_t count_at = label ? 6 : 2;
    if (record.size < count_at + 3) return true;
    const size_t count = U16(record.body + count_at);
    const uint8_t flags = record.body[count_at + 2];
    need = count_at + 3 + ((flags & 0x08) ? 2 : 0) + ((flags & 0x04) ? 4 : 0) +
           count * ((flags & 0x01) ? 2 : 1);
  } else if (label) {
    if (record.size < 8) return true;
    need = 8 + size_t{U16(record.body + 6)};
  } else {
    if (record.size < 4) return true;
    need = 3 + size_t{record.body[3]};
  }
  return need > record.size;
}

bool IsCellRecord(uint16_t type) {
  switch (type) {
    case 0x0201:  // BLANK
    case kNumber:
    case 0x0204:  // LABEL
    case 0x00FD:  // LABELSST
    case kRk:
    case kMulRk:
    case 0x00BE:  // MULBLANK
    case kBoolErr:
    case kFormula:
      return true;
    default:
      return false;
  }
}

}  // namespace

BiffScanStatus ScanBiff(const unsigned char* data, size_t size, BiffScan& scan) {
  using Status = BiffScanStatus;
  scan = BiffScan();
  CompoundFile file(data, size);
  std::string stream;
  std::vector<size_t> offsets;
  size_t unit = 1;
  if (!file.Open() || !file.ReadStream("Workbook", "Book", stream, offsets, unit)) {
    return Status::kInvalid;
  }
  auto file_offset = [&](size_t stream_offset) {
    return offsets[stream_offset / unit] + stream_offset % unit;
  };

  // Globals: version, sheets, formats, date system.
  Records globals(stream);
  Record record;
  if (!globals.Next(record) || record.type != kBof || record.size < 4) return Status::kInvalid;
  const uint16_t version = U16(record.body);
  if (version != 0x0600 && version != 0x0500) return Status::kInvalid;
  const bool biff8 = version == 0x0600;
  {
    Records all(stream);
    Record any;
    while (all.Next(any)) {
      if (StringOverruns(any, biff8)) {
        scan.overrun = true;
        return Status::kOk;
      }
    }
  }
  std::vector<std::pair<uint32_t, uint8_t>> sheets;  // stream offset, type
  std::vector<uint16_t> xf_formats;                  // XF index → format id
  std::vector<std::pair<uint16_t, std::string>> formats;
  bool date1904 = false;
  while (globals.Next(record) && record.type != kEof) {
    switch (record.type) {
      case kFilePass:
        return Status::kEncrypted;  // nothing below is readable
      case kBoundSheet:
        if (record.size >= 6) sheets.emplace_back(U32(record.body), record.body[5]);
        break;
      case kXf:
        if (record.size >= 4) {
          xf_formats.push_back(U16(record.body + 2));
          scan.general_format_patches.push_back(file_offset(record.offset + 2));
          scan.general_format_patches.push_back(file_offset(record.offset + 3));
        }
        break;
      case kDateMode:
        if (record.size >= 2) date1904 = U16(record.body) == 1;
        break;
      case kFormat:
        if (biff8 && record.size >= 5) {
          const size_t count = U16(record.body + 2);
          const bool high_byte = (record.body[4] & 0x01) != 0;
          const size_t available = (record.size - 5u) / (high_byte ? 2 : 1);
          std::string utf16;
          AppendChars(record.body + 5, std::min(count, available), high_byte, utf16);
          std::string code;
          AppendUtf16AsUtf8(utf16, code);
          formats.emplace_back(U16(record.body), std::move(code));
        } else if (!biff8 && record.size >= 3) {
          const size_t count = std::min<size_t>(record.body[2], record.size - 3u);
          formats.emplace_back(U16(record.body),
                               std::string(reinterpret_cast<const char*>(record.body + 3), count));
        }
        break;
      default:
        break;
    }
  }

  // The first worksheet (BOUNDSHEET type 0); FreeXL numbers sheets in the same order.
  size_t sheet = 0;
  while (sheet < sheets.size() && sheets[sheet].second != 0) ++sheet;
  if (sheet == sheets.size()) return sheets.empty() ? Status::kInvalid : Status::kNoWorksheet;
  scan.worksheet_index = static_cast<int>(sheet);

  auto is_date = [&](uint16_t xf) {
    if (xf >= xf_formats.size()) return false;
    const uint16_t id = xf_formats[xf];
    std::string_view code;
    for (const auto& [format_id, format_code] : formats) {
      if (format_id == id) code = format_code;
    }
    return IsDateFormat(id, code);
  };

  Records cells(stream, sheets[sheet].first);
  if (!cells.Next(record) || record.type != kBof) return Status::kInvalid;
  bool pending_string = false;  // the last FORMULA had a string result: STRING comes next
  while (cells.Next(record) && record.type != kEof) {
    if (IsCellRecord(record.type)) pending_string = false;
    if (record.type == kBoolErr && record.size >= 8) {
      const bool error = record.body[7] != 0;
      scan.cells.push_back({U16(record.body), U16(record.body + 2),
                            error ? "" : (record.body[6] != 0 ? "true" : "false")});
    } else if (record.type == kFormula && record.size >= 14) {
      BiffCell cell{U16(record.body), U16(record.body + 2), ""};
      const unsigned char* value = record.body + 6;
      if (U16(value + 6) == 0xFFFF) {
        switch (value[0]) {
          case 0:  // string: in the STRING record that follows
            pending_string = true;
            break;
          case 1:
            cell.text = value[2] != 0 ? "true" : "false";
            break;
          default:  // 2: error, 3: empty string
            break;
        }
      } else {
        double number;
        std::memcpy(&number, value, sizeof(number));
        if (is_date(U16(record.body + 4))) {
          AppendExcelDateText(number, date1904, cell.text);
        } else {
          AppendNumberText(number, cell.text);
        }
      }
      scan.cells.push_back(std::move(cell));
    } else if (record.type == kNumber && record.size >= 14) {
      const uint16_t xf = U16(record.body + 4);
      if (is_date(xf)) {
        double number;
        std::memcpy(&number, record.body + 6, sizeof(number));
        BiffCell cell{U16(record.body), U16(record.body + 2), ""};
        AppendExcelDateText(number, date1904, cell.text);
        scan.cells.push_back(std::move(cell));
      }
    } else if (record.type == kRk && record.size >= 10) {
      if (is_date(U16(record.body + 4))) {
        BiffCell cell{U16(record.body), U16(record.body + 2), ""};
        AppendExcelDateText(RkValue(U32(record.body + 6)), date1904, cell.text);
        scan.cells.push_back(std::move(cell));
      }
    } else if (record.type == kMulRk && record.size >= 12) {
      const uint16_t row = U16(record.body);
      uint16_t column = U16(record.body + 2);
      for (size_t at = 4; at + 6 + 2 <= record.size; at += 6, ++column) {
        if (!is_date(U16(record.body + at))) continue;
        BiffCell cell{row, column, ""};
        AppendExcelDateText(RkValue(U32(record.body + at + 2)), date1904, cell.text);
        scan.cells.push_back(std::move(cell));
      }
    } else if (record.type == kString && pending_string && !scan.cells.empty()) {
      scan.cells.back().text = ReadStringRecord(record, cells, biff8);
      pending_string = false;
    }
  }

  std::stable_sort(scan.cells.begin(), scan.cells.end(), [](const BiffCell& a, const BiffCell& b) {
    return a.row != b.row ? a.row < b.row : a.column < b.column;
  });
  return Status::kOk;
}

}  // namespace nexus::ingest
