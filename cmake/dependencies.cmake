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
