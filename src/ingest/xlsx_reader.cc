#include "ingest/xlsx_reader.h"

#include "core/utf8.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "core/status.h"
#include "fmt/format.h"
#include "ingest/cell_format.h"
#include "ingest/xml_stream.h"
#include "ingest/zip_archive.h"

namespace nexus::ingest {
namespace {

constexpr int64_t kMaxExcelRow = 1'048'576;
constexpr int32_t kMaxExcelColumns = 16'384;  // A .. XFD
constexpr size_t kMaxRelationships = 100'000;
constexpr size_t kMaxCellFormats = 1'000'000;
constexpr uint64_t kMaxMimetypeBytes = 1024;
constexpr size_t kPartBufferBytes = 64 * 1024;
constexpr std::string_view kTrue = "true";
constexpr std::string_view kFalse = "false";

constexpr const char* kXlsbMessage = "this is an .xlsb workbook: save as .xlsx or .csv";
constexpr const char* kXlsmMessage =
    "this is a macro-enabled workbook (.xlsm): save as .xlsx or .csv";
constexpr const char* kOdsMessage =
    "this is an OpenDocument spreadsheet (.ods): save as .xlsx or .csv";

inline bool IsAsciiSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

inline bool IsBlank(std::string_view text) {
  for (const char c : text) {
    if (!IsAsciiSpace(c)) return false;
  }
  return true;
}

std::string_view TrimAscii(std::string_view text) {
  while (!text.empty() && IsAsciiSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsAsciiSpace(text.back())) text.remove_suffix(1);
  return text;
}

inline char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string AsciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = Lower(c);
  return out;
}

bool EndsWithIgnoreCase(std::string_view text, std::string_view suffix) {
  if (text.size() < suffix.size()) return false;
  text = text.substr(text.size() - suffix.size());
  for (size_t i = 0; i < suffix.size(); ++i) {
    if (Lower(text[i]) != Lower(suffix[i])) return false;
  }
  return true;
}

// Raw text kept for one cell or shared string before its _xHHHH_ escapes are decoded (which can
// shrink it 7 to 1): 8 × max_cell_bytes + 1 KiB, saturating.
size_t RawTextLimit(size_t max_cell_bytes) {
  constexpr size_t kHuge = size_t{1} << 40;
  return max_cell_bytes >= kHuge ? kHuge * 8 : max_cell_bytes * 8 + 1024;
}

// A plain unsigned decimal (digits only, at most 18 of them).
bool ParseUint(std::string_view text, uint64_t& value) {
  if (text.empty() || text.size() > 18) return false;
  value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return true;
}

// "C7" → column 2 (0-based), row 7. Letters (1-3, any case) then digits (1-10). Ranges are the
// caller's to check.
bool ParseCellRef(std::string_view ref, int32_t& column, int64_t& row) {
  size_t i = 0;
  int32_t letters = 0;
  while (i < ref.size() && i < 4) {
    const char c = Lower(ref[i]);
    if (c < 'a' || c > 'z') break;
    letters = letters * 26 + (c - 'a' + 1);
    ++i;
  }
  if (i == 0 || i > 3) return false;
  uint64_t number = 0;
  const std::string_view digits = ref.substr(i);
  if (digits.size() > 10 || !ParseUint(digits, number)) return false;
  column = letters - 1;
  row = static_cast<int64_t>(number);
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  const char l = Lower(c);
  if (l >= 'a' && l <= 'f') return l - 'a' + 10;
  return -1;
}

// The code unit of an OOXML escape "_xHHHH_" at text[i], or -1.
int EscapeAt(std::string_view text, size_t i) {
  if (i + 7 > text.size() || text[i] != '_' || text[i + 1] != 'x' || text[i + 6] != '_') {
    return -1;
  }
  int value = 0;
  for (size_t k = i + 2; k < i + 6; ++k) {
    const int digit = HexDigit(text[k]);
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

// Decodes the OOXML escapes "_xHHHH_" (UTF-16 code units; Excel writes control characters such
// as CR this way, and "_x005F_" for a literal '_' before "x...") in text[from..), in place.
// _x0000_ and unpaired surrogates stay as written.
void DecodeEscapes(std::string& text, size_t from) {
  size_t r = text.find('_', from);
  if (r == std::string::npos) return;
  size_t w = r;
  while (r < text.size()) {
    if (text[r] == '_') {
      const int unit = EscapeAt(text, r);
      uint32_t cp = 0;
      size_t length = 7;
      if (unit >= 0xD800 && unit <= 0xDBFF) {
        const int low = EscapeAt(text, r + 7);
        if (low >= 0xDC00 && low <= 0xDFFF) {
          cp = 0x10000 + ((static_cast<uint32_t>(unit) - 0xD800) << 10) +
               (static_cast<uint32_t>(low) - 0xDC00);
          length = 14;
        }
      } else if (unit > 0 && (unit < 0xDC00 || unit > 0xDFFF)) {
        cp = static_cast<uint32_t>(unit);
      }
      if (cp != 0) {
        w += core::EncodeUtf8(cp, &text[w]);  // at most 4 bytes for at least 7 read: w stays behind r
        r += length;
        continue;
      }
    }
    text[w++] = text[r++];
  }
  text.resize(w);
}

// The folder of a part name, with its trailing '/': "xl/workbook.xml" → "xl/".
std::string_view FolderOf(std::string_view part) {
  const size_t slash = part.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : part.substr(0, slash + 1);
}

// A relationship target resolved against the folder of its source part: "worksheets/s1.xml"
// from "xl/" → "xl/worksheets/s1.xml"; "/xl/s.xml" is absolute; "." and ".." are resolved.
// Empty when the target climbs above the package root.
std::string ResolvePart(std::string_view folder, std::string_view target) {
  std::string path;
  if (!target.empty() && (target.front() == '/' || target.front() == '\\')) {
    path.assign(target.substr(1));
  } else {
    path.assign(folder);
    path += target;
  }
  std::vector<std::string_view> segments;
  std::string_view rest = path;
  while (!rest.empty()) {
    const size_t slash = rest.find_first_of("/\\");
    const std::string_view segment = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (segments.empty()) return std::string();
      segments.pop_back();
      continue;
    }
    segments.push_back(segment);
  }
  std::string out;
  for (const std::string_view segment : segments) {
    if (!out.empty()) out += '/';
    out += segment;
  }
  return out;
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && HexDigit(text[i + 1]) >= 0 &&
        HexDigit(text[i + 2]) >= 0) {
      out += static_cast<char>(HexDigit(text[i + 1]) * 16 + HexDigit(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

bool XmlTrue(const char* value) {
  if (value == nullptr) return false;
  const std::string_view v = TrimAscii(value);
  return v == "1" || v == "true";
}

// ---- Handlers for the small parts ---------------------------------------------------------

class PartHandler : public XmlHandler {
 public:
  void Attach(XmlParser* parser) { parser_ = parser; }
  std::string ErrorPrefix() const override { return "invalid XLSX file: "; }
  void EndElement(std::string_view /*name*/) override {}
  void Text(std::string_view /*text*/) override {}

 protected:
  void Fail(absl::Status status) { parser_->Fail(std::move(status)); }

 private:
  XmlParser* parser_ = nullptr;
};

struct Relationship {
  std::string id;
  std::string type;
  std::string target;
  bool external = false;

  // True when the type URI ends in "/<kind>" (transitional and strict namespaces alike).
  bool Is(std::string_view kind) const {
    return type.size() > kind.size() && type[type.size() - kind.size() - 1] == '/' &&
           EndsWithIgnoreCase(type, kind);
  }
};

class RelationshipsHandler final : public PartHandler {
 public:
  void StartElement(std::string_view name, const char** attributes) override {
    if (name != "Relationship") return;
    if (relationships.size() >= kMaxRelationships) {
      Fail(absl::InvalidArgumentError(
          fmt::format("invalid XLSX file: more than {} relationships", kMaxRelationships)));
      return;
    }
    const char* id = XmlAttribute(attributes, "Id");
    const char* type = XmlAttribute(attributes, "Type");
    const char* target = XmlAttribute(attributes, "Target");
    const char* mode = XmlAttribute(attributes, "TargetMode");
    if (id == nullptr || type == nullptr || target == nullptr) return;
    relationships.push_back(
        Relationship{id, type, target, mode != nullptr && std::string_view(mode) == "External"});
  }

  const Relationship* Find(std::string_view id) const {
    for (const Relationship& r : relationships) {
      if (r.id == id) return &r;
    }
    return nullptr;
  }
  const Relationship* FindType(std::string_view kind) const {
    for (const Relationship& r : relationships) {
      if (!r.external && r.Is(kind)) return &r;
    }
    return nullptr;
  }

  std::vector<Relationship> relationships;
};

// Finds the content type of one part in [Content_Types].xml.
class ContentTypesHandler final : public PartHandler {
 public:
  explicit ContentTypesHandler(std::string_view part)
      : key_(ZipArchive::NormalizeName(part)),
        extension_(AsciiLower(part.substr(part.rfind('.') + 1))) {}

  void StartElement(std::string_view name, const char** attributes) override {
    const char* type = XmlAttribute(attributes, "ContentType");
    if (type == nullptr) return;
    if (name == "Override") {
      const char* part = XmlAttribute(attributes, "PartName");
      if (part != nullptr && ZipArchive::NormalizeName(part) == key_) override_type_ = type;
    } else if (name == "Default") {
      const char* extension = XmlAttribute(attributes, "Extension");
      if (extension != nullptr && AsciiLower(extension) == extension_) default_type_ = type;
    }
  }

  std::string type() const { return override_type_.empty() ? default_type_ : override_type_; }

 private:
  const std::string key_;
  const std::string extension_;
  std::string override_type_;
  std::string default_type_;
};

// The date system and the first worksheet of xl/workbook.xml.
class WorkbookHandler final : public PartHandler {
 public:
  explicit WorkbookHandler(const RelationshipsHandler& relationships)
      : relationships_(relationships) {}

  void StartElement(std::string_view name, const char** attributes) override {
    if (name == "workbookPr") {
      date1904 = XmlTrue(XmlAttribute(attributes, "date1904"));
    } else if (name == "sheet" && sheet == nullptr) {
      const char* id = XmlAttribute(attributes, "id");  // r:id
      const Relationship* r = id == nullptr ? nullptr : relationships_.Find(id);
      if (r == nullptr || r->external || !r->Is("worksheet")) return;  // chartsheet etc.
      sheet = r;
      const char* sheet_name = XmlAttribute(attributes, "name");
      name_ = sheet_name == nullptr ? "" : sheet_name;
      const char* state = XmlAttribute(attributes, "state");
      hidden = state != nullptr && std::string_view(state) != "visible";
    }
  }

  bool date1904 = false;
  const Relationship* sheet = nullptr;
  std::string name_;
  bool hidden = false;

 private:
  const RelationshipsHandler& relationships_;
};

// Which cell formats (cellXfs, indexed by a cell's s attribute) show dates.
class StylesHandler final : public PartHandler {
 public:
  void StartElement(std::string_view name, const char** attributes) override {
    ++depth_;
    if (name == "numFmts") {
      num_fmts_depth_ = depth_;
    } else if (name == "cellXfs") {
      cell_xfs_depth_ = depth_;
    } else if (name == "numFmt" && num_fmts_depth_ > 0 && depth_ == num_fmts_depth_ + 1) {
      uint64_t id = 0;
      const char* id_text = XmlAttribute(attributes, "numFmtId");
      const char* code = XmlAttribute(attributes, "formatCode");
      if (id_text == nullptr || code == nullptr || !ParseUint(id_text, id) || id > 1'000'000) {
        return;
      }
      if (custom_.size() >= kMaxCellFormats) return Fail(TooMany());
      custom_[static_cast<int>(id)] = IsDateFormat(static_cast<int>(id), code);
    } else if (name == "xf" && cell_xfs_depth_ > 0 && depth_ == cell_xfs_depth_ + 1) {
      if (xf_formats_.size() >= kMaxCellFormats) return Fail(TooMany());
      uint64_t id = 0;
      const char* id_text = XmlAttribute(attributes, "numFmtId");
      if (id_text == nullptr || !ParseUint(id_text, id) || id > 1'000'000) id = 0;
      xf_formats_.push_back(static_cast<int>(id));
    }
  }

  void EndElement(std::string_view /*name*/) override {
    if (depth_ == num_fmts_depth_) num_fmts_depth_ = -1;
    if (depth_ == cell_xfs_depth_) cell_xfs_depth_ = -1;
    --depth_;
  }

  // After the parse (numFmts may legally come anywhere before use; we resolve at the end).
  std::vector<uint8_t> DateStyles() const {
    std::vector<uint8_t> out(xf_formats_.size());
    for (size_t i = 0; i < xf_formats_.size(); ++i) {
      const auto it = custom_.find(xf_formats_[i]);
      out[i] = it != custom_.end() ? it->second : IsDateFormat(xf_formats_[i], "");
    }
    return out;
  }

 private:
  static absl::Status TooMany() {
    return absl::InvalidArgumentError(
        fmt::format("invalid XLSX file: more than {} cell formats", kMaxCellFormats));
  }

  int depth_ = 0;
  int num_fmts_depth_ = -1;
  int cell_xfs_depth_ = -1;
  absl::flat_hash_map<int, bool> custom_;
  std::vector<int> xf_formats_;
};

// The shared strings table, compact: all texts in one arena, item i at [starts[i], starts[i+1]).
// Items longer than max_cell_bytes are stored empty and listed in too_long (sorted): the error
// comes when a cell uses one, naming its row.
struct SharedStrings {
  std::string arena;
  std::vector<uint64_t> starts{0};
  std::vector<uint32_t> too_long;

  size_t size() const { return starts.size() - 1; }
  std::string_view Get(size_t i) const {
    return std::string_view(arena.data() + starts[i], starts[i + 1] - starts[i]);
  }
  bool TooLong(size_t i) const {
    return !too_long.empty() && std::binary_search(too_long.begin(), too_long.end(), i);
  }
};

class SharedStringsHandler final : public PartHandler {
 public:
  SharedStringsHandler(SharedStrings& out, size_t max_cell_bytes, int64_t max_items,
                       uint64_t declared_size)
      : out_(out),
        max_cell_bytes_(max_cell_bytes),
        raw_limit_(RawTextLimit(max_cell_bytes)),
        max_items_(max_items),
        declared_size_(declared_size) {}

  void StartElement(std::string_view name, const char** attributes) override {
    ++depth_;
    if (si_depth_ < 0) {
      if (name == "si") {
        if (static_cast<int64_t>(out_.size()) >= max_items_) {
          return Fail(absl::InvalidArgumentError(fmt::format(
              "workbook has more than {} shared strings (limit {})", max_items_, max_items_)));
        }
        si_depth_ = depth_;
        item_start_ = out_.arena.size();
        item_too_long_ = false;
      } else if (name == "sst") {
        Reserve(XmlAttribute(attributes, "uniqueCount"));
      }
      return;
    }
    if (name == "rPh") {  // phonetic guide (furigana): not part of the text
      if (rph_depth_ < 0) rph_depth_ = depth_;
    } else if (name == "t" && rph_depth_ < 0 && t_depth_ < 0) {
      t_depth_ = depth_;
    }
  }

  void EndElement(std::string_view /*name*/) override {
    if (depth_ == t_depth_) t_depth_ = -1;
    if (depth_ == rph_depth_) rph_depth_ = -1;
    if (depth_ == si_depth_) {
      si_depth_ = -1;
      std::string& arena = out_.arena;
      if (!item_too_long_) {
        DecodeEscapes(arena, item_start_);
        item_too_long_ = arena.size() - item_start_ > max_cell_bytes_;
      }
      if (item_too_long_) {
        arena.resize(item_start_);
        out_.too_long.push_back(static_cast<uint32_t>(out_.size()));
      }
      out_.starts.push_back(arena.size());
    }
    --depth_;
  }

  void Text(std::string_view text) override {
    if (t_depth_ < 0 || item_too_long_) return;
    if (out_.arena.size() - item_start_ + text.size() > raw_limit_) {
      item_too_long_ = true;
      return;
    }
    out_.arena.append(text);
  }

 private:
  // Reserves address space for the table from the part's declared size (untouched pages cost no
  // memory) and the declared count, so the arena never reallocates while it is filled.
  void Reserve(const char* unique_count) {
    uint64_t count = 0;
    if (unique_count != nullptr && ParseUint(TrimAscii(unique_count), count)) {
      count = std::min({count, static_cast<uint64_t>(max_items_), declared_size_ / 5});
      out_.starts.reserve(count + 1);
    }
    out_.arena.reserve(std::min<uint64_t>(declared_size_, uint64_t{1} << 32));
  }

  SharedStrings& out_;
  const size_t max_cell_bytes_;
  const size_t raw_limit_;  // raw text kept per item before escapes are decoded
  const int64_t max_items_;
  const uint64_t declared_size_;
  int depth_ = 0;
  int si_depth_ = -1;
  int rph_depth_ = -1;
  int t_depth_ = -1;
  size_t item_start_ = 0;
  bool item_too_long_ = false;
};

enum class CellType : uint8_t {
  kNumber,
  kSharedString,
  kInlineString,
  kFormulaString,
  kBoolean,
  kError,
  kDate,
  kOther
};

CellType ParseCellType(const char* t) {
  if (t == nullptr) return CellType::kNumber;
  const std::string_view type = t;
  if (type == "s") return CellType::kSharedString;
  if (type == "n") return CellType::kNumber;
  if (type == "str") return CellType::kFormulaString;
  if (type == "inlineStr") return CellType::kInlineString;
  if (type == "b") return CellType::kBoolean;
  if (type == "e") return CellType::kError;
  if (type == "d") return CellType::kDate;
  return CellType::kOther;
}

bool IsIsoDate(std::string_view text) {
  if (text.size() < 10) return false;
  for (size_t i = 0; i < 10; ++i) {
    const bool digit = text[i] >= '0' && text[i] <= '9';
    if ((i == 4 || i == 7) ? text[i] != '-' : !digit) return false;
  }
  return true;
}

}  // namespace

// ---- The reader ---------------------------------------------------------------------------

struct XlsxReader::State final : public XmlHandler {
  struct QueuedCell {
    int32_t column;
    uint32_t size;
    const char* stable;  // text outside the queue (shared string, literal), or nullptr
    uint64_t offset;     // else: its offset in `text`
  };
  struct QueuedRow {
    int64_t number;
    size_t first;  // in cells_queue
    size_t count;
  };

  State(const ReadLimits& read_limits, const XlsxOptions& xlsx_options)
      : limits(read_limits), options(xlsx_options) {
    xml_limits.max_depth = options.max_xml_depth;
    xml_limits.max_attributes = options.max_xml_attributes;
    xml_limits.max_token_bytes =
        std::min<size_t>(limits.max_cell_bytes, size_t{1} << 40) + 64 * 1024;
    raw_cell_limit = RawTextLimit(limits.max_cell_bytes);
    chunk_size = std::max<size_t>(options.chunk_bytes, 1);
  }

  absl::Status Open(std::unique_ptr<ZipArchive> archive);
  absl::Status ParsePart(const ZipArchive::Entry& entry, uint64_t max_bytes, PartHandler& handler);
  absl::Status Refill();
  void Compact();
  bool Finish(const QueuedRow& queued, Row& row);

  // XmlHandler, for the sheet.
  void StartElement(std::string_view name, const char** attributes) override;
  void EndElement(std::string_view name) override;
  void Text(std::string_view text) override;
  std::string ErrorPrefix() const override { return fmt::format("row {}: ", CurrentRow()); }

  void StartRow(const char** attributes);
  void EndRow();
  void StartCell(const char** attributes);
  void EndCell();
  void Fail(absl::Status status) { parser->Fail(std::move(status)); }
  int64_t CurrentRow() const { return in_row ? row_number : last_row + 1; }
  std::string_view View(const QueuedCell& cell) const {
    return cell.stable != nullptr ? std::string_view(cell.stable, cell.size)
                                  : std::string_view(text.data() + cell.offset, cell.size);
  }

  const ReadLimits limits;
  const XlsxOptions options;
  XmlLimits xml_limits;
  size_t raw_cell_limit;  // raw bytes of one cell's text kept before escapes are decoded
  size_t chunk_size;

  std::unique_ptr<ZipArchive> zip;
  std::string sheet_name;
  bool sheet_hidden = false;
  bool date1904 = false;
  SharedStrings shared;
  std::vector<uint8_t> date_styles;

  // Streaming the sheet. Declared after `zip`: destroyed before it.
  std::unique_ptr<ZipArchive::EntryStream> sheet;
  std::unique_ptr<XmlParser> parser;
  std::unique_ptr<char[]> chunk;
  bool done = false;
  absl::Status error;          // returned by Next() from now on
  absl::Status pending_error;  // returned once the rows queued before it are out
  int64_t error_cells = 0;

  // Rows completed by the current chunk, waiting for Next(); the row being assembled follows.
  std::string text;
  std::vector<QueuedCell> cells_queue;
  std::vector<QueuedRow> rows_queue;
  size_t next_row = 0;

  // Where the sheet parser is.
  int depth = 0;
  int sheet_data_depth = -1;
  int is_depth = -1;       // <is> of an inline string cell
  int rph_depth = -1;      // <rPh> inside it
  int collect_depth = -1;  // the element whose text is the cell's (<v>, or <t> inside <is>)
  bool in_row = false;
  bool in_cell = false;
  bool row_number_known = false;  // from <row r>, or from the first cell
  bool row_nonblank = false;
  int64_t row_number = 0;
  int64_t last_row = 0;
  int32_t last_column = -1;
  size_t row_first_cell = 0;
  size_t row_first_text = 0;
  int32_t cell_column = 0;
  CellType cell_type = CellType::kNumber;
  uint64_t cell_style = 0;
  std::string cell_text;
  bool cell_text_too_long = false;

  // What Next() hands out.
  std::vector<std::string_view> cells;
  int64_t header_width = -1;
  int64_t data_rows = 0;
};

absl::Status XlsxReader::State::ParsePart(const ZipArchive::Entry& entry, uint64_t max_bytes,
                                          PartHandler& handler) {
  NEXUS_ASSIGN_OR_RETURN(std::unique_ptr<ZipArchive::EntryStream> stream,
                         zip->OpenEntry(entry, max_bytes));
  XmlParser part_parser(handler, xml_limits, entry.name);
  handler.Attach(&part_parser);
  for (;;) {
    NEXUS_ASSIGN_OR_RETURN(const size_t n, stream->Read(chunk.get(), kPartBufferBytes));
    NEXUS_RETURN_IF_ERROR(part_parser.Parse(std::string_view(chunk.get(), n), n == 0));
    if (n == 0) return absl::OkStatus();
  }
}

absl::Status XlsxReader::State::Open(std::unique_ptr<ZipArchive> archive) {
  zip = std::move(archive);
  chunk.reset(new char[std::max(chunk_size, kPartBufferBytes)]);

  // Other ZIP-based formats first: they have no [Content_Types].xml.
  if (const ZipArchive::Entry* mimetype = zip->Find("mimetype")) {
    absl::StatusOr<std::string> type = zip->ReadEntry(*mimetype, kMaxMimetypeBytes);
    if (type.ok() && type->starts_with("application/vnd.oasis.opendocument.spreadsheet")) {
      return absl::InvalidArgumentError(kOdsMessage);
    }
    if (type.ok() && type->starts_with("application/vnd.oasis.opendocument")) {
      return absl::InvalidArgumentError("not an XLSX workbook (an OpenDocument file)");
    }
  }
  const ZipArchive::Entry* content_types = zip->Find("[Content_Types].xml");
  if (content_types == nullptr) {
    if (zip->Find("xl/workbook.bin") != nullptr) return absl::InvalidArgumentError(kXlsbMessage);
    return absl::InvalidArgumentError("not an XLSX workbook (a ZIP without [Content_Types].xml)");
  }

  // The workbook part: the package's officeDocument relationship, else the usual name.
  std::string workbook_part;
  if (const ZipArchive::Entry* root_rels = zip->Find("_rels/.rels")) {
    RelationshipsHandler rels;
    NEXUS_RETURN_IF_ERROR(ParsePart(*root_rels, options.max_small_part_bytes, rels));
    if (const Relationship* main = rels.FindType("officeDocument")) {
      workbook_part = ResolvePart("", main->target);
    }
  }
  if (workbook_part.empty() || zip->Find(workbook_part) == nullptr) {
    if (zip->Find("xl/workbook.xml") != nullptr) {
      workbook_part = "xl/workbook.xml";
    } else if (zip->Find("xl/workbook.bin") != nullptr ||
               EndsWithIgnoreCase(workbook_part, ".bin")) {
      return absl::InvalidArgumentError(kXlsbMessage);
    } else {
      return absl::InvalidArgumentError("not an XLSX workbook (no workbook part)");
    }
  }
  if (EndsWithIgnoreCase(workbook_part, ".bin")) return absl::InvalidArgumentError(kXlsbMessage);

  {
    ContentTypesHandler types(workbook_part);
    NEXUS_RETURN_IF_ERROR(ParsePart(*content_types, options.max_small_part_bytes, types));
    const std::string type = AsciiLower(types.type());
    if (type.find("sheet.binary") != std::string::npos) {
      return absl::InvalidArgumentError(kXlsbMessage);
    }
    if (type.find("macroenabled") != std::string::npos) {
      return absl::InvalidArgumentError(kXlsmMessage);
    }
    // An unlisted workbook part is tolerated; another kind of document is not.
    if (!type.empty() && type.find("spreadsheetml.sheet.main") == std::string::npos &&
        type.find("spreadsheetml.template.main") == std::string::npos) {
      return absl::InvalidArgumentError(
          fmt::format("not an XLSX workbook (its main part is {:.120})", types.type()));
    }
  }

  const std::string_view folder = FolderOf(workbook_part);
  const std::string rels_part =
      fmt::format("{}_rels/{}.rels", folder, std::string_view(workbook_part).substr(folder.size()));
  RelationshipsHandler rels;
  if (const ZipArchive::Entry* entry = zip->Find(rels_part)) {
    NEXUS_RETURN_IF_ERROR(ParsePart(*entry, options.max_small_part_bytes, rels));
  }
  WorkbookHandler workbook(rels);
  NEXUS_RETURN_IF_ERROR(
      ParsePart(*zip->Find(workbook_part), options.max_small_part_bytes, workbook));
  if (workbook.sheet == nullptr) {
    return absl::InvalidArgumentError("the workbook has no worksheet");
  }
  date1904 = workbook.date1904;
  sheet_name = workbook.name_;
  sheet_hidden = workbook.hidden;

  // Finds a part named by a relationship target (raw, then percent-decoded).
  auto find_part = [&](std::string_view target) -> const ZipArchive::Entry* {
    const std::string part = ResolvePart(folder, target);
    if (part.empty()) return nullptr;
    if (const ZipArchive::Entry* entry = zip->Find(part)) return entry;
    return zip->Find(PercentDecode(part));
  };
  const ZipArchive::Entry* sheet_entry = find_part(workbook.sheet->target);
  if (sheet_entry == nullptr) {
    return absl::InvalidArgumentError(fmt::format(
        "corrupt XLSX file: worksheet part {:.200} is missing", workbook.sheet->target));
  }

  const Relationship* styles_rel = rels.FindType("styles");
  const ZipArchive::Entry* styles =
      styles_rel != nullptr ? find_part(styles_rel->target) : find_part("styles.xml");
  if (styles != nullptr) {
    StylesHandler handler;
    NEXUS_RETURN_IF_ERROR(ParsePart(*styles, options.max_small_part_bytes, handler));
    date_styles = handler.DateStyles();
  }

  const Relationship* shared_rel = rels.FindType("sharedStrings");
  const ZipArchive::Entry* shared_entry =
      shared_rel != nullptr ? find_part(shared_rel->target) : find_part("sharedStrings.xml");
  if (shared_entry != nullptr) {
    SharedStringsHandler handler(
        shared, limits.max_cell_bytes, options.max_shared_strings,
        std::min(shared_entry->uncompressed_size, limits.max_decompressed_bytes));
    NEXUS_RETURN_IF_ERROR(ParsePart(*shared_entry, limits.max_decompressed_bytes, handler));
  }

  NEXUS_ASSIGN_OR_RETURN(sheet, zip->OpenEntry(*sheet_entry, limits.max_decompressed_bytes));
  parser = std::make_unique<XmlParser>(*this, xml_limits, sheet_entry->name);
  return absl::OkStatus();
}

// ---- Sheet parsing (expat callbacks) -------------------------------------------------------

void XlsxReader::State::StartElement(std::string_view name, const char** attributes) {
  ++depth;
  if (sheet_data_depth < 0) {
    if (name == "sheetData") sheet_data_depth = depth;
    return;
  }
  const int level = depth - sheet_data_depth;
  if (level == 1) {
    if (name == "row" && !in_row) StartRow(attributes);
    return;
  }
  if (!in_row) return;
  if (level == 2) {
    if (name == "c" && !in_cell) StartCell(attributes);
    return;
  }
  if (!in_cell) return;
  if (level == 3) {
    if (name == "v" && cell_type != CellType::kInlineString) {
      collect_depth = depth;
    } else if (name == "is" && cell_type == CellType::kInlineString) {
      is_depth = depth;
    }
    return;
  }
  if (is_depth < 0) return;
  if (name == "rPh") {
    if (rph_depth < 0) rph_depth = depth;
  } else if (name == "t" && rph_depth < 0 && collect_depth < 0) {
    collect_depth = depth;
  }
}

void XlsxReader::State::EndElement(std::string_view /*name*/) {
  if (depth == collect_depth) collect_depth = -1;
  if (depth == rph_depth) rph_depth = -1;
  if (depth == is_depth) is_depth = -1;
  if (sheet_data_depth >= 0) {
    if (in_cell && depth == sheet_data_depth + 2) {
      EndCell();
    } else if (in_row && depth == sheet_data_depth + 1) {
      EndRow();
    } else if (depth == sheet_data_depth) {
      sheet_data_depth = -1;
    }
  }
  --depth;
}

void XlsxReader::State::Text(std::string_view data) {
  if (collect_depth < 0 || cell_text_too_long) return;
  if (cell_text.size() + data.size() > raw_cell_limit) {
    cell_text_too_long = true;
    return;
  }
  cell_text.append(data);
}

void XlsxReader::State::StartRow(const char** attributes) {
  in_row = true;
  row_nonblank = false;
  last_column = -1;
  row_first_cell = cells_queue.size();
  row_first_text = text.size();
  const char* r = XmlAttribute(attributes, "r");
  if (r == nullptr) {
    row_number = last_row + 1;
    row_number_known = false;
    if (row_number > kMaxExcelRow) {
      return Fail(absl::InvalidArgumentError(
          fmt::format("row {}: more than {} rows (Excel's limit)", row_number, kMaxExcelRow)));
    }
    return;
  }
  uint64_t number = 0;
  if (!ParseUint(r, number) || number == 0 || number > static_cast<uint64_t>(kMaxExcelRow)) {
    return Fail(absl::InvalidArgumentError(
        fmt::format("row {}: invalid row number \"{:.32}\" (rows are numbered 1 to {})",
                    last_row + 1, r, kMaxExcelRow)));
  }
  if (static_cast<int64_t>(number) <= last_row) {
    return Fail(absl::InvalidArgumentError(fmt::format(
        "row {}: rows out of order (row {} comes after row {})", number, number, last_row)));
  }
  row_number = static_cast<int64_t>(number);
  row_number_known = true;
}

void XlsxReader::State::EndRow() {
  in_row = false;
  last_row = row_number;
  if (!row_nonblank) {  // blank: skipped, but its number is used
    cells_queue.resize(row_first_cell);
    text.resize(row_first_text);
    return;
  }
  rows_queue.push_back(QueuedRow{row_number, row_first_cell, cells_queue.size() - row_first_cell});
}

void XlsxReader::State::StartCell(const char** attributes) {
  in_cell = true;
  cell_text.clear();
  cell_text_too_long = false;
  collect_depth = -1;
  is_depth = -1;
  rph_depth = -1;
  cell_type = ParseCellType(XmlAttribute(attributes, "t"));
  const char* style = XmlAttribute(attributes, "s");
  if (style == nullptr || !ParseUint(style, cell_style)) cell_style = 0;

  int32_t column = last_column + 1;
  if (const char* r = XmlAttribute(attributes, "r")) {
    int64_t ref_row = 0;
    if (!ParseCellRef(r, column, ref_row)) {
      return Fail(absl::InvalidArgumentError(
          fmt::format("row {}: invalid cell reference \"{:.32}\"", row_number, r)));
    }
    if (column >= kMaxExcelColumns || ref_row < 1 || ref_row > kMaxExcelRow) {
      return Fail(absl::InvalidArgumentError(
          fmt::format("row {}: cell reference {} is past Excel's last cell XFD{}", row_number, r,
                      kMaxExcelRow)));
    }
    if (!row_number_known) {
      if (ref_row <= last_row) {
        return Fail(absl::InvalidArgumentError(fmt::format(
            "row {}: rows out of order (row {} comes after row {})", ref_row, ref_row, last_row)));
      }
      row_number = ref_row;
    } else if (ref_row != row_number) {
      return Fail(absl::InvalidArgumentError(
          fmt::format("row {}: cell {} is outside its row", row_number, r)));
    }
    if (column <= last_column) {
      return Fail(absl::InvalidArgumentError(
          fmt::format("row {}: cells out of order (cell {} comes after column {})", row_number, r,
                      last_column + 1)));
    }
  } else if (column >= kMaxExcelColumns) {
    return Fail(absl::InvalidArgumentError(
        fmt::format("row {}: more than {} cells (Excel's limit)", row_number, kMaxExcelColumns)));
  }
  row_number_known = true;
  last_column = column;
  cell_column = column;
}

void XlsxReader::State::EndCell() {
  in_cell = false;
  collect_depth = -1;
  const auto too_long = [&] {
    Fail(absl::ResourceExhaustedError(
        fmt::format("row {}: cell in column {} longer than {} bytes (limit {})", row_number,
                    cell_column + 1, limits.max_cell_bytes, limits.max_cell_bytes)));
  };
  if (cell_text_too_long) return too_long();

  // The cell's value: a view of stable text, or text appended to the queue's arena.
  std::string_view stable;
  bool is_stable = true;
  const size_t start = text.size();
  switch (cell_type) {
    case CellType::kSharedString: {
      const std::string_view index_text = TrimAscii(cell_text);
      if (index_text.empty()) break;
      uint64_t index = 0;
      if (!ParseUint(index_text, index)) {
        return Fail(absl::InvalidArgumentError(
            fmt::format("row {}: invalid shared string index \"{:.32}\"", row_number, index_text)));
      }
      if (index >= shared.size()) {
        return Fail(absl::InvalidArgumentError(fmt::format(
            "row {}: shared string index {} out of range (the workbook has {} shared strings)",
            row_number, index, shared.size())));
      }
      if (shared.TooLong(index)) return too_long();
      stable = shared.Get(index);
      break;
    }
    case CellType::kBoolean: {
      const std::string_view value = TrimAscii(cell_text);
      if (value == "1" || value == "true") {
        stable = kTrue;
      } else if (value == "0" || value == "false") {
        stable = kFalse;
      } else {
        is_stable = false;
        text.append(cell_text);
      }
      break;
    }
    case CellType::kError:  // #N/A, #DIV/0!, ...: an empty cell
      if (!cell_text.empty()) ++error_cells;
      break;
    case CellType::kNumber: {
      is_stable = false;
      const std::string_view value = TrimAscii(cell_text);
      if (value.empty()) break;
      double number = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
      if (ec != std::errc() || end != value.data() + value.size()) {
        text.append(cell_text);  // not a number after all: keep what is written
      } else if (cell_style < date_styles.size() && date_styles[cell_style] != 0) {
        AppendExcelDateText(number, date1904, text);
      } else {
        AppendNumberText(number, text);
      }
      break;
    }
    case CellType::kDate: {  // ISO 8601 (strict OOXML): keep the date part
      is_stable = false;
      const std::string_view value = TrimAscii(cell_text);
      text.append(IsIsoDate(value) ? value.substr(0, 10) : std::string_view(cell_text));
      break;
    }
    case CellType::kInlineString:
    case CellType::kFormulaString:
    case CellType::kOther:
      is_stable = false;
      text.append(cell_text);
      DecodeEscapes(text, start);
      break;
  }
  const std::string_view value =
      is_stable ? stable : std::string_view(text).substr(start, text.size() - start);
  if (value.empty()) return;
  if (value.size() > limits.max_cell_bytes) return too_long();
  const bool blank = IsBlank(value);
  if (cell_column >= limits.max_columns) {
    if (!is_stable) text.resize(start);
    if (blank) return;  // an empty cell past the limit does not count
    return Fail(absl::ResourceExhaustedError(fmt::format("row {}: more than {} columns (limit {})",
                                                         row_number, limits.max_columns,
                                                         limits.max_columns)));
  }
  cells_queue.push_back(QueuedCell{cell_column, static_cast<uint32_t>(value.size()),
                                   is_stable ? value.data() : nullptr,
                                   is_stable ? 0 : static_cast<uint64_t>(start)});
  if (!blank) row_nonblank = true;
}

// ---- Pulling rows ---------------------------------------------------------------------------

// Drops the rows Next() has handed out; the row being assembled moves to the front.
void XlsxReader::State::Compact() {
  if (in_row) {
    cells_queue.erase(cells_queue.begin(),
                      cells_queue.begin() + static_cast<std::ptrdiff_t>(row_first_cell));
    for (QueuedCell& cell : cells_queue) {
      if (cell.stable == nullptr) cell.offset -= row_first_text;
    }
    text.erase(0, row_first_text);
    row_first_cell = 0;
    row_first_text = 0;
  } else {
    cells_queue.clear();
    text.clear();
  }
  rows_queue.clear();
  next_row = 0;
}

absl::Status XlsxReader::State::Refill() {
  Compact();
  NEXUS_ASSIGN_OR_RETURN(const size_t n, sheet->Read(chunk.get(), chunk_size));
  if (n == 0) done = true;
  return parser->Parse(std::string_view(chunk.get(), n), n == 0);
}

bool XlsxReader::State::Finish(const QueuedRow& queued, Row& row) {
  const std::span<const QueuedCell> row_cells(cells_queue.data() + queued.first, queued.count);
  cells.assign(static_cast<size_t>(row_cells.back().column) + 1, std::string_view());
  for (const QueuedCell& cell : row_cells) cells[static_cast<size_t>(cell.column)] = View(cell);
  if (header_width < 0) {
    while (!cells.empty() && IsBlank(cells.back())) cells.pop_back();
    header_width = static_cast<int64_t>(cells.size());
  } else {
    if (++data_rows > limits.max_rows) {
      error = absl::ResourceExhaustedError(fmt::format("row {}: more than {} data rows (limit {})",
                                                       queued.number, limits.max_rows,
                                                       limits.max_rows));
      return false;
    }
    const auto width = static_cast<size_t>(header_width);
    while (cells.size() > width && IsBlank(cells.back())) cells.pop_back();
    if (cells.size() < width) cells.resize(width);
  }
  row.number = queued.number;
  row.cells = std::span<const std::string_view>(cells.data(), cells.size());
  return true;
}

namespace {

ZipLimits ZipLimitsFor(const ReadLimits& limits, const XlsxOptions& options) {
  ZipLimits zip_limits;
  zip_limits.max_total_bytes = limits.max_decompressed_bytes;
  zip_limits.max_entries = options.max_entries;
  zip_limits.ratio_grace_bytes = options.ratio_grace_bytes;
  zip_limits.max_ratio = std::max<uint64_t>(options.max_ratio, 1);
  zip_limits.verify_crc = options.verify_crc;
  return zip_limits;
}

}  // namespace

XlsxReader::XlsxReader(std::unique_ptr<State> state) : state_(std::move(state)) {}

XlsxReader::~XlsxReader() = default;

absl::StatusOr<std::unique_ptr<XlsxReader>> XlsxReader::Open(const std::string& path,
                                                             const ReadLimits& limits,
                                                             const XlsxOptions& options) {
  NEXUS_ASSIGN_OR_RETURN(std::unique_ptr<ZipArchive> zip,
                         ZipArchive::OpenFile(path, ZipLimitsFor(limits, options)));
  auto state = std::make_unique<State>(limits, options);
  NEXUS_RETURN_IF_ERROR(state->Open(std::move(zip)));
  return std::unique_ptr<XlsxReader>(new XlsxReader(std::move(state)));
}

absl::StatusOr<std::unique_ptr<XlsxReader>> XlsxReader::OpenBuffer(std::string_view data,
                                                                   const ReadLimits& limits,
                                                                   const XlsxOptions& options) {
  NEXUS_ASSIGN_OR_RETURN(std::unique_ptr<ZipArchive> zip,
                         ZipArchive::OpenBuffer(data, ZipLimitsFor(limits, options)));
  auto state = std::make_unique<State>(limits, options);
  NEXUS_RETURN_IF_ERROR(state->Open(std::move(zip)));
  return std::unique_ptr<XlsxReader>(new XlsxReader(std::move(state)));
}

absl::StatusOr<bool> XlsxReader::Next(Row& row) {
  State& s = *state_;
  if (!s.error.ok()) return s.error;
  for (;;) {
    if (s.next_row < s.rows_queue.size()) {
      if (s.Finish(s.rows_queue[s.next_row++], row)) return true;
      return s.error;  // the row limit
    }
    if (!s.pending_error.ok()) {
      s.error = s.pending_error;
      return s.error;
    }
    if (s.done) return false;
    absl::Status status = s.Refill();
    if (!status.ok()) {
      s.done = true;
      s.pending_error = std::move(status);
    }
  }
}

const std::string& XlsxReader::sheet_name() const { return state_->sheet_name; }
bool XlsxReader::sheet_hidden() const { return state_->sheet_hidden; }
int64_t XlsxReader::error_cells() const { return state_->error_cells; }

absl::StatusOr<std::unique_ptr<TableReader>> OpenXlsxReader(const std::string& path,
                                                            const ReadLimits& limits) {
  NEXUS_ASSIGN_OR_RETURN(std::unique_ptr<XlsxReader> reader, XlsxReader::Open(path, limits));
  return std::unique_ptr<TableReader>(std::move(reader));
}

}  // namespace nexus::ingest
