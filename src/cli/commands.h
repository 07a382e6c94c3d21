// File: cli/commands.h
//
// The `nexus` commands of SPEC §2. main.cc parses arguments (CLI11, with NEXUS_* environment
// fallbacks) into these structs; each Run* function wires the concrete store, clock and server
// together and returns the process exit code (0 success, 1 failure; errors go to stderr).
#pragma once

#include <cstdint>
#include <string>

namespace nexus::cli {

inline constexpr char kDefaultDb[] = "sqlite://nexus.db";

struct InitArgs {
  std::string db = kDefaultDb;
  std::string org = "Default";
  bool demo = false;
  bool json = false;
  std::string legal_window = "08:00-21:00";  // or "off"
};
int RunInit(const InitArgs& args);

struct TokenCreateArgs {
  std::string db = kDefaultDb;
  std::string user;
  bool json = false;
};
int RunTokenCreate(const TokenCreateArgs& args);

struct ServeArgs {
  std::string db = kDefaultDb;
  std::string host = "127.0.0.1";
  int port = 8080;
  int workers = 8;
  int io_threads = 1;
  double header_timeout_seconds = 10;
  double keep_alive_seconds = 30;
  double shutdown_grace_seconds = 30;
  uint64_t json_body_limit = 1 << 20;
  uint64_t min_body_rate = 16 * 1024;
  int max_connections = 4096;
  uint64_t upload_body_limit = 100ull << 20;
  std::string spool_dir;  // default: $TMPDIR or /tmp
  int64_t max_rows = 1'000'000;
  int max_columns = 256;
  uint64_t max_cell_bytes = 64 * 1024;
  uint64_t max_decompressed_bytes = 1ull << 30;
  std::string log_level = "info";
  // Batch-details call indexes (store/call_index.h).
  uint64_t call_index_mb = 512;
  int64_t call_index_min_calls = 20'000;
  // Dialling (SPEC §6).
  bool dialler = true;
  double call_timeout_seconds = 600;
  int per_number_concurrency = 1;
  int dispatch_threads = 8;
  double dispatch_timeout_seconds = 10;
  int dialler_tick_ms = 200;
  bool simulate = false;
  std::string simulate_mix = "completed=60,no_answer=20,busy=10,failed=10";
  double simulate_min_seconds = 2;
  double simulate_max_seconds = 8;
  // Hidden, for the fault tests only: honour NEXUS_TEST_KILL_AFTER_CALLS and cap the database.
  bool test_allow_faults = false;
  int64_t test_max_page_count = 0;
  // Hidden, for the dialling tests only: the service clock starts at this RFC 3339 instant and
  // runs at the real rate from there.
  std::string test_start_time;
};
int RunServe(const ServeArgs& args);

}  // namespace nexus::cli
