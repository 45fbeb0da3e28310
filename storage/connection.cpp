#include "storage/connection.h"

#include <event2/event.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cassert>
#include <utility>

namespace corvid::storage::detail {

namespace {

// How much longer than the statement timeout the client waits for any answer before it declares
// the server or the path to it dead: the server's own statement_timeout normally answers first.
constexpr int kWatchdogGraceMs = 1000;

void ignoreNotice(void*, const char*) {}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

std::string connError(pg_conn* conn, std::string_view what) {
    std::string msg(what);
    if (conn != nullptr) {
        std::string detail = trimmed(PQerrorMessage(conn));
        if (!detail.empty()) {
            msg += ": ";
            msg += detail;
        }
    }
    return msg;
}

timeval toTimeval(int ms) {
    timeval tv;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = static_cast<suseconds_t>(ms % 1000) * 1000;
    return tv;
}

}  // namespace

Connection::Connection(event_base* base, const ConnectionOptions& options, Listener& listener,
                       int index)
    : base_(base), options_(options), listener_(listener), index_(index) {
    timer_.reset(event_new(base_, -1, 0, &Connection::onTimer, this));
}

// Pending requests are dropped without their callbacks: the owner is going away.
Connection::~Connection() {
    teardown();
}

void Connection::start(bool pipeline, int statementTimeoutMs) {
    assert(state_ == State::Idle);
    wantPipeline_ = pipeline;
    simpleTimeoutMs_ = statementTimeoutMs;
    backoffMs_ = 0;
    beginConnect();
}

void Connection::stop() {
    if (state_ == State::Stopped) {
        return;
    }
    state_ = State::Stopped;
    event_del(timer_.get());
    teardown();
    failAll("database stopped", ErrorKind::Unavailable);
}

void Connection::enterPipeline() {
    wantPipeline_ = true;
    if (state_ != State::Up || pipeline_) {
        return;
    }
    assert(sent_.empty() && waiting_.empty());
    if (PQenterPipelineMode(conn_.get()) != 1) {
        fail(connError(conn_.get(), "cannot enter pipeline mode"), ErrorKind::Unavailable);
        return;
    }
    pipeline_ = true;
    sendSetup();
}

void Connection::submit(Request&& request) {
    assert(up() && hasRoom());
    InFlight f;
    f.request = std::move(request);
    enqueue(std::move(f));
}

// ---- connecting --------------------------------------------------------------------------

void Connection::beginConnect() {
    state_ = State::Connecting;
    // Non-blocking connect. With `host=<name>` libpq would resolve the name synchronously inside
    // PQconnectPoll; Database warns at start when the DSN does that.
    conn_.reset(PQconnectStart(options_.dsn.c_str()));
    if (!conn_) {
        fail("cannot allocate a connection", ErrorKind::Unavailable);
        return;
    }
    if (PQstatus(conn_.get()) == CONNECTION_BAD) {
        fail(connError(conn_.get(), "cannot connect"), ErrorKind::Unavailable);
        return;
    }
    PQsetNoticeProcessor(conn_.get(), &ignoreNotice, nullptr);
    if (options_.connectTimeoutMs > 0) {
        armTimer(options_.connectTimeoutMs);
    }
    // libpq: start polling as if PQconnectPoll had returned PGRES_POLLING_WRITING.
    waitSocket(EV_WRITE);
}

void Connection::waitSocket(short what) {
    // The socket may change between polls (libpq tries each address in turn), so the one-shot
    // event is made anew each time.
    socket_ = PQsocket(conn_.get());
    if (socket_ < 0) {
        fail(connError(conn_.get(), "cannot connect"), ErrorKind::Unavailable);
        return;
    }
    readEv_.reset(event_new(base_, socket_, what, &Connection::onSocket, this));
    event_add(readEv_.get(), nullptr);
}

void Connection::continueConnect() {
    switch (PQconnectPoll(conn_.get())) {
        case PGRES_POLLING_READING:
            waitSocket(EV_READ);
            return;
        case PGRES_POLLING_WRITING:
            waitSocket(EV_WRITE);
            return;
        case PGRES_POLLING_OK:
            connected();
            return;
        default:
            fail(connError(conn_.get(), "cannot connect"), ErrorKind::Unavailable);
            return;
    }
}

void Connection::connected() {
    event_del(timer_.get());
    if (PQsetnonblocking(conn_.get(), 1) != 0) {
        fail(connError(conn_.get(), "cannot make the connection non-blocking"),
             ErrorKind::Unavailable);
        return;
    }
    socket_ = PQsocket(conn_.get());
    readEv_.reset(event_new(base_, socket_, EV_READ | EV_PERSIST, &Connection::onSocket, this));
    writeEv_.reset(event_new(base_, socket_, EV_WRITE | EV_PERSIST, &Connection::onSocket, this));
    event_add(readEv_.get(), nullptr);
    writeWanted_ = false;
    state_ = State::Up;
    if (wantPipeline_) {
        if (PQenterPipelineMode(conn_.get()) != 1) {
            fail(connError(conn_.get(), "cannot enter pipeline mode"), ErrorKind::Unavailable);
            return;
        }
        pipeline_ = true;
    }
    sendSetup();
    if (state_ == State::Up) {
        listener_.onConnected(*this);
    }
}

int Connection::effectiveTimeoutMs() const {
    return pipeline_ ? options_.statementTimeoutMs : simpleTimeoutMs_;
}

int Connection::watchdogMs() const {
    int t = effectiveTimeoutMs();
    return t > 0 ? t + kWatchdogGraceMs : 0;
}

void Connection::sendSetup() {
    // One statement, so that it runs the same way in simple and pipeline mode. bytea_output
    // pins the format QueryResult::bytea() decodes.
    Op op;
    op.ownedSql = "SELECT set_config('statement_timeout', '" +
                  std::to_string(std::max(0, effectiveTimeoutMs())) +
                  "', false), set_config('bytea_output', 'hex', false)";
    op.simple = !pipeline_;
    InFlight f;
    f.internal = true;
    f.request.ops.push_back(std::move(op));
    ++internal_;
    enqueue(std::move(f));
}

// ---- sending -----------------------------------------------------------------------------

void Connection::enqueue(InFlight&& f) {
    if (!pipeline_) {
        waiting_.push_back(std::move(f));
        sendWaiting();
        return;
    }
    bool wasIdle = sent_.empty();
    sent_.push_back(std::move(f));
    if (!sendPipelined(sent_.back())) {
        fail(connError(conn_.get(), "cannot send the query"), ErrorKind::Unavailable);
        return;
    }
    if (wasIdle) {
        startedWork();
    }
    flush();
}

bool Connection::sendPipelined(InFlight& f) {
    pg_conn* conn = conn_.get();
    auto& ops = f.request.ops;
    f.result.results.resize(ops.size());

    // Statements not yet prepared on this connection are prepared in a sync group of their own,
    // so a failure elsewhere in the batch cannot abort a Prepare that later requests, already in
    // the pipeline, count on.
    bool prepared = false;
    for (std::size_t i = 0; i < ops.size(); ++i) {
        const Op& op = ops[i];
        assert(!op.simple);
        if (op.name.empty() || prepared_.contains(op.name)) {
            continue;
        }
        auto [it, inserted] = prepared_.emplace(op.name);
        std::string sql(op.sql);
        if (PQsendPrepare(conn, it->c_str(), sql.c_str(), 0, nullptr) != 1) {
            return false;
        }
        f.steps.push_back({StepKind::Prepare, i});
        prepared = true;
    }
    if (prepared) {
        if (PQpipelineSync(conn) != 1) {
            return false;
        }
        f.syncsLeft = 2;
    }

    std::vector<const char*> values;
    for (std::size_t i = 0; i < ops.size(); ++i) {
        const Op& op = ops[i];
        values.clear();
        for (const Param& p : op.params) {
            values.push_back(p ? p->c_str() : nullptr);
        }
        int n = static_cast<int>(values.size());
        int rc;
        if (op.name.empty()) {
            rc = PQsendQueryParams(conn, op.ownedSql.c_str(), n, nullptr, values.data(), nullptr,
                                   nullptr, 0);
        } else {
            auto it = prepared_.find(op.name);
            rc = PQsendQueryPrepared(conn, it->c_str(), n, values.data(), nullptr, nullptr, 0);
        }
        if (rc != 1) {
            return false;
        }
        f.steps.push_back({StepKind::Query, i});
    }
    // The sync ends the implicit transaction: the statements of one request commit or roll back
    // together, and an error aborts nothing past it.
    return PQpipelineSync(conn) == 1;
}

bool Connection::sendWaiting() {
    if (!sent_.empty() || waiting_.empty()) {
        return true;
    }
    sent_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
    const Op& op = sent_.back().request.ops.front();
    assert(sent_.back().request.ops.size() == 1 && op.simple);
    if (PQsendQuery(conn_.get(), op.ownedSql.c_str()) != 1) {
        fail(connError(conn_.get(), "cannot send the query"), ErrorKind::Unavailable);
        return false;
    }
    startedWork();
    return flush();
}

void Connection::startedWork() {
    lastProgress_ = std::chrono::steady_clock::now();
    // Re-armed each time work starts after idling: a timer left from simple mode (migrations)
    // may be far longer than this mode's.
    int wd = watchdogMs();
    if (wd > 0) {
        armTimer(wd);
    } else {
        event_del(timer_.get());
    }
}

bool Connection::flush() {
    int rc = PQflush(conn_.get());
    if (rc < 0) {
        fail(connError(conn_.get(), "cannot send to the server"), ErrorKind::Unavailable);
        return false;
    }
    bool want = rc == 1;
    if (want != writeWanted_) {
        writeWanted_ = want;
        if (want) {
            event_add(writeEv_.get(), nullptr);
        } else {
            event_del(writeEv_.get());
        }
    }
    return true;
}

// ---- receiving ---------------------------------------------------------------------------

void Connection::onSocket(int, short what, void* arg) {
    auto* self = static_cast<Connection*>(arg);
    if (self->state_ == State::Connecting) {
        self->continueConnect();
        return;
    }
    if (self->state_ != State::Up) {
        return;
    }
    if ((what & EV_READ) != 0) {
        self->onReadable();
    } else if ((what & EV_WRITE) != 0) {
        // libpq: when PQflush returns 1, wait for read- or write-readiness and flush again.
        self->flush();
    }
}

void Connection::onReadable() {
    if (PQconsumeInput(conn_.get()) != 1) {
        fail(connError(conn_.get(), "connection lost"), ErrorKind::Unavailable);
        return;
    }
    bool alive = pipeline_ ? processPipelined() : processSimple();
    if (!alive) {
        return;
    }
    if (PQstatus(conn_.get()) == CONNECTION_BAD) {
        fail(connError(conn_.get(), "connection lost"), ErrorKind::Unavailable);
        return;
    }
    if (writeWanted_) {
        flush();
    }
}

bool Connection::processPipelined() {
    pg_conn* conn = conn_.get();
    while (!sent_.empty()) {
        if (PQisBusy(conn) != 0) {
            return true;
        }
        PgResultPtr r(PQgetResult(conn));
        InFlight& f = sent_.front();
        if (!r) {
            // The end of one step's results; past the last step it means nothing is ready yet.
            if (f.cursor >= f.steps.size()) {
                return true;
            }
            ++f.cursor;
            continue;
        }
        lastProgress_ = std::chrono::steady_clock::now();
        ExecStatusType status = PQresultStatus(r.get());
        if (status == PGRES_PIPELINE_SYNC) {
            if (--f.syncsLeft == 0 && !complete()) {
                return false;
            }
            continue;
        }
        if (f.cursor >= f.steps.size()) {
            fail("unexpected result from the server", ErrorKind::Unavailable);
            return false;
        }
        const Step step = f.steps[f.cursor];
        bool good =
            status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY;
        if (step.kind == StepKind::Prepare) {
            if (!good) {
                // Not prepared after all: the next request that needs it prepares it again.
                auto it = prepared_.find(f.request.ops[step.op].name);
                if (it != prepared_.end()) {
                    prepared_.erase(it);
                }
            }
        } else if (good) {
            f.result.results[step.op] = QueryResult::success(std::move(r));
        }
        if (!good && !f.result.error) {
            if (status == PGRES_PIPELINE_ABORTED) {
                f.result.error = DbError{ErrorKind::Other, "", "aborted by an earlier error"};
            } else {
                f.result.error = classify(r.get());
            }
        }
    }
    return true;
}

bool Connection::processSimple() {
    pg_conn* conn = conn_.get();
    while (!sent_.empty()) {
        if (PQisBusy(conn) != 0) {
            return true;
        }
        PgResultPtr r(PQgetResult(conn));
        if (!r) {
            if (!complete()) {
                return false;
            }
            continue;
        }
        lastProgress_ = std::chrono::steady_clock::now();
        InFlight& f = sent_.front();
        ExecStatusType status = PQresultStatus(r.get());
        if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK ||
            status == PGRES_EMPTY_QUERY) {
            f.result.results.push_back(QueryResult::success(std::move(r)));
        } else if (!f.result.error) {
            f.result.error = classify(r.get());
        }
    }
    return true;
}

