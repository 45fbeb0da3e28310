#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/connection.h"
#include "storage/pg_handles.h"
#include "storage/query_result.h"
#include "storage/statement.h"

struct event_base;

namespace corvid::storage {

namespace detail {
class Migrator;
}

struct DbConfig {
    /// libpq connection string, `keyword=value` form. Give the server as `hostaddr=<IP>` (keep
    /// `host=<name>` beside it only for TLS name checks) or as a unix socket directory
    /// (`host=/run/postgresql`): with `host=<name>` alone libpq resolves the name with a blocking
    /// lookup at every (re)connect, stalling the event loop. start() warns when it sees that.
    std::string dsn;
    /// Pool size: connections opened at start and kept open.
    int connections = 4;
    /// `statement_timeout` of every connection; the client also gives up (Timeout, and that
    /// connection is reset) when a connection with work in flight has answered nothing for this
    /// long plus a second. 0 disables both.
    int statementTimeoutMs = 5000;
    /// Limit for establishing one connection (TCP, TLS, authentication). 0: none.
    int connectTimeoutMs = 5000;
    /// Reconnect delays double from reconnectMinBackoffMs up to this cap.
    int reconnectMaxBackoffMs = 30000;
    int reconnectMinBackoffMs = 100;
    /// Requests queued or in flight on one connection; past that execute() fails with Unavailable.
    std::size_t maxQueuedPerConnection = 4096;
    /// Apply storage/schema migrations at start. Off for connections to a maintenance database
    /// (tests creating databases, say).
    bool applyMigrations = true;
    /// When the first connection or the migrations fail at start, try again every
    /// min(reconnectMaxBackoffMs, 2 s) instead of giving up (the daemon: PostgreSQL may come up
    /// after corvid). onReady is then called once, on success; queries issued meanwhile fail with
    /// Unavailable.
    bool retryStart = false;
    /// statement_timeout while migrating (a migration may rewrite a large table). 0: none.
    int migrationTimeoutMs = 600000;
    /// Receives warnings (lost connections, a DSN that would block ...). Empty: stderr.
    std::function<void(std::string_view)> log;
};

/// The PostgreSQL connection pool of one event loop. Everything is asynchronous: nothing here
/// ever blocks the loop, and every callback is invoked later from the loop, never from inside
/// the call that was given it (not even when it fails at once).
///
/// Queries go to the connection with the shortest queue and are answered in FIFO order per
/// connection; across connections there is no order, so a caller that needs to read its own
/// write waits for the write's callback first. Connections are kept in pipeline mode: queries are
/// sent without waiting for earlier answers.
///
/// When a connection dies, everything queued on it fails with Unavailable and it reconnects by
/// itself with exponential backoff; the other connections carry on.
///
/// Lifetime: destroying the Database (even from inside one of its callbacks) drops the callbacks
/// of queries still pending without calling them. stop() instead fails them with Unavailable.
class Database final : private detail::Connection::Listener {
  public:
    using ReadyCallback = std::function<void(std::expected<void, std::string>)>;
    using Callback = std::move_only_function<void(QueryResult)>;
    using BatchCallback = std::move_only_function<void(BatchResult)>;

    Database(event_base* base, DbConfig config);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    /// Connects and (unless configured off) applies the schema migrations on the first
    /// connection, then calls onReady. Fails when the first connection cannot be established,
    /// the DSN is invalid or a migration fails; the Database is then stopped. Call once.
    void start(ReadyCallback onReady);

    /// Runs one statement. Before start() has succeeded, after stop(), without any connection up
    /// or with every queue full, it fails (later, from the loop) with Unavailable.
    void execute(const Statement& statement, Params params, Callback done);

    /// Runs the statements in order as one transaction: they are sent between two pipeline syncs,
    /// which PostgreSQL runs as a single implicit transaction, so either all of them commit or
    /// none does (the first error is reported). They go out in one round trip: a statement
    /// cannot use an earlier one's result except through SQL (data-modifying CTEs, subqueries).
    void executeBatch(std::vector<BatchItem> items, BatchCallback done);

    /// Closes every connection; pending queries fail with Unavailable (from the loop). A start()
    /// in progress fails. Nothing can be done with the Database afterwards.
    void stop();

    /// Started, not stopped, and at least one connection is up.
    bool available() const;
    /// start() has succeeded and stop() has not been called.
    bool running() const { return state_ == State::Running; }
    /// Migrations applied by start() (0 when the schema was current).
    int migrationsApplied() const { return migrationsApplied_; }
    /// Connections up now.
    int connectionsUp() const;
    /// Queries queued or in flight, and answers not yet handed to their callbacks. 0 means that
    /// nothing the Database was given is still on its way: a graceful shutdown waits for it, so
    /// that writes the stores batched (the archive, offline messages) are not cut off.
    std::size_t pending() const;

    event_base* base() const { return base_; }
    const DbConfig& config() const { return config_; }

  private:
    enum class State { Created, Starting, Running, Stopped };
    using Task = std::move_only_function<void()>;

    // detail::Connection::Listener
    void onConnected(detail::Connection& conn) override;
    void onDisconnected(detail::Connection& conn, const std::string& why) override;
    void onCompleted(detail::BatchDone&& done, BatchResult&& result) override;
    void log(std::string_view message) override;

    std::expected<void, std::string> checkConfig();
    void dispatch(detail::Request&& request);
    void startFailed(std::string why);
    void finishStart();
    void post(Task task);
    static void onTasks(int fd, short what, void* arg);

    event_base* base_;
    DbConfig config_;
    State state_ = State::Created;
    ReadyCallback onReady_;
    int migrationsApplied_ = 0;
    std::vector<std::unique_ptr<detail::Connection>> conns_;
    std::unique_ptr<detail::Migrator> migrator_;

    // Callbacks run from this event, never from inside a libpq or socket handler, so that they
    // may call anything (execute, stop, even destroy this Database).
    std::deque<Task> tasks_;
    EventPtr tasksEv_;
    EventPtr retryTimer_;  // retryStart: the next attempt
    bool tasksScheduled_ = false;
    bool* destroyed_ = nullptr;  // set while tasks run: tells them this object is gone
};

/// Runs the loop until `done` becomes true or `timeout` passes; returns `done`. For tools such
/// as corvidctl and for tests, never for the daemon; not from inside a callback of the loop.
bool runUntil(event_base* base, const bool& done,
              std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace corvid::storage
