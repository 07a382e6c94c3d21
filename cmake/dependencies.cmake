# Every third-party library Nexus links, as Debian 12 packages them (scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(Boost 1.74 CONFIG REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(nlohmann_json 3 CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(Protobuf REQUIRED)
find_package(ICU REQUIRED COMPONENTS uc i18n)
# libcurl (libcurl4-openssl-dev): dispatches to the agent runtime (src/schedule/dispatch_client.h).
find_package(CURL REQUIRED)

# libphonenumber ships neither a CMake config nor a .pc file.
find_path(PHONENUMBER_INCLUDE_DIR phonenumbers/phonenumberutil.h REQUIRED)
find_library(PHONENUMBER_LIBRARY phonenumber REQUIRED)
add_library(nexus_libphonenumber INTERFACE)
target_include_directories(nexus_libphonenumber SYSTEM INTERFACE ${PHONENUMBER_INCLUDE_DIR})
target_link_libraries(nexus_libphonenumber INTERFACE ${PHONENUMBER_LIBRARY} protobuf::libprotobuf
  absl::node_hash_set absl::node_hash_map absl::synchronization ICU::uc ICU::i18n)

if(NEXUS_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)
endif()
if(NEXUS_BUILD_BENCH)
  find_package(benchmark CONFIG REQUIRED)
endif()

# FreeXL 1.0.6 (.xls): linked only by the nexus-xls-reader helper and the XLS fuzzer, never by the
# server (src/ingest/xls_reader.h).
find_package(PkgConfig REQUIRED)
pkg_check_modules(FREEXL REQUIRED IMPORTED_TARGET freexl)

# XLSX (src/ingest/xlsx_reader.h): minizip + zlib for the ZIP container, expat for the XML.
# minizip is found by hand, not through minizip.pc: that .pc adds -I/usr/include/minizip, which
# hides libzip's <zip.h>; code includes <minizip/unzip.h> (shared/research/deps-notes.md, pitfall 2).
find_library(MINIZIP_LIBRARY minizip REQUIRED)
find_package(ZLIB REQUIRED)
find_package(EXPAT REQUIRED)
add_library(nexus_minizip INTERFACE)
target_link_libraries(nexus_minizip INTERFACE ${MINIZIP_LIBRARY} ZLIB::ZLIB)
# libxlsxwriter writes XLSX fixtures for the tests and inputs for the benchmarks, never in the server.
if(NEXUS_BUILD_TESTS OR NEXUS_BUILD_BENCH)
  find_path(XLSXWRITER_INCLUDE_DIR xlsxwriter.h REQUIRED)
  find_library(XLSXWRITER_LIBRARY xlsxwriter REQUIRED)
  add_library(nexus_xlsxwriter INTERFACE)
  target_link_libraries(nexus_xlsxwriter INTERFACE ${XLSXWRITER_LIBRARY} ZLIB::ZLIB)
endif()
