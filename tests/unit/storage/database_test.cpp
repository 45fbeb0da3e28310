#include "storage/database.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <set>

#include "pg_test_support.h"
#include "storage/migrations.h"

using namespace corvid::storage;
using namespace corvid::storage::test;

namespace {

constexpr Statement kEcho{"test_echo", "SELECT $1::bigint"};
constexpr Statement kBackendPid{"test_backend_pid", "SELECT pg_backend_pid()"};

std::int64_t backendPid(event_base* base, Database& db) {
    auto r = runQuery(base, db, kBackendPid);
    REQUIRE(r.ok());
    auto pid = r.int64(0, 0);
    REQUIRE(pid);
    return *pid;
}

/// Retries `SELECT 1` until it succeeds (the automatic reconnect) or the time is up.
bool recovers(event_base* base, Database& db, std::chrono::milliseconds within) {
    auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
        if (runQuery(base, db, Statement{"", "SELECT 1"}).ok()) {
            return true;
        }
        runFor(base, 50ms);
    }
    return false;
}

}  // namespace

TEST_CASE("migrations are applied once, recorded, and idempotent", "[pg][storage]") {
    auto base = newEventBase();
    ScratchDatabase scratch(base.get());
    const auto all = migrations();
    REQUIRE(!all.empty());

    {
        Database db(base.get(), testConfig(scratch.dsn()));
        REQUIRE(startSync(base.get(), db));
        CHECK(db.migrationsApplied() == static_cast<int>(all.size()));
        CHECK(db.available());
        auto r = runQuery(base.get(), db,
                          Statement{"", "SELECT version, name FROM schema_version ORDER BY 1"});
        REQUIRE(r.ok());
        REQUIRE(r.rows() == static_cast<int>(all.size()));
        for (int i = 0; i < r.rows(); ++i) {
            CHECK(r.int64(i, 0) == all[static_cast<std::size_t>(i)].version);
            CHECK(r.text(i, 1) == all[static_cast<std::size_t>(i)].name);
        }
        auto tables = runQuery(base.get(), db,
                               Statement{"",
                                         "SELECT to_regclass('accounts') IS NOT NULL, "
                                         "to_regclass('account_scram') IS NOT NULL"});
        REQUIRE(tables.ok());
        CHECK(tables.boolean(0, 0) == true);
        CHECK(tables.boolean(0, 1) == true);
    }
    {
        // A second start (the admin tool after the daemon, a restart) finds nothing to do.
        Database again(base.get(), testConfig(scratch.dsn()));
        REQUIRE(startSync(base.get(), again));
        CHECK(again.migrationsApplied() == 0);
        auto r = runQuery(base.get(), again, Statement{"", "SELECT count(*) FROM schema_version"});
        REQUIRE(r.ok());
        CHECK(r.int64(0, 0) == static_cast<std::int64_t>(all.size()));
    }
}

TEST_CASE("two processes starting together apply each migration once", "[pg][storage]") {
    auto base = newEventBase();
    ScratchDatabase scratch(base.get());
    Database a(base.get(), testConfig(scratch.dsn()));
    Database b(base.get(), testConfig(scratch.dsn()));
    std::optional<std::expected<void, std::string>> ra, rb;
    a.start([&](auto r) { ra = r; });
    b.start([&](auto r) { rb = r; });
    bool both = false;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!both && std::chrono::steady_clock::now() < deadline) {
        runFor(base.get(), 20ms);
        both = ra.has_value() && rb.has_value();
    }
    REQUIRE(both);
    REQUIRE(*ra);
    REQUIRE(*rb);
    // The advisory lock serialised them: one applied everything, the other nothing.
    CHECK(a.migrationsApplied() + b.migrationsApplied() == static_cast<int>(migrations().size()));
    auto r = runQuery(base.get(), a, Statement{"", "SELECT count(*) FROM schema_version"});
    REQUIRE(r.ok());
    CHECK(r.int64(0, 0) == static_cast<std::int64_t>(migrations().size()));
}

TEST_CASE("a schema newer than the program refuses to start", "[pg][storage]") {
    auto base = newEventBase();
    ScratchDatabase scratch(base.get());
    {
        Database db(base.get(), testConfig(scratch.dsn()));
        REQUIRE(startSync(base.get(), db));
        auto r = runQuery(base.get(), db,
                          Statement{"",
                                    "INSERT INTO schema_version (version, name) "
                                    "VALUES (9999, 'from_the_future')"});
        REQUIRE(r.ok());
    }
    Database db(base.get(), testConfig(scratch.dsn()));
    auto started = startSync(base.get(), db);
    REQUIRE(!started);
    CHECK(started.error().find("newer") != std::string::npos);
    CHECK(!db.available());
    CHECK(runQuery(base.get(), db, kEcho, {intParam(1)}).errorKind() == ErrorKind::Unavailable);
}

