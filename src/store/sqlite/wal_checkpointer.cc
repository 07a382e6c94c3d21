#include "store/sqlite/wal_checkpointer.h"

#include <chrono>

#include "core/log.h"

namespace nexus::store::sqlite {

WalCheckpointer::WalCheckpointer(DbPtr db) : db_(std::move(db)), thread_([this] { Run(); }) {}

WalCheckpointer::~WalCheckpointer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void WalCheckpointer::Attach(sqlite3* connection) {
  sqlite3_wal_hook(connection, &WalCheckpointer::OnCommit, this);
}

int WalCheckpointer::checkpoints() const {
  std::lock_guard lock(mu_);
  return checkpoints_;
}

int WalCheckpointer::OnCommit(void* self, sqlite3*, const char*, int pages) {
  if (pages >= kThresholdPages) static_cast<WalCheckpointer*>(self)->Notify();
  return SQLITE_OK;
}

void WalCheckpointer::Notify() {
  {
    std::lock_guard lock(mu_);
    pending_ = true;
  }
  cv_.notify_one();
}

void WalCheckpointer::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return pending_ || stopping_; });
    if (stopping_) return;
    pending_ = false;
    lock.unlock();
    int wal_pages = 0, copied = 0;
    const int rc = sqlite3_wal_checkpoint_v2(db_.get(), "main", SQLITE_CHECKPOINT_PASSIVE,
                                             &wal_pages, &copied);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      core::Log(core::LogLevel::kWarn, "wal checkpoint failed")
          .Str("detail", sqlite3_errmsg(db_.get()));
    }
    lock.lock();
    ++checkpoints_;
    // Readers kept some frames in use: try again in a second.
    if (copied < wal_pages && !stopping_) {
      cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
      pending_ = true;
    }
  }
}

}  // namespace nexus::store::sqlite