bool Connection::complete() {
    InFlight f = std::move(sent_.front());
    sent_.pop_front();
    if (f.internal) {
        --internal_;
        if (f.result.error) {
            fail("connection setup failed: " + f.result.error->message, ErrorKind::Unavailable);
            return false;
        }
        // Only a connection that got this far resets the backoff, so a server that accepts and
        // then drops connections is not hammered.
        backoffMs_ = 0;
    } else {
        if (f.result.error) {
            f.result.results.clear();
        }
        listener_.onCompleted(std::move(f.request.done), std::move(f.result));
    }
    if (!pipeline_) {
        return sendWaiting();
    }
    return true;
}

DbError Connection::classify(pg_result* result) const {
    DbError e;
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    e.sqlState = state != nullptr ? state : "";
    const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
    e.message = trimmed(primary != nullptr ? primary : PQresultErrorMessage(result));
    std::string_view s = e.sqlState;
    if (s.starts_with("23")) {
        e.kind = ErrorKind::Constraint;  // integrity_constraint_violation
    } else if (s == "57014") {
        e.kind = ErrorKind::Timeout;  // query_canceled: statement_timeout
    } else if (s == "08P01") {
        e.kind = ErrorKind::Other;  // protocol_violation: e.g. a wrong parameter count, a bug
    } else if (s.starts_with("08") || s.starts_with("57P") || s.starts_with("53") || s == "25006") {
        // connection_exception, admin/crash shutdown, insufficient resources, and a read-only
        // standby: all transient from the caller's point of view.
        e.kind = ErrorKind::Unavailable;
    } else if (s.empty() && PQstatus(conn_.get()) == CONNECTION_BAD) {
        e.kind = ErrorKind::Unavailable;
    } else {
        e.kind = ErrorKind::Other;
    }
    return e;
}

