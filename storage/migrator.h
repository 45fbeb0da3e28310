#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <span>
#include <string>

#include "storage/connection.h"
#include "storage/migrations.h"

namespace corvid::storage::detail {

/// Brings the schema up to date over one connection in simple-protocol mode. Each migration runs
/// in its own transaction that holds a transaction-level advisory lock (so a daemon and an admin
/// tool starting together never apply one twice) and records it in `schema_version`. Applied
/// versions are read again under the lock before each migration.
class Migrator {
  public:
    /// Receives how many migrations were applied, or why it failed.
    using Done = std::move_only_function<void(std::expected<int, std::string>)>;

    /// The advisory lock key: "corvid" in ASCII.
    static constexpr std::int64_t kLockKey = 0x636f72766964;

    Migrator(Connection& conn, std::span<const Migration> migrations, Done done);

    void run();

  private:
    void submit(std::string sql, std::move_only_function<void(BatchResult)> next);
    void lockAndRead();
    void onVersions(BatchResult result);
    void apply(const Migration& m);
    void finish(std::expected<int, std::string> outcome);

    Connection& conn_;
    std::span<const Migration> migrations_;
    Done done_;
    int applied_ = 0;
};

}  // namespace corvid::storage::detail
