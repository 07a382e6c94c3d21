// Dispatch + report round trips, end to end: a Release `nexus serve` on a fresh SQLite database,
// a batch of N calls open all day, and a local agent runtime that answers every dispatch 200
// and at once reports the call completed (signed) on a pool of keep-alive connections. Prints
// the time from the upload's answer to the batch being completed, round trips per second and
// the server's CPU seconds and peak RSS.
//
//   build/bench/bench/dial_bench build/bench/src/cli/nexus [calls, default 100000]
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/webhook_signature.h"
#include "support/agent_receiver.h"
#include "support/raw_http.h"

namespace {

using nexus::testing::AgentReceiver;
using nexus::testing::HttpHeaders;
using nexus::testing::RawConnection;
using nexus::testing::ReceivedRequest;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string Run(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buffer;
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) out.append(buffer.data(), n);
  pclose(pipe);
  return out;
}

// One request on a keep-alive connection (reconnecting when needed).
nexus::testing::HttpResponse Call(std::unique_ptr<RawConnection>& connection, uint16_t port,
                                  const std::string& method, const std::string& target,
                                  HttpHeaders headers, const std::string& body) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!connection || !connection->connected()) {
      connection = std::make_unique<RawConnection>(port, std::chrono::milliseconds(30000));
    }
    headers.emplace_back("Host", "127.0.0.1");
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    if (connection->SendSome(nexus::testing::BuildRequest(method, target, headers, body))) {
      nexus::testing::HttpResponse response = connection->ReadResponse();
      if (response.status != 0) return response;
    }
    connection.reset();
  }
  return {};
}