TEST_CASE("values come back typed; errors are classified", "[pg][storage]") {
    auto base = newEventBase();
    ScratchDatabase scratch(base.get());
    Database db(base.get(), testConfig(scratch.dsn()));
    REQUIRE(startSync(base.get(), db));

    SECTION("typed getters") {
        auto r =
            runQuery(base.get(), db,
                     Statement{"test_types",
                               "SELECT $1::bigint AS i, $2::text AS t, $3::boolean AS b,"
                               " $4::bytea AS raw, $5::text AS n, $6::bigint AS neg"},
                     {intParam(42), textParam("h\xC3\xA9llo 'quoted'"), boolParam(true),
                      byteaParam(Bytes("\x00\xff\x10\x5c", 4)), nullParam(), intParam(INT64_MIN)});
        REQUIRE(r.ok());
        REQUIRE(r.rows() == 1);
        CHECK(r.columns() == 6);
        CHECK(r.column("raw") == 3);
        CHECK(r.column("missing") == -1);
        CHECK(r.int64(0, 0) == 42);
        CHECK(r.text(0, 1) == "h\xC3\xA9llo 'quoted'");
        CHECK(r.boolean(0, 2) == true);
        CHECK(r.bytea(0, 3) == Bytes("\x00\xff\x10\x5c", 4));
        CHECK(r.isNull(0, 4));
        CHECK(!r.text(0, 4));
        CHECK(r.int64(0, 5) == INT64_MIN);
        CHECK(!r.int64(0, 1));  // not a number
        CHECK(!r.text(1, 0));   // no such row
        CHECK(!r.text(0, 9));   // no such column
    }
    SECTION("empty bytea and rows affected") {
        auto ddl =
            runQuery(base.get(), db, Statement{"", "CREATE TABLE t (id int PRIMARY KEY, b bytea)"});
        REQUIRE(ddl.ok());
        auto ins = runQuery(base.get(), db,
                            Statement{"", "INSERT INTO t SELECT g, $1 FROM generate_series(1,3) g"},
                            {byteaParam(Bytes{})});
        REQUIRE(ins.ok());
        CHECK(ins.affectedRows() == 3);
        auto sel = runQuery(base.get(), db, Statement{"", "SELECT b FROM t LIMIT 1"});
        REQUIRE(sel.ok());
        CHECK(sel.bytea(0, 0) == Bytes{});
        auto dup = runQuery(base.get(), db, Statement{"", "INSERT INTO t VALUES (1, NULL)"});
        REQUIRE(!dup.ok());
        CHECK(dup.error().kind == ErrorKind::Constraint);
        CHECK(dup.error().sqlState == kUniqueViolation);
    }
    SECTION("a wrong parameter count is Other, not a lost connection") {
        auto r = runQuery(base.get(), db, kEcho, {intParam(1), intParam(2)});
        REQUIRE(!r.ok());
        CHECK(r.error().kind == ErrorKind::Other);
        CHECK(runQuery(base.get(), db, kEcho, {intParam(3)}).int64(0, 0) == 3);
    }
    SECTION("a SQL error is Other, and the connection goes on") {
        auto bad = runQuery(base.get(), db, Statement{"test_bad", "SELEC 1"});
        REQUIRE(!bad.ok());
        CHECK(bad.error().kind == ErrorKind::Other);
        CHECK(bad.error().sqlState == "42601");
        CHECK(!bad.error().message.empty());
        auto again = runQuery(base.get(), db, Statement{"test_bad", "SELEC 1"});
        CHECK(again.error().sqlState == "42601");  // prepared anew, fails the same way
        CHECK(runQuery(base.get(), db, kEcho, {intParam(7)}).int64(0, 0) == 7);
    }
}

