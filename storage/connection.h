#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "storage/pg_handles.h"
#include "storage/query_result.h"
#include "storage/statement.h"

struct event_base;

// Internal to storage: Database's pool is made of these. Not part of the public API.
namespace corvid::storage::detail {

using BatchDone = std::move_only_function<void(BatchResult)>;

/// One SQL operation of a request.
struct Op {
    std::string_view name;  ///< prepared statement name; empty: unnamed (sql is in ownedSql)
    std::string_view sql;   ///< static SQL of a named statement
    std::string ownedSql;   ///< SQL of an unnamed statement or a simple-protocol script
    Params params;
    /// Simple query protocol: `ownedSql` may hold several statements, no parameters. Only on a
    /// connection that is not in pipeline mode (schema migrations).
    bool simple = false;

    std::string_view text() const { return name.empty() ? std::string_view(ownedSql) : sql; }
};

/// What a caller asks for: one or more operations that succeed or fail together (they are sent
/// between two pipeline syncs, which PostgreSQL runs as one implicit transaction).
struct Request {
    std::vector<Op> ops;
    BatchDone done;
};

struct ConnectionOptions {
    std::string dsn;
    int statementTimeoutMs = 0;  ///< 0: none
    int connectTimeoutMs = 0;    ///< 0: none
    int minBackoffMs = 100;
    int maxBackoffMs = 30000;
    std::size_t maxQueued = 4096;
};

/// One PostgreSQL connection driven by libevent: non-blocking connect (PQconnectStart/Poll),
/// then either pipeline mode (the pool's normal mode) or the simple query protocol, one request
/// at a time (used only to apply migrations before a connection joins the pool).
///
/// Requests are answered in FIFO order through Listener::onCompleted, called from inside this
/// connection's event handlers or from submit()/stop(); the listener must not destroy the
/// connection from there (Database defers user callbacks to its own event).
class Connection {
  public:
    class Listener {
      public:
        virtual void onConnected(Connection& conn) = 0;
        /// The connection went down, or a connect attempt failed; a retry is scheduled unless
        /// stop() was called.
        virtual void onDisconnected(Connection& conn, const std::string& why) = 0;
        virtual void onCompleted(BatchDone&& done, BatchResult&& result) = 0;
        virtual void log(std::string_view message) = 0;

      protected:
        ~Listener() = default;
    };

    enum class State { Idle, Connecting, Up, Backoff, Stopped };

    Connection(event_base* base, const ConnectionOptions& options, Listener& listener, int index);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    /// Starts connecting now. `pipeline` false: stay in simple-protocol mode until
    /// enterPipeline(); `statementTimeoutMs` then overrides the option until that switch.
    void start(bool pipeline, int statementTimeoutMs);
    /// Closes the connection and fails everything pending with Unavailable; no reconnect.
    void stop();

    /// Switches to pipeline mode and the normal statement timeout: now if up and idle, else at
    /// the next (re)connect.
    void enterPipeline();

    State state() const { return state_; }
    bool up() const { return state_ == State::Up; }
    bool pipelined() const { return pipeline_; }
    int index() const { return index_; }
    /// Requests sent or waiting, not yet answered.
    std::size_t queued() const { return sent_.size() + waiting_.size() - internal_; }
    bool hasRoom() const { return queued() < options_.maxQueued; }

    /// Precondition: up() and hasRoom(). A simple-protocol Op needs !pipelined().
    void submit(Request&& request);

  private:
    enum class StepKind { Prepare, Query };
    struct Step {
        StepKind kind;
        std::size_t op;
    };
    struct InFlight {
        Request request;
        std::vector<Step> steps;  // pipeline mode: what was sent, in order
        std::size_t cursor = 0;   // the step whose results come next
        int syncsLeft = 1;        // pipeline mode: syncs still to come before it is complete
        BatchResult result;
        bool internal = false;  // connection setup: no callback
    };

    static void onSocket(int fd, short what, void* arg);
    static void onTimer(int fd, short what, void* arg);

    void beginConnect();
    void continueConnect();
    void waitSocket(short what);
    void connected();
    void sendSetup();
    void enqueue(InFlight&& f);
    bool sendPipelined(InFlight& f);
    bool sendWaiting();
    void startedWork();
    void onReadable();
    bool flush();
    bool processPipelined();
    bool processSimple();
    bool complete();
    void fail(const std::string& why, ErrorKind headKind);
    void teardown();
    void failAll(const std::string& why, ErrorKind headKind);
    void armTimer(int ms);
    void progress();
    int effectiveTimeoutMs() const;
    int watchdogMs() const;
    DbError classify(pg_result* result) const;

    event_base* base_;
    ConnectionOptions options_;
    Listener& listener_;
    int index_;

    State state_ = State::Idle;
    bool pipeline_ = false;      // pipeline mode is on for the current PGconn
    bool wantPipeline_ = false;  // enter pipeline mode at the next connect
    int simpleTimeoutMs_ = 0;    // statement timeout while in simple mode
    int backoffMs_ = 0;
    bool writeWanted_ = false;

    PgConnPtr conn_;
    EventPtr readEv_;   // connect: the one-shot socket wait; up: EV_READ|EV_PERSIST
    EventPtr writeEv_;  // up: EV_WRITE|EV_PERSIST, added while libpq has unsent data
    EventPtr timer_;    // backoff, connect timeout or watchdog, by state
    int socket_ = -1;

    std::deque<InFlight> sent_;
    std::deque<InFlight> waiting_;  // simple mode: not yet sent (one request at a time)
    std::size_t internal_ = 0;      // internal entries in sent_/waiting_
    std::set<std::string, std::less<>> prepared_;
    std::chrono::steady_clock::time_point lastProgress_;
};

}  // namespace corvid::storage::detail
