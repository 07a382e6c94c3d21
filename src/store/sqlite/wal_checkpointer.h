// File: store/sqlite/wal_checkpointer.h
//
// Moves SQLite's WAL checkpoints off the request path. By default the connection whose COMMIT
// pushes the WAL past 1,000 pages copies the WAL back into the database inside that COMMIT: a
// 1M-call upload paid ~0.6 s for it before answering. Attach() replaces that automatic
// checkpoint on a store connection with a notification; a background thread with its own
// connection then runs PASSIVE checkpoints (they never block readers or the writer) whenever
// the WAL has grown past the threshold, and retries every second while pages remain.
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "store/sqlite/sqlite_store.h"

namespace nexus::store::sqlite {

class WalCheckpointer {
 public:
  static constexpr int kThresholdPages = 1000;  // SQLite's default wal_autocheckpoint

  // `db` is the checkpointer's own connection to the same database file.
  explicit WalCheckpointer(DbPtr db);
  ~WalCheckpointer();  // stops the thread (SQLite checkpoints when the last connection closes)
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  // Installs the notification on `connection` (which must outlive this object or be detached by
  // closing it first).
  void Attach(sqlite3* connection);

  // Checkpoints run so far (for tests).
  int checkpoints() const;

 private:
  static int OnCommit(void* self, sqlite3* db, const char* schema, int pages);
  void Notify();
  void Run();

  DbPtr db_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool pending_ = false;
  bool stopping_ = false;
  int checkpoints_ = 0;
  std::thread thread_;
};

}  // namespace nexus::store::sqlite