TEST_CASE("1,000 queries in flight complete, in order on one connection", "[pg][storage]") {
    auto base = newEventBase();
    ScratchDatabase scratch(base.get());
    constexpr int kQueries = 1000;

    SECTION("one connection: FIFO") {
        Database db(base.get(), testConfig(scratch.dsn(), 1));
        REQUIRE(startSync(base.get(), db));
        std::vector<std::int64_t> order;
        bool done = false;
        for (int i = 0; i < kQueries; ++i) {
            db.execute(kEcho, {intParam(i)}, [&, i](QueryResult r) {
                REQUIRE(r.ok());
                CHECK(r.int64(0, 0) == i);
                order.push_back(r.int64(0, 0).value_or(-1));
                done = order.size() == kQueries;
            });
        }
        REQUIRE(runUntil(base.get(), done, 30s));
        for (int i = 0; i < kQueries; ++i) {
            REQUIRE(order[static_cast<std::size_t>(i)] == i);
        }
    }
    SECTION("four connections share the load") {
        Database db(base.get(), testConfig(scratch.dsn(), 4));
        REQUIRE(startSync(base.get(), db));
        // The other connections connect while the first one migrates; wait for them.
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (db.connectionsUp() < 4 && std::chrono::steady_clock::now() < deadline) {
            runFor(base.get(), 10ms);
        }
        REQUIRE(db.connectionsUp() == 4);
        std::set<std::int64_t> pids;
        int answered = 0;
        bool done = false;
        for (int i = 0; i < kQueries; ++i) {
            db.execute(Statement{"test_pid_echo", "SELECT pg_backend_pid(), $1::bigint"},
                       {intParam(i)}, [&, i](QueryResult r) {
                           REQUIRE(r.ok());
                           CHECK(r.int64(0, 1) == i);
                           pids.insert(r.int64(0, 0).value_or(0));
                           done = ++answered == kQueries;
                       });
        }
        REQUIRE(runUntil(base.get(), done, 30s));
        CHECK(pids.size() == 4);
    }
}

TEST_CASE("callbacks are never invoked from inside the call", "[pg][storage]") {
    auto base = newEventBase();
    ScratchDatabase scratch(base.get());
    DbConfig cfg = testConfig(scratch.dsn(), 1);
    cfg.maxQueuedPerConnection = 2;
    Database db(base.get(), cfg);

    // Before start: fails, but later.
    bool inside = true;
    bool called = false;
    db.execute(kEcho, {intParam(1)}, [&](QueryResult r) {
        CHECK(!inside);
        CHECK(r.errorKind() == ErrorKind::Unavailable);
        called = true;
    });
    CHECK(!called);
    inside = false;
    REQUIRE(runUntil(base.get(), called, 5s));

    REQUIRE(startSync(base.get(), db));

    // Success, full queue and batch paths.
    int answers = 0;
    int unavailable = 0;
    inside = true;
    for (int i = 0; i < 3; ++i) {
        db.execute(kEcho, {intParam(i)}, [&](QueryResult r) {
            CHECK(!inside);
            ++answers;
            if (!r.ok()) {
                CHECK(r.errorKind() == ErrorKind::Unavailable);
                CHECK(r.error().message.find("queue full") != std::string::npos);
                ++unavailable;
            }
        });
    }
    db.executeBatch({}, [&](BatchResult r) {
        CHECK(!inside);
        CHECK(r.ok());
        ++answers;
    });
    CHECK(answers == 0);
    inside = false;
    REQUIRE(waitFor(base.get(), [&] { return answers == 4; }));
    CHECK(unavailable == 1);  // the queue holds two

    // After stop: fails, later.
    db.stop();
    called = false;
    inside = true;
    db.execute(kEcho, {intParam(1)}, [&](QueryResult r) {
        CHECK(!inside);
        CHECK(r.errorKind() == ErrorKind::Unavailable);
        called = true;
    });
    inside = false;
    CHECK(runUntil(base.get(), called, 5s));
}

