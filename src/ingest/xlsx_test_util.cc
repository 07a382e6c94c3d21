#include "ingest/xlsx_test_util.h"

#include <gtest/gtest.h>
#include <minizip/zip.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>

#include "fmt/format.h"

namespace nexus::ingest::testing {
namespace {

constexpr std::string_view kRelsNs = "http://schemas.openxmlformats.org/package/2006/relationships";
constexpr std::string_view kDocRel =
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
constexpr std::string_view kMainNs = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";

std::string XmlEscape(std::string_view text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void PutLe32(std::string& bytes, size_t at, uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<char>((value >> (8 * i)) & 0xFF);
}

uint16_t GetLe16(const std::string& bytes, size_t at) {
  return static_cast<uint16_t>(static_cast<unsigned char>(bytes[at]) |
                               static_cast<unsigned char>(bytes[at + 1]) << 8);
}

uint32_t GetLe32(const std::string& bytes, size_t at) {
  return static_cast<uint32_t>(GetLe16(bytes, at)) | static_cast<uint32_t>(GetLe16(bytes, at + 2))
                                                         << 16;
}

}  // namespace

absl::Status WriteZip(const std::string& path, const std::vector<ZipFileEntry>& entries) {
  zipFile zip = zipOpen64(path.c_str(), APPEND_STATUS_CREATE);
  if (zip == nullptr) return absl::InternalError("zipOpen64 failed: " + path);
  for (const ZipFileEntry& entry : entries) {
    zip_fileinfo info{};
    uLong crc = 0;
    if (!entry.password.empty()) {  // ZipCrypto needs the CRC of the plain data up front
      const auto add = [&crc](const std::string& bytes) {
        crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()),
                    static_cast<uInt>(bytes.size()));
      };
      crc = crc32(0L, Z_NULL, 0);
      add(entry.prefix);
      for (uint64_t i = 0; i < entry.repeat; ++i) add(entry.data);
      add(entry.suffix);
    }
    const uint64_t total =
        entry.prefix.size() + entry.data.size() * entry.repeat + entry.suffix.size();
    int error = zipOpenNewFileInZip3_64(zip, entry.name.c_str(), &info, nullptr, 0, nullptr, 0,
                                        nullptr, entry.stored ? 0 : Z_DEFLATED,
                                        entry.stored ? 0 : Z_DEFAULT_COMPRESSION, 0, -MAX_WBITS,
                                        DEF_MEM_LEVEL, Z_DEFAULT_STRATEGY,
                                        entry.password.empty() ? nullptr : entry.password.c_str(),
                                        crc, total >= 0xFFFFFFFFull ? 1 : 0);
    const auto write = [&](const std::string& bytes) {
      if (error == ZIP_OK && !bytes.empty()) {
        error = zipWriteInFileInZip(zip, bytes.data(), static_cast<unsigned>(bytes.size()));
      }
    };
    write(entry.prefix);
    for (uint64_t i = 0; i < entry.repeat; ++i) write(entry.data);
    write(entry.suffix);
    if (error == ZIP_OK) error = zipCloseFileInZip(zip);
    if (error != ZIP_OK) {
      zipClose(zip, nullptr);
      return absl::InternalError(fmt::format("zip writer failed on {}: {}", entry.name, error));
    }
  }
  if (zipClose(zip, nullptr) != ZIP_OK) return absl::InternalError("zipClose failed");
  return absl::OkStatus();
}

XlsxFixture::XlsxFixture() {
  content_types = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
      "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
      "<Default Extension=\"rels\" "
      "ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>"
      "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
      "<Override PartName=\"/xl/workbook.xml\" "
      "ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>"
      "<Override PartName=\"/xl/worksheets/sheet1.xml\" "
      "ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>"
      "</Types>");
  root_rels = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
      "<Relationships xmlns=\"{}\"><Relationship Id=\"rId1\" Type=\"{}/officeDocument\" "
      "Target=\"xl/workbook.xml\"/></Relationships>",
      kRelsNs, kDocRel);
  workbook = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
      "<workbook xmlns=\"{}\" xmlns:r=\"{}\"><workbookPr/><sheets>"
      "<sheet name=\"Sheet1\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>",
      kMainNs, kDocRel);
  workbook_rels = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
      "<Relationships xmlns=\"{0}\">"
      "<Relationship Id=\"rId1\" Type=\"{1}/worksheet\" Target=\"worksheets/sheet1.xml\"/>"
      "<Relationship Id=\"rId2\" Type=\"{1}/sharedStrings\" Target=\"sharedStrings.xml\"/>"
      "<Relationship Id=\"rId3\" Type=\"{1}/styles\" Target=\"styles.xml\"/>"
      "</Relationships>",
      kRelsNs, kDocRel);
  sheet = SheetXml("");
}

