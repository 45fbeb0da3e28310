#pragma once

// Helpers of the [pg] tests: they run against a real PostgreSQL given by CORVID_TEST_PG_DSN, each
// test case in a database of its own, created and dropped around it.

#include <event2/event.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <expected>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "storage/account_store.h"  // StoreError
#include "storage/database.h"

namespace corvid::storage::test {

using namespace std::chrono_literals;

inline std::string baseDsn() {
    const char* dsn = std::getenv("CORVID_TEST_PG_DSN");
    if (dsn == nullptr || *dsn == '\0') {
        FAIL(
            "CORVID_TEST_PG_DSN is not set: the [pg] tests need a running PostgreSQL. Start a "
            "private one and export its DSN:\n"
            "    scripts/pg.sh start /tmp/corvid-pg 55432\n"
            "    export CORVID_TEST_PG_DSN='hostaddr=127.0.0.1 port=55432 user=postgres "
            "dbname=postgres'\n"
            "(or run only the other tests: storage_tests '~[pg]')");
    }
    std::string s(dsn);
    if (s.starts_with("postgres://") || s.starts_with("postgresql://")) {
        FAIL("CORVID_TEST_PG_DSN must be in keyword=value form, not a URI");
    }
    return s;
}

struct EventBaseDeleter {
    void operator()(event_base* base) const { event_base_free(base); }
};
using EventBasePtr = std::unique_ptr<event_base, EventBaseDeleter>;

inline EventBasePtr newEventBase() {
    EventBasePtr base(event_base_new());
    REQUIRE(base);
    return base;
}

/// Warnings the Database logged, instead of stderr.
struct LogSink {
    std::vector<std::string> lines;

    std::function<void(std::string_view)> fn() {
        return [this](std::string_view line) { lines.emplace_back(line); };
    }
    bool contains(std::string_view needle) const {
        for (const auto& l : lines) {
            if (l.find(needle) != std::string::npos) {
                return true;
            }
        }
        return false;
    }
};

inline DbConfig testConfig(std::string dsn, int connections = 2) {
    DbConfig c;
    c.dsn = std::move(dsn);
    c.connections = connections;
    c.statementTimeoutMs = 5000;
    c.connectTimeoutMs = 5000;
    c.reconnectMinBackoffMs = 50;
    c.reconnectMaxBackoffMs = 200;
    c.log = [](std::string_view) {};
    return c;
}

/// Starts the database, running the loop until it is ready.
inline std::expected<void, std::string> startSync(event_base* base, Database& db) {
    std::optional<std::expected<void, std::string>> outcome;
    bool done = false;
    db.start([&](std::expected<void, std::string> r) {
        outcome = std::move(r);
        done = true;
    });
    REQUIRE(runUntil(base, done, 30s));
    return *outcome;
}

/// Runs one statement, running the loop until it answers.
inline QueryResult runQuery(event_base* base, Database& db, const Statement& statement,
                            Params params = {}) {
    QueryResult out;
    bool done = false;
    db.execute(statement, std::move(params), [&](QueryResult r) {
        out = std::move(r);
        done = true;
    });
    REQUIRE(runUntil(base, done, 30s));
    return out;
}

/// Runs the loop for a while (timers, reconnects) without waiting for anything in particular.
inline void runFor(event_base* base, std::chrono::milliseconds duration) {
    bool never = false;
    runUntil(base, never, duration);
}

/// Runs the loop until pred() holds or the time is up; returns pred().
template <typename Pred>
bool waitFor(event_base* base, Pred pred, std::chrono::milliseconds within = 30s) {
    auto deadline = std::chrono::steady_clock::now() + within;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        runFor(base, 5ms);
    }
    return true;
}

/// A fresh database with a random name on the test server, dropped (WITH (FORCE)) at the end.
class ScratchDatabase {
  public:
    explicit ScratchDatabase(event_base* base) : base_(base), baseDsn_(baseDsn()) {
        std::random_device rd;
        std::uniform_int_distribution<unsigned long long> dist;
        char buf[32];
        std::snprintf(buf, sizeof buf, "%016llx", dist(rd));
        name_ = std::string("corvid_test_") + buf;

        DbConfig cfg = testConfig(baseDsn_, 1);
        cfg.applyMigrations = false;  // never touch the maintenance database's schema
        admin_ = std::make_unique<Database>(base_, std::move(cfg));
        auto started = startSync(base_, *admin_);
        if (!started) {
            FAIL("cannot connect to CORVID_TEST_PG_DSN (" << baseDsn_ << "): " << started.error()
                                                          << "\nIs it running? scripts/pg.sh "
                                                             "start /tmp/corvid-pg 55432");
        }
        std::string sql = "CREATE DATABASE " + name_;
        auto r = runQuery(base_, *admin_, Statement{"", sql});
        if (!r.ok()) {
            FAIL("CREATE DATABASE failed: " << r.error().message);
        }
    }

    ~ScratchDatabase() {
        std::string sql = "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)";
        bool done = false;
        admin_->execute(Statement{"", sql}, {}, [&](QueryResult) { done = true; });
        runUntil(base_, done, 30s);
    }

    ScratchDatabase(const ScratchDatabase&) = delete;
    ScratchDatabase& operator=(const ScratchDatabase&) = delete;

    /// Later keywords override earlier ones in a libpq connection string.
    std::string dsn() const { return baseDsn_ + " dbname=" + name_; }
    const std::string& name() const { return name_; }
    /// A connection to the maintenance database (no migrations), for pg_terminate_backend & co.
    Database& admin() { return *admin_; }

  private:
    event_base* base_;
    std::string baseDsn_;
    std::string name_;
    std::unique_ptr<Database> admin_;
};

/// Calls `call` with a completion callback and runs the loop until the store answers (at most
/// 10 s): the stores' asynchronous API, driven synchronously for a test.
template <typename T, typename Call>
std::expected<T, StoreError> await(event_base* base, Call call) {
    std::optional<std::expected<T, StoreError>> out;
    bool done = false;
    call([&](std::expected<T, StoreError> r) {
        out = std::move(r);
        done = true;
    });
    REQUIRE(runUntil(base, done, 10s));
    return std::move(*out);
}

}  // namespace corvid::storage::test