TEST_CASE("a batch commits all or nothing", "[pg][storage]") {
    auto base = newEventBase();
    ScratchDatabase scratch(base.get());
    Database db(base.get(), testConfig(scratch.dsn(), 1));
    REQUIRE(startSync(base.get(), db));
    REQUIRE(runQuery(base.get(), db, Statement{"", "CREATE TABLE t (x int PRIMARY KEY)"}).ok());

    constexpr Statement kInsert{"test_insert", "INSERT INTO t VALUES ($1) RETURNING x"};
    constexpr Statement kCount{"test_count", "SELECT count(*) FROM t"};
    auto batch = [&](std::vector<BatchItem> items) {
        BatchResult out;
        bool done = false;
        db.executeBatch(std::move(items), [&](BatchResult r) {
            out = std::move(r);
            done = true;
        });
        REQUIRE(runUntil(base.get(), done, 10s));
        return out;
    };

    auto ok = batch({{kInsert, {intParam(1)}}, {kInsert, {intParam(2)}}, {kCount, {}}});
    REQUIRE(ok.ok());
    REQUIRE(ok.results.size() == 3);
    CHECK(ok.results[0].int64(0, 0) == 1);
    CHECK(ok.results[1].int64(0, 0) == 2);
    CHECK(ok.results[2].int64(0, 0) == 2);  // sees the batch's own writes

    // The duplicate fails the batch, and the row inserted before it is rolled back. The
    // statement after it is prepared here for the first time; its Prepare must not be lost
    // with the aborted batch, or the query queued right behind would fail.
    constexpr Statement kFresh{"test_fresh", "SELECT count(*) + 0 FROM t"};
    BatchResult failed;
    QueryResult behind;
    int done = 0;
    db.executeBatch({{kInsert, {intParam(3)}}, {kInsert, {intParam(1)}}, {kFresh, {}}},
                    [&](BatchResult r) {
                        failed = std::move(r);
                        ++done;
                    });
    db.execute(kFresh, {}, [&](QueryResult r) {
        behind = std::move(r);
        ++done;
    });
    REQUIRE(waitFor(base.get(), [&] { return done == 2; }));
    REQUIRE(!failed.ok());
    CHECK(failed.error->kind == ErrorKind::Constraint);
    CHECK(failed.error->sqlState == kUniqueViolation);
    CHECK(failed.results.empty());
    REQUIRE(behind.ok());
    CHECK(behind.int64(0, 0) == 2);  // 3 was not committed
}

TEST_CASE("a killed connection fails its query with Unavailable, then reconnects",
          "[pg][storage]") {
    auto base = newEventBase();
    ScratchDatabase scratch(base.get());
    LogSink logs;
    DbConfig cfg = testConfig(scratch.dsn(), 1);
    cfg.log = logs.fn();
    // Long enough that the connection is surely still down when the second query is issued.
    cfg.reconnectMinBackoffMs = 1000;
    cfg.reconnectMaxBackoffMs = 2000;
    Database db(base.get(), cfg);
    REQUIRE(startSync(base.get(), db));
    auto pid = backendPid(base.get(), db);

    // A query in flight when its backend is terminated from another connection.
    QueryResult inFlight;
    QueryResult killed;
    int answers = 0;
    db.execute(Statement{"", "SELECT pg_sleep(5)"}, {}, [&](QueryResult r) {
        inFlight = std::move(r);
        ++answers;
    });
    scratch.admin().execute(Statement{"", "SELECT pg_terminate_backend($1::int)"}, {intParam(pid)},
                            [&](QueryResult r) {
                                killed = std::move(r);
                                ++answers;
                            });
    REQUIRE(waitFor(
        base.get(), [&] { return answers == 2; }, 10s));
    REQUIRE(killed.ok());
    REQUIRE(killed.boolean(0, 0) == true);
    REQUIRE(!inFlight.ok());
    CHECK(inFlight.error().kind == ErrorKind::Unavailable);
    CHECK(logs.contains("reconnecting"));

    // Issued while the connection is down: fails fast.
    CHECK(!db.available());
    auto down = runQuery(base.get(), db, kEcho, {intParam(1)});
    REQUIRE(!down.ok());
    CHECK(down.error().kind == ErrorKind::Unavailable);

    // Recovers by itself.
    REQUIRE(recovers(base.get(), db, 10s));
    CHECK(db.available());
    CHECK(backendPid(base.get(), db) != pid);
    // Statements are prepared again on the new connection.
    CHECK(runQuery(base.get(), db, kEcho, {intParam(5)}).int64(0, 0) == 5);
}

TEST_CASE("a connection killed while idle: the next query fails or succeeds, never hangs",
          "[pg][storage]") {
    auto base = newEventBase();
    ScratchDatabase scratch(base.get());
    DbConfig cfg = testConfig(scratch.dsn(), 1);
    cfg.reconnectMinBackoffMs = 1000;
    cfg.reconnectMaxBackoffMs = 2000;
    Database db(base.get(), cfg);
    REQUIRE(startSync(base.get(), db));
    auto pid = backendPid(base.get(), db);
    // Run nothing on `db` meanwhile: pg_terminate_backend(pid, timeout) waits for the exit, and
    // the loop then sees the close only after the next query has been queued behind it.
    auto killed =
        runQuery(base.get(), scratch.admin(),
                 Statement{"", "SELECT pg_terminate_backend($1::int, 5000)"}, {intParam(pid)});
    REQUIRE(killed.ok());
    auto r = runQuery(base.get(), db, kEcho, {intParam(1)});
    if (!r.ok()) {
        CHECK(r.error().kind == ErrorKind::Unavailable);
    }
    REQUIRE(recovers(base.get(), db, 10s));
}

