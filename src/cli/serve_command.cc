#include <sys/stat.h>

#include <csignal>
#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/memory.h"
#include "core/metrics.h"
#include "domain/phone_normalizer.h"
#include "http/api.h"
#include "http/server.h"
#include "schedule/dialler.h"
#include "schedule/dispatch_client.h"
#include "schedule/simulator.h"
#include "service/auth_service.h"
#include "service/workspace_service.h"
#include "store/store.h"

namespace nexus::cli {
namespace {

core::LogLevel ParseLevel(const std::string& name) {
  if (name == "debug") return core::LogLevel::kDebug;
  if (name == "warn") return core::LogLevel::kWarn;
  if (name == "error") return core::LogLevel::kError;
  return core::LogLevel::kInfo;
}

// Blocks SIGTERM and SIGINT in this thread (and so in every thread started after it), so that
// WaitForStopSignal can take them synchronously instead of in an async signal handler.
sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// The upload spool: --spool-dir, else $TMPDIR/nexus-spool, else /tmp/nexus-spool (created 0700).
std::string SpoolDir(const std::string& configured) {
  std::string dir = configured;
  if (dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    dir = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/nexus-spool";
  }
  mkdir(dir.c_str(), 0700);
  return dir;
}

int WaitForStopSignal(const sigset_t& signals) {
  int signal = 0;
  sigwait(&signals, &signal);
  return signal;
}

}  // namespace

int RunServe(const ServeArgs& args) {
  const sigset_t stop_signals = BlockStopSignals();
  // A peer closing a connection must be an error on that socket, not the end of the process
  // (dispatches over TLS, clients going away mid-response).
  std::signal(SIGPIPE, SIG_IGN);
  core::SetLogLevel(ParseLevel(args.log_level));

  core::MapLargeAllocations(size_t{1} << 20);  // large request buffers go back to the OS
  store::StoreOptions store_options;
  store_options.allow_test_faults = args.test_allow_faults;
  store_options.test_max_page_count = args.test_max_page_count;
  store_options.call_index_max_bytes = static_cast<size_t>(args.call_index_mb) << 20;
  store_options.call_index_min_calls = args.call_index_min_calls;
  if (args.test_allow_faults) {
    core::Log(core::LogLevel::kWarn,
              "test fault injection is enabled: never use this in production");
  }
  auto store = store::OpenStore(args.db, store_options);
  if (!store.ok()) {
    std::cerr << "nexus serve: " << store.status().message() << "\n";
    return 1;
  }
  core::Metrics metrics;
  std::optional<core::ShiftedClock> test_clock;
  if (!args.test_start_time.empty()) {
    absl::Time start;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, args.test_start_time, &start, &error)) {
      std::cerr << "nexus serve: --test-start-time: " << error << "\n";
      return 1;
    }
    test_clock.emplace(start);
    core::Log(core::LogLevel::kWarn, "test clock in use: never use this in production")
        .Str("start", args.test_start_time);
  }
  const core::Clock& clock =
      test_clock ? static_cast<const core::Clock&>(*test_clock) : core::RealClock::Real();
  service::AuthService auth(**store);
  service::WorkspaceService workspace(**store, clock);
  service::UploadLimits upload_limits;
  upload_limits.read.max_rows = args.max_rows;
  upload_limits.read.max_columns = args.max_columns;
  upload_limits.read.max_cell_bytes = args.max_cell_bytes;
  upload_limits.read.max_decompressed_bytes = args.max_decompressed_bytes;
  const domain::PhoneNormalizer phone_normalizer;
  service::UploadService uploads(**store, clock, phone_normalizer, upload_limits);
  service::InFlightKeys in_flight;
  service::BatchService batches(**store, clock);

  http::ApiOptions api_options;
  api_options.json_body_limit = args.json_body_limit;
  api_options.upload.max_body_bytes = args.upload_body_limit;
  api_options.upload.spool_dir = SpoolDir(args.spool_dir);
  if (const int swept = http::SweepUploadSpool(api_options.upload.spool_dir); swept > 0) {
    core::Log(core::LogLevel::kInfo, "removed upload spool files left by a stopped process")
        .Int("files", swept);
  }
  store::Store& db = **store;

  // Dialling: the simulator or agent runtimes over HTTP. Declared so that the senders are
  // destroyed before the dialler their callbacks report to.
  schedule::DiallerOptions dialler_options;
  dialler_options.per_number_concurrency = args.per_number_concurrency;
  dialler_options.call_timeout = absl::Seconds(args.call_timeout_seconds);
  dialler_options.tick = absl::Milliseconds(args.dialler_tick_ms);
  std::unique_ptr<schedule::CallSender> sender;
  std::unique_ptr<schedule::Dialler> dialler;
  std::unique_ptr<schedule::DispatchClient> dispatch_client;
  std::unique_ptr<schedule::Simulator> simulator;
  if (args.simulate) {
    schedule::SimulatorOptions simulator_options;
    simulator_options.min_duration = absl::Seconds(args.simulate_min_seconds);
    simulator_options.max_duration = absl::Seconds(args.simulate_max_seconds);
    auto mix = schedule::ParseSimulatorMix(args.simulate_mix, simulator_options);
    if (!mix.ok()) {
      std::cerr << "nexus serve: " << mix.status().message() << "\n";
      return 1;
    }
    simulator = std::make_unique<schedule::Simulator>(*mix);
    dialler = std::make_unique<schedule::Dialler>(db, clock, *simulator, dialler_options, &metrics);
    simulator->Attach(dialler.get());
  } else {
    schedule::DispatchClientOptions client_options;
    client_options.threads = args.dispatch_threads;
    client_options.timeout = absl::Seconds(args.dispatch_timeout_seconds);
    dispatch_client = std::make_unique<schedule::DispatchClient>(client_options,
                                                                 [&clock] { return clock.Now(); });
    sender = std::make_unique<schedule::HttpCallSender>(*dispatch_client);
    dialler = std::make_unique<schedule::Dialler>(db, clock, *sender, dialler_options, &metrics);
  }

  const http::Api api({[&db] { return db.Ping(); }, &auth, &workspace, &uploads, &in_flight,
                       &metrics, &batches, dialler.get()},
                      api_options);

  http::ServerOptions options;
  options.host = args.host;
  options.port = static_cast<uint16_t>(args.port);
  options.worker_threads = args.workers;
  options.io_threads = args.io_threads;
  options.header_timeout = absl::Seconds(args.header_timeout_seconds);
  options.keep_alive_timeout = absl::Seconds(args.keep_alive_seconds);
  options.shutdown_grace = absl::Seconds(args.shutdown_grace_seconds);
  options.min_body_bytes_per_second = args.min_body_rate;
  options.max_connections = args.max_connections;
  http::Server server(
      options, [&api](http::Request& head) { return api.Prepare(head); }, &metrics);
  auto port = server.Start();
  if (!port.ok()) {
    std::cerr << "nexus serve: " << port.status().message() << "\n";
    return 1;
  }
  if (args.dialler) {
    if (absl::Status started = dialler->Start(); !started.ok()) {
      std::cerr << "nexus serve: cannot start the dialler: " << started.message() << "\n";
      return 1;
    }
    core::Log(core::LogLevel::kInfo, "dialler started")
        .Bool("simulate", args.simulate)
        .Int("per_number_concurrency", args.per_number_concurrency);
  }
  // Tests and scripts read this line to learn the port (it matters with --port 0).
  std::cout << "nexus listening on http://" << args.host << ":" << *port << std::endl;

  const int signal = WaitForStopSignal(stop_signals);
  core::Log(core::LogLevel::kInfo, "shutting down").Int("signal", signal);
  dialler->Stop();  // no new attempts; reports of those in flight are still taken until the end
  server.Shutdown();
  dispatch_client.reset();  // finishes dispatches in flight (their results are recorded)
  simulator.reset();
  core::Log(core::LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace nexus::cli