// ---- failure, timers ---------------------------------------------------------------------

void Connection::teardown() {
    readEv_.reset();
    writeEv_.reset();
    conn_.reset();
    socket_ = -1;
    pipeline_ = false;
    writeWanted_ = false;
    prepared_.clear();
}

void Connection::failAll(const std::string& why, ErrorKind headKind) {
    std::deque<InFlight> sent = std::move(sent_);
    std::deque<InFlight> waiting = std::move(waiting_);
    sent_.clear();
    waiting_.clear();
    internal_ = 0;
    bool head = true;
    for (auto* queue : {&sent, &waiting}) {
        for (InFlight& f : *queue) {
            if (f.internal) {
                continue;
            }
            ErrorKind kind = head ? headKind : ErrorKind::Unavailable;
            head = false;
            listener_.onCompleted(std::move(f.request.done),
                                  BatchResult{DbError{kind, "", why}, {}});
        }
    }
}

void Connection::fail(const std::string& why, ErrorKind headKind) {
    teardown();
    failAll(why, headKind);
    if (state_ == State::Stopped) {
        return;
    }
    state_ = State::Backoff;
    backoffMs_ =
        backoffMs_ == 0 ? options_.minBackoffMs : std::min(backoffMs_ * 2, options_.maxBackoffMs);
    armTimer(backoffMs_);
    listener_.onDisconnected(*this, why);
}

void Connection::armTimer(int ms) {
    timeval tv = toTimeval(ms);
    event_add(timer_.get(), &tv);
}

void Connection::onTimer(int, short, void* arg) {
    auto* self = static_cast<Connection*>(arg);
    switch (self->state_) {
        case State::Backoff:
            self->beginConnect();
            return;
        case State::Connecting:
            self->fail("connect timed out after " +
                           std::to_string(self->options_.connectTimeoutMs) + " ms",
                       ErrorKind::Unavailable);
            return;
        case State::Up: {
            int wd = self->watchdogMs();
            if (self->sent_.empty() || wd <= 0) {
                return;  // idle: startedWork() arms it again
            }
            auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now() - self->lastProgress_)
                               .count();
            if (elapsed >= wd) {
                // A hung server or a dead TCP path: the statement timeout never answered.
                self->fail("no answer from the server in " + std::to_string(wd) + " ms",
                           ErrorKind::Timeout);
            } else {
                self->armTimer(static_cast<int>(wd - elapsed));
            }
            return;
        }
        default:
            return;
    }
}

}  // namespace corvid::storage::detail