TEST_CASE("one dead connection does not take the pool down", "[pg][storage]") {
    auto base = newEventBase();
    ScratchDatabase scratch(base.get());
    Database db(base.get(), testConfig(scratch.dsn(), 2));
    REQUIRE(startSync(base.get(), db));
    REQUIRE(waitFor(
        base.get(), [&] { return db.connectionsUp() == 2; }, 10s));
    // Kill every backend of this database but the admin's; both connections drop.
    auto killed = runQuery(
        base.get(), scratch.admin(),
        Statement{"",
                  "SELECT count(pg_terminate_backend(pid, 5000)) FROM "
                  "pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'"},
        {textParam(scratch.name())});
    REQUIRE(killed.ok());
    CHECK(killed.int64(0, 0) == 2);
    REQUIRE(waitFor(
        base.get(), [&] { return db.connectionsUp() == 2; }, 10s));
    CHECK(runQuery(base.get(), db, kEcho, {intParam(9)}).int64(0, 0) == 9);
}

TEST_CASE("statement timeout gives Timeout", "[pg][storage]") {
    auto base = newEventBase();
    ScratchDatabase scratch(base.get());
    DbConfig cfg = testConfig(scratch.dsn(), 1);
    cfg.statementTimeoutMs = 300;

    SECTION("the server cancels a slow statement; the connection goes on") {
        Database db(base.get(), cfg);
        REQUIRE(startSync(base.get(), db));
        auto t0 = std::chrono::steady_clock::now();
        auto r = runQuery(base.get(), db, Statement{"", "SELECT pg_sleep(10)"});
        auto elapsed = std::chrono::steady_clock::now() - t0;
        REQUIRE(!r.ok());
        CHECK(r.error().kind == ErrorKind::Timeout);
        CHECK(r.error().sqlState == "57014");
        CHECK(elapsed < 8s);  // pg_sleep(10) was cut short; loose for loaded CI machines
        CHECK(runQuery(base.get(), db, kEcho, {intParam(2)}).int64(0, 0) == 2);
    }
    SECTION("a server that stops answering: the client times out and reconnects") {
        Database db(base.get(), cfg);
        REQUIRE(startSync(base.get(), db));
        auto pid = static_cast<pid_t>(backendPid(base.get(), db));
        // Freeze the backend process: its statement_timeout cannot fire, like a hung host. The
        // test must run on the server's machine as root or postgres.
        REQUIRE(kill(pid, SIGSTOP) == 0);
        struct Resume {
            pid_t pid;
            ~Resume() { kill(pid, SIGCONT); }
        } resume{pid};
        int answers = 0;
        QueryResult head;
        QueryResult second;
        db.execute(kEcho, {intParam(1)}, [&](QueryResult r) {
            head = std::move(r);
            ++answers;
        });
        db.execute(kEcho, {intParam(2)}, [&](QueryResult r) {
            second = std::move(r);
            ++answers;
        });
        auto t0 = std::chrono::steady_clock::now();
        REQUIRE(waitFor(
            base.get(), [&] { return answers == 2; }, 10s));
        auto elapsed = std::chrono::steady_clock::now() - t0;
        CHECK(head.errorKind() == ErrorKind::Timeout);
        CHECK(second.errorKind() == ErrorKind::Unavailable);
        CHECK(elapsed >= 1s);  // the 300 ms statement timeout plus the grace
        CHECK(elapsed < 8s);
        kill(pid, SIGCONT);
        REQUIRE(recovers(base.get(), db, 10s));
        CHECK(backendPid(base.get(), db) != pid);
    }
}

