#include "support/upload_client.h"

#include <sqlite3.h>

namespace nexus::testing {

std::string MultipartBody(const std::string& boundary, const UploadFields& fields,
                          const std::optional<UploadFile>& file) {
  std::string body;
  for (const auto& [name, value] : fields) {
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" +
            value + "\r\n";
  }
  if (file) {
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
            file->name + "\"\r\nContent-Type: " + file->content_type + "\r\n\r\n" + file->content +
            "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  return body;
}

HttpResponse PostUpload(uint16_t port, const std::string& token, const UploadFields& fields,
                        const std::optional<UploadFile>& file, const HttpHeaders& extra_headers) {
  const std::string boundary = "------------------------nexusTestBoundary7MA4YWxk";
  HttpHeaders headers = extra_headers;
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  headers.emplace_back("Content-Type", "multipart/form-data; boundary=" + boundary);
  return Request(port, "POST", "/api/call/upload", headers, MultipartBody(boundary, fields, file));
}

int64_t CountRows(const std::string& path, const std::string& table) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return -1;
  }
  int64_t count = -1;
  sqlite3_stmt* stmt = nullptr;
  const std::string sql = "SELECT count(*) FROM " + table;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    count = sqlite3_column_int64(stmt, 0);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return count;
}

}  // namespace nexus::testing