std::vector<ZipFileEntry> XlsxFixture::Entries() const {
  std::vector<ZipFileEntry> entries = {
      {"[Content_Types].xml", content_types}, {"_rels/.rels", root_rels},
      {"xl/workbook.xml", workbook},          {"xl/_rels/workbook.xml.rels", workbook_rels},
      {"xl/worksheets/sheet1.xml", sheet},
  };
  if (!shared_strings.empty()) entries.push_back({"xl/sharedStrings.xml", shared_strings});
  if (!styles.empty()) entries.push_back({"xl/styles.xml", styles});
  for (ZipFileEntry& entry : entries) entry.stored = stored;
  entries.insert(entries.end(), extra.begin(), extra.end());
  return entries;
}

std::string SheetXml(std::string_view rows) {
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
      "<worksheet xmlns=\"{}\" xmlns:r=\"{}\"><dimension ref=\"A1\"/><sheetData>{}</sheetData>"
      "<pageMargins left=\"0.7\" right=\"0.7\" top=\"0.75\" bottom=\"0.75\" header=\"0.3\" "
      "footer=\"0.3\"/></worksheet>",
      kMainNs, kDocRel, rows);
}

std::string SharedStringsXml(const std::vector<std::string>& items) {
  std::string out = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
      "<sst xmlns=\"{}\" count=\"{}\" uniqueCount=\"{}\">",
      kMainNs, items.size(), items.size());
  for (const std::string& item : items) {
    out += "<si><t xml:space=\"preserve\">" + XmlEscape(item) + "</t></si>";
  }
  out += "</sst>";
  return out;
}

std::string StylesXml(const std::vector<int>& xf_num_fmt_ids,
                      const std::vector<std::pair<int, std::string>>& custom_formats) {
  std::string out = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<styleSheet xmlns=\"{}\">",
      kMainNs);
  if (!custom_formats.empty()) {
    out += fmt::format("<numFmts count=\"{}\">", custom_formats.size());
    for (const auto& [id, code] : custom_formats) {
      out += fmt::format("<numFmt numFmtId=\"{}\" formatCode=\"{}\"/>", id, XmlEscape(code));
    }
    out += "</numFmts>";
  }
  // cellStyleXfs first: its <xf> elements must not be taken for cell formats.
  out += "<cellStyleXfs count=\"1\"><xf numFmtId=\"14\"/></cellStyleXfs>";
  out += fmt::format("<cellXfs count=\"{}\">", xf_num_fmt_ids.size());
  for (const int id : xf_num_fmt_ids) {
    out += fmt::format("<xf numFmtId=\"{}\" fontId=\"0\" xfId=\"0\" applyNumberFormat=\"1\"/>", id);
  }
  out += "</cellXfs></styleSheet>";
  return out;
}

// Removes the files TempPath handed out when the test binary exits.
class TempFiles {
 public:
  ~TempFiles() {
    for (const std::string& path : paths_) std::remove(path.c_str());
  }
  void Add(std::string path) {
    std::lock_guard<std::mutex> lock(mutex_);
    paths_.push_back(std::move(path));
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> paths_;
};

std::string TempPath(std::string_view suffix) {
  static std::atomic<int> counter{0};
  static TempFiles files;
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = test != nullptr ? test->name() : "none";
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';  // "SameTable/csv"
  }
  std::string path = fmt::format("{}nexus_xlsx_{}_{}_{}_{}", ::testing::TempDir(), name, ::getpid(),
                                 counter++, suffix);
  files.Add(path);
  return path;
}

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteFileBytes(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

bool PatchEntrySizes(std::string& zip, std::string_view name, uint32_t compressed,
                     uint32_t uncompressed) {
  // Central directory headers: "PK\1\2", sizes at +20/+24, name length at +28, local header
  // offset at +42, name at +46. Local headers: "PK\3\4", sizes at +18/+22.
  for (size_t at = zip.find("PK\x01\x02"); at != std::string::npos;
       at = zip.find("PK\x01\x02", at + 4)) {
    if (at + 46 > zip.size()) break;
    const uint16_t name_size = GetLe16(zip, at + 28);
    if (std::string_view(zip).substr(at + 46, name_size) != name) continue;
    const uint32_t local = GetLe32(zip, at + 42);
    PutLe32(zip, at + 20, compressed);
    PutLe32(zip, at + 24, uncompressed);
    PutLe32(zip, local + 18, compressed);
    PutLe32(zip, local + 22, uncompressed);
    return true;
  }
  return false;
}

}  // namespace nexus::ingest::testing