TEST_CASE("stop fails what is pending; destroying the Database in a callback is safe",
          "[pg][storage]") {
    auto base = newEventBase();
    ScratchDatabase scratch(base.get());

    SECTION("stop") {
        Database db(base.get(), testConfig(scratch.dsn(), 1));
        REQUIRE(startSync(base.get(), db));
        int unavailable = 0;
        bool inStop = true;
        for (int i = 0; i < 5; ++i) {
            db.execute(Statement{"", "SELECT pg_sleep(1)"}, {}, [&](QueryResult r) {
                CHECK(!inStop);
                if (r.errorKind() == ErrorKind::Unavailable) {
                    ++unavailable;
                }
            });
        }
        db.stop();
        inStop = false;
        CHECK(unavailable == 0);
        REQUIRE(waitFor(
            base.get(), [&] { return unavailable == 5; }, 5s));
        CHECK(!db.available());
        db.stop();  // twice is fine
    }
    SECTION("destroy from inside a callback") {
        auto db = std::make_unique<Database>(base.get(), testConfig(scratch.dsn(), 1));
        REQUIRE(startSync(base.get(), *db));
        int called = 0;
        for (int i = 0; i < 5; ++i) {
            db->execute(kEcho, {intParam(i)}, [&](QueryResult r) {
                CHECK(r.ok());
                ++called;
                db.reset();
            });
        }
        REQUIRE(waitFor(
            base.get(), [&] { return !db; }, 10s));
        runFor(base.get(), 200ms);
        CHECK(called == 1);  // the others were dropped with the Database
    }
    SECTION("destroy from inside the ready callback") {
        auto db = std::make_unique<Database>(base.get(), testConfig(scratch.dsn(), 2));
        bool ready = false;
        db->start([&](auto r) {
            CHECK(r);
            ready = true;
            db.reset();
        });
        REQUIRE(runUntil(base.get(), ready, 10s));
        runFor(base.get(), 200ms);
        CHECK(!db);
    }
}

TEST_CASE("start fails cleanly without a server or with a bad DSN", "[storage]") {
    auto base = newEventBase();

    SECTION("nothing listens") {
        // Port 1 on loopback: refused at once.
        Database db(base.get(), testConfig("hostaddr=127.0.0.1 port=1 user=postgres", 2));
        auto started = startSync(base.get(), db);
        REQUIRE(!started);
        CHECK(!started.error().empty());
        CHECK(!db.available());
        CHECK(runQuery(base.get(), db, kEcho, {intParam(1)}).errorKind() == ErrorKind::Unavailable);
    }
    SECTION("a server that never answers: the connect timeout") {
        // A listening socket nobody accepts from: the TCP handshake completes (backlog), then
        // libpq waits forever for an answer to its first packet.
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd >= 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(listen(fd, 8) == 0);
        socklen_t len = sizeof addr;
        REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
        DbConfig cfg = testConfig(
            "hostaddr=127.0.0.1 user=postgres port=" + std::to_string(ntohs(addr.sin_port)), 1);
        cfg.connectTimeoutMs = 300;
        Database db(base.get(), cfg);
        auto t0 = std::chrono::steady_clock::now();
        auto started = startSync(base.get(), db);
        auto elapsed = std::chrono::steady_clock::now() - t0;
        close(fd);
        REQUIRE(!started);
        CHECK(started.error().find("connect timed out") != std::string::npos);
        // libevent's timers run on CLOCK_MONOTONIC_COARSE, which lags steady_clock by up to its
        // resolution (a scheduler tick): the timeout fires 300 ms after the start by that clock.
        timespec coarse{};
        REQUIRE(clock_getres(CLOCK_MONOTONIC_COARSE, &coarse) == 0);
        const auto tick =
            std::chrono::seconds(coarse.tv_sec) + std::chrono::nanoseconds(coarse.tv_nsec);
        CHECK(elapsed >= 300ms - tick);
        CHECK(elapsed < 8s);
    }
    SECTION("invalid DSN") {
        Database db(base.get(), testConfig("this is not a dsn", 1));
        auto started = startSync(base.get(), db);
        REQUIRE(!started);
        CHECK(started.error().find("invalid database DSN") != std::string::npos);
    }
    SECTION("a host name in the DSN is warned about") {
        LogSink logs;
        DbConfig cfg = testConfig("host=localhost port=1 user=postgres connect_timeout=1", 1);
        cfg.log = logs.fn();
        Database db(base.get(), cfg);
        auto started = startSync(base.get(), db);
        CHECK(!started);
        CHECK(logs.contains("blocking lookup"));
    }
    SECTION("an address or a socket directory is not") {
        LogSink logs;
        DbConfig cfg = testConfig("host=/nonexistent hostaddr=127.0.0.1 port=1", 1);
        cfg.log = logs.fn();
        Database db(base.get(), cfg);
        CHECK(!startSync(base.get(), db));
        CHECK(!logs.contains("blocking lookup"));
    }
}
