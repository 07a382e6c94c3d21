// libFuzzer target for ingest::XlsxReader. The first input byte picks the mode and options:
//   bit 0 = 0: the rest is a ZIP file, read as is (the container layer: directory, inflate, caps).
//   bit 0 = 1: the rest is XML parts separated by "\n--\n" (sheet, sharedStrings, styles,
//              workbook, workbook rels), packed into a valid stored ZIP with correct CRCs, so
//              mutations reach the XML handlers instead of failing the CRC.
//   bit 1: verify CRCs (zip mode only); bits 2-4: the sheet chunk size.
// Every input is read twice, with chunks of 1 byte and of the chosen size, and the two results
// must be identical. Any input must end in rows or in InvalidArgument / ResourceExhausted, and
// every row must keep the TableReader contract.
// Run: build/fuzz-xlsx/fuzz/xlsx_reader_fuzz -dict=fuzz/xlsx.dict fuzz/corpus/xlsx
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "ingest/text_encoding.h"
#include "ingest/xlsx_reader.h"

namespace {

using nexus::ingest::ReadLimits;
using nexus::ingest::Row;
using nexus::ingest::XlsxOptions;
using nexus::ingest::XlsxReader;

void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "contract violated: %s\n", what);
    std::abort();
  }
}

void Put16(std::string& out, uint32_t v) {
  out += static_cast<char>(v & 0xFF);
  out += static_cast<char>((v >> 8) & 0xFF);
}

void Put32(std::string& out, uint32_t v) {
  Put16(out, v & 0xFFFF);
  Put16(out, v >> 16);
}

// A ZIP of stored entries.
std::string StoredZip(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out;
  std::string directory;
  for (const auto& [name, data] : entries) {
    const auto crc = static_cast<uint32_t>(crc32(crc32(0, nullptr, 0),
                                                 reinterpret_cast<const Bytef*>(data.data()),
                                                 static_cast<uInt>(data.size())));
    const auto offset = static_cast<uint32_t>(out.size());
    const auto size = static_cast<uint32_t>(data.size());
    out += "PK\x03\x04";
    Put16(out, 20);  // version needed
    Put16(out, 0);   // flags
    Put16(out, 0);   // stored
    Put32(out, 0);   // time, date
    Put32(out, crc);
    Put32(out, size);
    Put32(out, size);
    Put16(out, static_cast<uint32_t>(name.size()));
    Put16(out, 0);
    out += name;
    out += data;
    directory += "PK\x01\x02";
    Put16(directory, 20);
    Put16(directory, 20);
    Put16(directory, 0);
    Put16(directory, 0);
    Put32(directory, 0);
    Put32(directory, crc);
    Put32(directory, size);
    Put32(directory, size);
    Put16(directory, static_cast<uint32_t>(name.size()));
    Put32(directory, 0);  // extra, comment lengths
    Put32(directory, 0);  // disk, internal attributes
    Put32(directory, 0);  // external attributes
    Put32(directory, offset);
    directory += name;
  }
  const auto directory_offset = static_cast<uint32_t>(out.size());
  out += directory;
  out += "PK\x05\x06";
  Put32(out, 0);
  Put16(out, static_cast<uint32_t>(entries.size()));
  Put16(out, static_cast<uint32_t>(entries.size()));
  Put32(out, static_cast<uint32_t>(directory.size()));
  Put32(out, directory_offset);
  Put16(out, 0);
  return out;
}

std::string PartsZip(std::string_view text) {
  std::vector<std::string> parts;
  for (;;) {
    const size_t at = text.find("\n--\n");
    parts.emplace_back(text.substr(0, at));
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 4);
  }
  parts.resize(5);
  const std::string rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
  if (parts[3].empty()) {
    parts[3] = "<workbook xmlns:r=\"" + rel +
               "\"><workbookPr/><sheets><sheet name=\"S\" sheetId=\"1\" r:id=\"rId1\"/>"
               "</sheets></workbook>";
  }
  if (parts[4].empty()) {
    parts[4] = "<Relationships><Relationship Id=\"rId1\" Type=\"" + rel +
               "/worksheet\" Target=\"worksheets/sheet1.xml\"/><Relationship Id=\"rId2\" "
               "Type=\"" +
               rel +
               "/sharedStrings\" Target=\"sharedStrings.xml\"/>"
               "<Relationship Id=\"rId3\" Type=\"" +
               rel +
               "/styles\" Target=\"styles.xml\"/>"
               "</Relationships>";
  }
  std::vector<std::pair<std::string, std::string>> entries = {
      {"[Content_Types].xml", "<Types/>"},
      {"_rels/.rels", "<Relationships><Relationship Id=\"rId1\" Type=\"" + rel +
                          "/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>"},
      {"xl/workbook.xml", parts[3]},
      {"xl/_rels/workbook.xml.rels", parts[4]},
      {"xl/worksheets/sheet1.xml", parts[0]},
  };
  if (!parts[1].empty()) entries.emplace_back("xl/sharedStrings.xml", parts[1]);
  if (!parts[2].empty()) entries.emplace_back("xl/styles.xml", parts[2]);
  return StoredZip(entries);
}

