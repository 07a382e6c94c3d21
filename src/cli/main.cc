// The `nexus` executable: argument parsing only. Everything else is in the Run* commands.
#include <CLI/CLI.hpp>
#include <iostream>
#include <string_view>

#include "cli/commands.h"

int main(int argc, char** argv) {
  using nexus::cli::InitArgs;
  using nexus::cli::ServeArgs;
  using nexus::cli::TokenCreateArgs;

  CLI::App app{"nexus — outbound call campaigns for AI voice agents"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "nexus 0.1.0");

  ServeArgs serve;
  CLI::App* serve_cmd = app.add_subcommand("serve", "Run the HTTP API and the dialler");
  serve_cmd->add_option("--db", serve.db, "Store URL: sqlite://PATH or postgres://...")
      ->envname("NEXUS_DB")
      ->capture_default_str();
  serve_cmd->add_option("--host", serve.host, "Address to listen on")
      ->envname("NEXUS_HOST")
      ->capture_default_str();
  serve_cmd->add_option("--port", serve.port, "TCP port (0 picks a free one)")
      ->envname("NEXUS_PORT")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  serve_cmd->add_option("--workers", serve.workers, "Threads that run request handlers")
      ->envname("NEXUS_WORKERS")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  serve_cmd->add_option("--io-threads", serve.io_threads, "Threads that run socket I/O")
      ->envname("NEXUS_IO_THREADS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  serve_cmd
      ->add_option("--header-timeout", serve.header_timeout_seconds,
                   "Seconds a client has to send a request head")
      ->envname("NEXUS_HEADER_TIMEOUT")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  serve_cmd
      ->add_option("--keep-alive-timeout", serve.keep_alive_seconds,
                   "Seconds an idle keep-alive connection stays open")
      ->envname("NEXUS_KEEP_ALIVE_TIMEOUT")
      ->check(CLI::Range(0.05, 3600.0))
      ->capture_default_str();
  serve_cmd
      ->add_option("--shutdown-grace", serve.shutdown_grace_seconds,
                   "Seconds SIGTERM waits for requests in progress")
      ->envname("NEXUS_SHUTDOWN_GRACE")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  serve_cmd->add_option("--json-body-limit", serve.json_body_limit, "Largest JSON body (bytes)")
      ->envname("NEXUS_JSON_BODY_LIMIT")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 30))
      ->capture_default_str();
  serve_cmd
      ->add_option("--min-body-rate", serve.min_body_rate,
                   "Slowest accepted request body upload (bytes/s)")
      ->envname("NEXUS_MIN_BODY_RATE")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 30))
      ->capture_default_str();
  serve_cmd->add_option("--max-connections", serve.max_connections, "Open connections at most")
      ->envname("NEXUS_MAX_CONNECTIONS")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  serve_cmd
      ->add_option("--upload-body-limit", serve.upload_body_limit,
                   "Largest upload request body (bytes; 413 beyond)")
      ->envname("NEXUS_UPLOAD_BODY_LIMIT")
      ->check(CLI::Range(uint64_t{1024}, uint64_t{1} << 40))
      ->capture_default_str();
  serve_cmd->add_option("--spool-dir", serve.spool_dir, "Directory for uploads being read")
      ->envname("NEXUS_SPOOL_DIR");
  serve_cmd->add_option("--max-rows", serve.max_rows, "Data rows per uploaded file (422 beyond)")
      ->envname("NEXUS_MAX_ROWS")
      ->check(CLI::Range(int64_t{1}, int64_t{16'000'000}))
      ->capture_default_str();
  serve_cmd->add_option("--max-columns", serve.max_columns, "Columns per uploaded file")
      ->envname("NEXUS_MAX_COLUMNS")
      ->check(CLI::Range(1, 16384))
      ->capture_default_str();
  serve_cmd->add_option("--max-cell-bytes", serve.max_cell_bytes, "Bytes per cell")
      ->envname("NEXUS_MAX_CELL_BYTES")
      ->check(CLI::Range(uint64_t{16}, uint64_t{1} << 24))
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-decompressed-bytes", serve.max_decompressed_bytes,
                   "Bytes an XLSX upload may inflate to")
      ->envname("NEXUS_MAX_DECOMPRESSED_BYTES")
      ->check(CLI::Range(uint64_t{1} << 20, uint64_t{1} << 40))
      ->capture_default_str();
  serve_cmd
      ->add_option("--call-index-mb", serve.call_index_mb,
                   "Memory for the in-memory call indexes of large batches (MiB; 0 = none)")
      ->envname("NEXUS_CALL_INDEX_MB")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 20))
      ->capture_default_str();
  serve_cmd
      ->add_option("--call-index-min-calls", serve.call_index_min_calls,
                   "Batches with at least this many calls get a call index")
      ->envname("NEXUS_CALL_INDEX_MIN_CALLS")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 32))
      ->capture_default_str();
  serve_cmd->add_flag("!--no-dialler", serve.dialler, "Do not dial (uploads and reads only)")
      ->envname("NEXUS_NO_DIALLER");
  serve_cmd
      ->add_option("--call-timeout", serve.call_timeout_seconds,
                   "Seconds an attempt may go without a report before it counts as failed")
      ->envname("NEXUS_CALL_TIMEOUT")
      ->check(CLI::Range(1.0, 86400.0))
      ->capture_default_str();
  serve_cmd
      ->add_option("--per-number-concurrency", serve.per_number_concurrency,
                   "Calls at a time per calling number")
      ->envname("NEXUS_PER_NUMBER_CONCURRENCY")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  serve_cmd
      ->add_option("--dispatch-threads", serve.dispatch_threads,
                   "Concurrent dispatches to agent runtimes")
      ->envname("NEXUS_DISPATCH_THREADS")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  serve_cmd
      ->add_option("--dispatch-timeout", serve.dispatch_timeout_seconds,
                   "Seconds a dispatch may take before it counts as a failed attempt")
      ->envname("NEXUS_DISPATCH_TIMEOUT")
      ->check(CLI::Range(0.1, 600.0))
      ->capture_default_str();
  serve_cmd->add_option("--dialler-tick-ms", serve.dialler_tick_ms, "Milliseconds between passes")
      ->envname("NEXUS_DIALLER_TICK_MS")
      ->check(CLI::Range(5, 60000))
      ->capture_default_str();
  serve_cmd
      ->add_flag("--simulate", serve.simulate,
                 "Answer dispatches with the built-in simulator instead of agent runtimes")
      ->envname("NEXUS_SIMULATE");
  serve_cmd->add_option("--simulate-mix", serve.simulate_mix, "Simulated outcome weights")
      ->capture_default_str();
  serve_cmd
      ->add_option("--simulate-min-seconds", serve.simulate_min_seconds, "Shortest simulated call")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  serve_cmd
      ->add_option("--simulate-max-seconds", serve.simulate_max_seconds, "Longest simulated call")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  // Test-only fault injection: in no help text (empty group), off unless given.
  serve_cmd->add_option("--test-start-time", serve.test_start_time)->group("");
  serve_cmd->add_flag("--test-allow-faults", serve.test_allow_faults)->group("");
  serve_cmd->add_option("--test-max-page-count", serve.test_max_page_count)->group("");
  serve_cmd->add_option("--log-level", serve.log_level, "debug, info, warn or error")
      ->envname("NEXUS_LOG_LEVEL")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();

  InitArgs init;
  CLI::App* init_cmd =
      app.add_subcommand("init", "Create the schema, an organization, its admin and a token");
  init_cmd->add_option("--db", init.db, "Store URL")->envname("NEXUS_DB")->capture_default_str();
  init_cmd->add_option("--org", init.org, "Organization name")
      ->envname("NEXUS_ORG")
      ->capture_default_str();
  init_cmd->add_flag("--demo", init.demo, "Also create a demo agent and phone number");
  init_cmd
      ->add_option("--legal-window", init.legal_window,
                   "The organization's legal calling window, HH:MM-HH:MM, or off")
      ->capture_default_str();
  init_cmd->add_flag("--json", init.json, "Print one JSON object");

  TokenCreateArgs token;
  CLI::App* token_cmd = app.add_subcommand("token", "Manage tokens");
  token_cmd->require_subcommand(1);
  CLI::App* token_create = token_cmd->add_subcommand("create", "Issue a new token for a user");
  token_create->add_option("--user", token.user, "User ID (24 hex characters)")->required();
  token_create->add_option("--db", token.db, "Store URL")
      ->envname("NEXUS_DB")
      ->capture_default_str();
  token_create->add_flag("--json", token.json, "Print one JSON object");

  // CLI11 2.1 reports an unknown command only as "A subcommand is required"; name it instead.
  if (argc > 1 && argv[1][0] != '-' && std::string_view(argv[1]) != "serve" &&
      std::string_view(argv[1]) != "init" && std::string_view(argv[1]) != "token") {
    std::cerr << "nexus: unknown command \"" << argv[1] << "\" (expected serve, init or token)\n"
              << "Run with --help for more information.\n";
    return 2;
  }
  CLI11_PARSE(app, argc, argv);

  if (serve_cmd->parsed()) return nexus::cli::RunServe(serve);
  if (init_cmd->parsed()) return nexus::cli::RunInit(init);
  if (token_create->parsed()) return nexus::cli::RunTokenCreate(token);
  return 1;
}
