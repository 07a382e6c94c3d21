// File: tests/support/upload_client.h
//
// Builds multipart/form-data bodies the way curl -F does, posts them to /api/call/upload, and
// counts rows in a server's SQLite file (to assert that a refused upload stored nothing).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/raw_http.h"

namespace nexus::testing {

struct UploadFile {
  std::string name = "contacts.csv";
  std::string content;
  std::string content_type = "text/csv";
};

using UploadFields = std::vector<std::pair<std::string, std::string>>;

// A multipart body with `fields` in order and then `file` (if given), and its boundary.
std::string MultipartBody(const std::string& boundary, const UploadFields& fields,
                          const std::optional<UploadFile>& file);

// POSTs the form to /api/call/upload with `token` (if not empty) and `extra_headers`.
HttpResponse PostUpload(uint16_t port, const std::string& token, const UploadFields& fields,
                        const std::optional<UploadFile>& file,
                        const HttpHeaders& extra_headers = {});

// `SELECT count(*) FROM table` on the SQLite database at `path` (-1 if it cannot be read).
int64_t CountRows(const std::string& path, const std::string& table);

}  // namespace nexus::testing