// Reads everything; returns a transcript of the rows and the final status.
std::string ReadAll(const std::string& zip, const ReadLimits& limits, const XlsxOptions& options) {
  absl::StatusOr<std::unique_ptr<XlsxReader>> reader = XlsxReader::OpenBuffer(zip, limits, options);
  if (!reader.ok()) {
    const absl::StatusCode code = reader.status().code();
    Check(code == absl::StatusCode::kInvalidArgument, "open error code");
    return "#status open error: " + std::string(reader.status().message());
  }
  std::string transcript;
  Row row;
  int64_t last = 0;
  int64_t rows = 0;
  for (;;) {
    absl::StatusOr<bool> more = (*reader)->Next(row);
    if (!more.ok()) {
      const absl::StatusCode code = more.status().code();
      Check(code == absl::StatusCode::kInvalidArgument ||
                code == absl::StatusCode::kResourceExhausted,
            "error code");
      Check((*reader)->Next(row).status() == more.status(), "errors are sticky");
      transcript += "#code " + std::to_string(static_cast<int>(code));
      transcript += "#status error: " + std::string(more.status().message());
      break;
    }
    if (!*more) {
      Check((*reader)->Next(row).ok() && !*(*reader)->Next(row), "end is sticky");
      break;
    }
    Check(row.number > last && row.number <= 1'048'576, "row numbers increase, within Excel");
    last = row.number;
    Check(++rows <= limits.max_rows + 1, "row limit");
    Check(row.cells.size() <= static_cast<size_t>(limits.max_columns), "column limit");
    bool blank = true;
    transcript += std::to_string(row.number) + ":";
    for (const std::string_view cell : row.cells) {
      Check(cell.size() <= limits.max_cell_bytes, "cell limit");
      size_t valid = 0;
      Check(nexus::ingest::FindInvalidUtf8OrNul(cell, true, &valid) == nexus::ingest::kNotFound,
            "cells are UTF-8 without NUL");
      if (cell.find_first_not_of(" \t\r\n\f\v") != std::string_view::npos) blank = false;
      transcript += std::to_string(cell.size()) + "|";
      transcript += cell;
    }
    Check(!blank, "blank rows are skipped");
    transcript += "\n";
  }
  transcript += " sheet=" + (*reader)->sheet_name();
  transcript += " errors=" + std::to_string((*reader)->error_cells());
  if (transcript.find("#status ") == std::string::npos) transcript += "#status ok";
  return transcript;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t config = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const bool parts_mode = (config & 1) != 0;
  const std::string zip = parts_mode ? PartsZip(rest) : std::string(rest);

  ReadLimits limits;
  limits.max_rows = 40;
  limits.max_columns = 8;
  limits.max_cell_bytes = 48;
  limits.max_decompressed_bytes = 4 << 20;
  XlsxOptions options;
  options.verify_crc = parts_mode || (config & 2) != 0;
  options.max_entries = 64;
  options.max_shared_strings = 1000;
  static constexpr size_t kChunks[8] = {7, 64, 100, 1000, 4096, 65536, 3, 31};
  options.chunk_bytes = kChunks[(config >> 2) & 7];

  std::string chosen = ReadAll(zip, limits, options);
  static const bool print = std::getenv("XLSX_FUZZ_PRINT") != nullptr;  // to inspect seeds
  if (print) std::fprintf(stderr, "%s\n", chosen.c_str());
  options.chunk_bytes = 1;
  std::string bytewise = ReadAll(zip, limits, options);
  // Expat may need more bytes to see that a token is bad, and says different things depending
  // on how much it was given ("syntax error" / "invalid token"), so an XML error can be found
  // later (or lose to a CRC error at the end) with other chunks. The rows and the status code
  // must still agree; the message too, unless it comes from expat or the ZIP layer.
  const auto loose = [](const std::string& transcript) {
    return transcript.find(": malformed XML: ") != std::string::npos ||
           transcript.find("error: corrupt XLSX file") != std::string::npos;
  };
  if (loose(chosen) || loose(bytewise)) {
    chosen.resize(chosen.rfind("#status "));
    bytewise.resize(bytewise.rfind("#status "));
  }
  if (chosen != bytewise) {
    std::fprintf(stderr, "chunks of %zu:\n%s\n\nchunks of 1:\n%s\n", kChunks[(config >> 2) & 7],
                 chosen.c_str(), bytewise.c_str());
    std::abort();
  }
  return 0;
}
