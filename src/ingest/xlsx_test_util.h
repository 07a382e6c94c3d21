// File: ingest/xlsx_test_util.h
//
// Test-only helpers that build ZIP and XLSX files by hand with minizip's zip writer: tiny
// workbooks from hand-written XML parts (inline strings, 1904 dates, strict namespaces ...), and
// hostile ones (DOCTYPE, bombs, lying directories, encrypted entries, too many entries ...).
// Fixtures from a real writer come from libxlsxwriter in the tests themselves.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace nexus::ingest::testing {

struct ZipFileEntry {
  ZipFileEntry(std::string entry_name, std::string entry_data, uint64_t times = 1,
               bool store = false)
      : name(std::move(entry_name)), data(std::move(entry_data)), repeat(times), stored(store) {}

  std::string name;
  std::string data;  // written `repeat` times
  uint64_t repeat = 1;
  bool stored = false;   // method 0 instead of deflate
  std::string password;  // non-empty: ZipCrypto-encrypted entry
  std::string prefix;    // written once before data ...
  std::string suffix;    // ... and once after
};

// Writes `entries`, in order, as a ZIP file at `path`.
absl::Status WriteZip(const std::string& path, const std::vector<ZipFileEntry>& entries);

// The parts of a minimal workbook with one worksheet; edit any, then Entries() / Write().
struct XlsxFixture {
  XlsxFixture();

  std::string content_types;   // [Content_Types].xml
  std::string root_rels;       // _rels/.rels
  std::string workbook;        // xl/workbook.xml
  std::string workbook_rels;   // xl/_rels/workbook.xml.rels (sheet, sharedStrings, styles)
  std::string sheet;           // xl/worksheets/sheet1.xml
  std::string shared_strings;  // xl/sharedStrings.xml; left out when empty
  std::string styles;          // xl/styles.xml; left out when empty
  std::vector<ZipFileEntry> extra;
  bool stored = false;  // all parts stored instead of deflated

  std::vector<ZipFileEntry> Entries() const;
  absl::Status Write(const std::string& path) const { return WriteZip(path, Entries()); }
};

// <worksheet ...><sheetData>` + rows + `</sheetData></worksheet>.
std::string SheetXml(std::string_view rows);

// <sst ...> with one <si><t>item</t></si> per item (items are XML-escaped).
std::string SharedStringsXml(const std::vector<std::string>& items);

// styles.xml whose cellXfs are the given numFmtIds (index 0 first), with optional custom
// <numFmt> definitions as (id, formatCode) pairs.
std::string StylesXml(const std::vector<int>& xf_num_fmt_ids,
                      const std::vector<std::pair<int, std::string>>& custom_formats = {});

// A fresh path under the test temp dir ending in `suffix`.
std::string TempPath(std::string_view suffix);

// Reads / writes a whole file.
std::string ReadFileBytes(const std::string& path);
void WriteFileBytes(const std::string& path, std::string_view bytes);

// Rewrites the sizes of entry `name` in both its local header and the central directory (to
// build archives whose directory lies). Returns false when the entry is not found.
bool PatchEntrySizes(std::string& zip, std::string_view name, uint32_t compressed,
                     uint32_t uncompressed);

}  // namespace nexus::ingest::testing