struct Report {
  std::string call_id;
  int64_t attempt;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: dial_bench NEXUS_BINARY [calls]\n";
    return 2;
  }
  const std::string nexus = argv[1];
  const int calls = argc > 2 ? std::stoi(argv[2]) : 100000;
  char dir_template[] = "/tmp/nexus-dial-bench-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const std::string db = "sqlite://" + dir + "/nexus.db";

  const json init = json::parse(
      Run(nexus + " init --db " + db + " --demo --legal-window off --json"), nullptr, false);
  if (!init.is_object()) {
    std::cerr << "nexus init failed\n";
    return 1;
  }
  const std::string token = init["token"], user = init["userId"], agent = init["agentId"],
                    number = init["phoneNumberId"];

  // The contacts: distinct valid US numbers.
  const std::string csv_path = dir + "/contacts.csv";
  {
    std::ofstream csv(csv_path);
    csv << "phoneNumber,name\n";
    for (int i = 0; i < calls; ++i) {
      char phone[32];
      std::snprintf(phone, sizeof(phone), "+1212%03d%04d", 200 + i / 10000, i % 10000);
      csv << phone << ",Contact " << i << "\n";
    }
  }

  // The server.
  const std::string out_path = dir + "/serve.out";
  const pid_t server = fork();
  if (server == 0) {
    const int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    execl(nexus.c_str(), nexus.c_str(), "serve", "--db", db.c_str(), "--port", "0",
          "--per-number-concurrency", "100000", "--dispatch-threads", "16", "--workers", "8",
          "--dialler-tick-ms", "20", "--log-level", "warn", static_cast<char*>(nullptr));
    _exit(127);
  }
  uint16_t port = 0;
  for (int i = 0; i < 100 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream out(out_path);
    std::string line;
    while (std::getline(out, line)) {
      if (const size_t at = line.rfind("nexus listening on http://127.0.0.1:"); at == 0) {
        port = static_cast<uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
      }
    }
  }
  if (port == 0) {
    std::cerr << "server did not start\n";
    kill(server, SIGKILL);
    return 1;
  }

  // The agent runtime: answers 200 and queues a "completed" report for each dispatch.
  std::mutex mu;
  std::condition_variable ready;
  std::deque<Report> reports;
  bool done = false;
  AgentReceiver receiver;
  receiver.SetHandler([&](const ReceivedRequest& request) {
    const json body = json::parse(request.body, nullptr, false);
    if (body.is_object()) {
      std::lock_guard lock(mu);
      reports.push_back({body["callId"], body["attempt"]});
    }
    ready.notify_one();
    return std::pair<int, std::string>(200, "{}");
  });

  const std::string bearer = "Bearer " + token;
  std::unique_ptr<RawConnection> control;
  const auto patched =
      Call(control, port, "PATCH", "/api/agents/" + agent, {{"Authorization", bearer}},
           json({{"dispatchUrl", receiver.url()}}).dump());
  const std::string secret = json::parse(patched.body)["agent"]["webhookSecret"];

  std::vector<std::thread> reporters;
  for (int i = 0; i < 8; ++i) {
    reporters.emplace_back([&] {
      std::unique_ptr<RawConnection> connection;
      for (;;) {
        Report report;
        {
          std::unique_lock lock(mu);
          ready.wait(lock, [&] { return done || !reports.empty(); });
          if (reports.empty()) return;
          report = reports.front();
          reports.pop_front();
        }
        const std::string body =
            json({{"callStatus", "completed"}, {"callDuration", 1}, {"attempt", report.attempt}})
                .dump();
        const nexus::core::SignedHeaders signed_headers =
            nexus::core::SignWebhook(secret, absl::Now(), body);
        Call(connection, port, "POST", "/api/call/" + report.call_id + "/status",
             {{"X-Nexus-Timestamp", signed_headers.timestamp},
              {"X-Nexus-Signature", signed_headers.signature}},
             body);
      }
    });
  }

  const auto upload_start = Clock::now();
  const std::string answer =
      Run("curl -s -H 'Authorization: " + bearer + "' http://127.0.0.1:" + std::to_string(port) +
          "/api/call/upload -F file=@" + csv_path + " -F userId=" + user +
          " -F batchName=bench -F batchType=outbound -F 'callingNumbers=[\"" + number +
          "\"]' -F type=true -F enableDNC=false -F "
          "'callingHour={\"start\":\"00:00\",\"end\":\"23:59\"}'"
          " -F 'allowedDays=[0,1,2,3,4,5,6]'");
  const auto uploaded = Clock::now();
  const json upload = json::parse(answer, nullptr, false);
  if (!upload.is_object() || !upload.value("success", false)) {
    std::cerr << "upload failed: " << answer.substr(0, 500) << "\n";
    kill(server, SIGKILL);
    return 1;
  }
  const std::string batch = upload["batch"]["_id"];
  const int64_t inserted = upload["summary"]["inserted"];

  int64_t completed = 0;
  while (completed < inserted) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto details = Call(control, port, "GET", "/api/call/batch-details/" + batch + "?limit=1",
                              {{"Authorization", bearer}}, "");
    const json body = json::parse(details.body, nullptr, false);
    if (!body.is_object() || !body["data"].is_object()) continue;
    completed = body["data"]["summary"]["completed"];
    if (std::chrono::duration<double>(Clock::now() - uploaded).count() > 600) break;
  }
  const auto finished = Clock::now();

  std::string status_text;
  {
    std::ifstream status("/proc/" + std::to_string(server) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmHWM", 0) == 0) status_text = line;
    }
  }
  double cpu_seconds = 0;
  {
    std::ifstream stat("/proc/" + std::to_string(server) + "/stat");
    std::string field;
    std::vector<std::string> fields;
    while (stat >> field) fields.push_back(field);
    if (fields.size() > 15) {
      cpu_seconds = (std::stod(fields[13]) + std::stod(fields[14])) /
                    static_cast<double>(sysconf(_SC_CLK_TCK));
    }
  }
  {
    std::lock_guard lock(mu);
    done = true;
  }
  ready.notify_all();
  for (auto& thread : reporters) thread.join();
  kill(server, SIGTERM);
  waitpid(server, nullptr, 0);
  Run("rm -rf " + dir);

  const double upload_s = std::chrono::duration<double>(uploaded - upload_start).count();
  const double dial_s = std::chrono::duration<double>(finished - uploaded).count();
  std::printf(
      "calls %lld, upload %.2f s, dispatched+reported in %.2f s after the upload: "
      "%.0f round trips/s; receiver saw %zu dispatches; server CPU %.1f s (upload "
      "included), %s\n",
      static_cast<long long>(inserted), upload_s, dial_s, static_cast<double>(completed) / dial_s,
      receiver.RequestCount(), cpu_seconds, status_text.c_str());
  return completed == inserted ? 0 : 1;
}
