#include "storage/database.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <utility>

#include "storage/migrations.h"
#include "storage/migrator.h"

namespace corvid::storage {

namespace {

struct ConninfoDeleter {
    void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};

bool isNumericAddress(const std::string& host) {
    in6_addr addr6;
    in_addr addr4;
    return inet_pton(AF_INET, host.c_str(), &addr4) == 1 ||
           inet_pton(AF_INET6, host.c_str(), &addr6) == 1;
}

detail::Op makeOp(const Statement& statement, Params&& params) {
    detail::Op op;
    op.name = statement.name;
    if (statement.name.empty()) {
        op.ownedSql = std::string(statement.sql);
    } else {
        op.sql = statement.sql;
    }
    op.params = std::move(params);
    return op;
}

}  // namespace

Database::Database(event_base* base, DbConfig config) : base_(base), config_(std::move(config)) {
    tasksEv_.reset(event_new(base_, -1, 0, &Database::onTasks, this));
}

Database::~Database() {
    if (destroyed_ != nullptr) {
        *destroyed_ = true;
    }
    // Connections drop their pending requests without calling them; so are the queued tasks.
    conns_.clear();
}

std::expected<void, std::string> Database::checkConfig() {
    if (config_.connections < 1) {
        return std::unexpected("connections must be at least 1");
    }
    if (config_.statementTimeoutMs < 0 || config_.connectTimeoutMs < 0 ||
        config_.migrationTimeoutMs < 0 || config_.reconnectMinBackoffMs < 1 ||
        config_.reconnectMaxBackoffMs < config_.reconnectMinBackoffMs) {
        return std::unexpected("invalid timeouts or backoff");
    }
    if (config_.maxQueuedPerConnection < 1) {
        return std::unexpected("maxQueuedPerConnection must be at least 1");
    }
    char* err = nullptr;
    std::unique_ptr<PQconninfoOption, ConninfoDeleter> options(
        PQconninfoParse(config_.dsn.c_str(), &err));
    if (!options) {
        std::string why = err != nullptr ? err : "out of memory";
        PQfreemem(err);
        while (!why.empty() && why.back() == '\n') {
            why.pop_back();
        }
        return std::unexpected("invalid database DSN: " + why);
    }
    std::string host;
    std::string hostaddr;
    for (PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
        if (o->val == nullptr) {
            continue;
        }
        if (std::string_view(o->keyword) == "host") {
            host = o->val;
        } else if (std::string_view(o->keyword) == "hostaddr") {
            hostaddr = o->val;
        }
    }
    // Without them in the DSN, libpq falls back on the environment.
    if (host.empty() && hostaddr.empty()) {
        const char* envHost = std::getenv("PGHOST");
        const char* envHostaddr = std::getenv("PGHOSTADDR");
        host = envHost != nullptr ? envHost : "";
        hostaddr = envHostaddr != nullptr ? envHostaddr : "";
    }
    if (hostaddr.empty() && !host.empty()) {
        // host may be a comma-separated list; a path (or @abstract socket) is a unix socket.
        std::size_t begin = 0;
        while (begin <= host.size()) {
            std::size_t end = host.find(',', begin);
            if (end == std::string::npos) {
                end = host.size();
            }
            std::string h = host.substr(begin, end - begin);
            if (!h.empty() && h[0] != '/' && h[0] != '@' && !isNumericAddress(h)) {
                log("database DSN has host=" + h +
                    ", a name: libpq resolves it with a blocking lookup at every (re)connect, "
                    "stalling the event loop; give hostaddr=<IP> (or a unix socket directory)");
                break;
            }
            begin = end + 1;
        }
    }
    return {};
}

void Database::start(ReadyCallback onReady) {
    if (state_ != State::Created) {
        post([cb = std::move(onReady)]() mutable {
            cb(std::unexpected("Database::start called twice"));
        });
        return;
    }
    onReady_ = std::move(onReady);
    state_ = State::Starting;
    if (auto ok = checkConfig(); !ok) {
        startFailed(ok.error());
        return;
    }
    detail::ConnectionOptions options;
    options.dsn = config_.dsn;
    options.statementTimeoutMs = config_.statementTimeoutMs;
    options.connectTimeoutMs = config_.connectTimeoutMs;
    options.minBackoffMs = config_.reconnectMinBackoffMs;
    options.maxBackoffMs = config_.reconnectMaxBackoffMs;
    options.maxQueued = config_.maxQueuedPerConnection;
    detail::Connection::Listener& listener = *this;  // a private base: convert here
    for (int i = 0; i < config_.connections; ++i) {
        conns_.push_back(std::make_unique<detail::Connection>(base_, options, listener, i));
    }
    // The first connection migrates (simple protocol) before it joins the pool; the others
    // connect meanwhile but get no work until start() has succeeded.
    for (auto& conn : conns_) {
        bool migrating = conn->index() == 0 && config_.applyMigrations;
        conn->start(!migrating, config_.migrationTimeoutMs);
        if (state_ != State::Starting) {
            break;
        }
    }
}

void Database::onConnected(detail::Connection& conn) {
    if (state_ != State::Starting || conn.index() != 0 || migrator_) {
        return;
    }
    if (!config_.applyMigrations) {
        post([this] { finishStart(); });
        return;
    }
    migrator_ = std::make_unique<detail::Migrator>(conn, migrations(),
                                                   [this](std::expected<int, std::string> outcome) {
                                                       // Not from inside the migrator: it may still
                                                       // be on the stack.
                                                       post([this, outcome = std::move(outcome)] {
                                                           if (state_ != State::Starting) {
                                                               return;
                                                           }
                                                           if (!outcome) {
                                                               startFailed(outcome.error());
                                                               return;
                                                           }
                                                           migrationsApplied_ = *outcome;
                                                           conns_[0]->enterPipeline();
                                                           finishStart();
                                                       });
                                                   });
    migrator_->run();
}

void Database::onDisconnected(detail::Connection& conn, const std::string& why) {
    if (state_ == State::Starting && conn.index() == 0) {
        startFailed(why);
        return;
    }
    if (state_ == State::Running) {
        log("database connection " + std::to_string(conn.index()) + ": " + why + " (reconnecting)");
    }
}

void Database::onCompleted(detail::BatchDone&& done, BatchResult&& result) {
    post([done = std::move(done), result = std::move(result)]() mutable {
        done(std::move(result));
    });
}

void Database::log(std::string_view message) {
    if (config_.log) {
        config_.log(message);
    } else {
        std::fprintf(stderr, "corvid storage: %.*s\n", static_cast<int>(message.size()),
                     message.data());
    }
}

void Database::startFailed(std::string why) {
    post([this, why = std::move(why)] {
        if (state_ != State::Starting) {
            return;
        }
        if (config_.retryStart) {
            // Drop this attempt's connections (we run from the task queue, not inside one of
            // their callbacks) and start afresh later; the caller hears about each failure.
            log("cannot start: " + why + "; retrying");
            migrator_.reset();
            for (auto& conn : conns_) {
                conn->stop();
            }
            conns_.clear();
            state_ = State::Created;
            retryTimer_.reset(evtimer_new(
                base_,
                [](evutil_socket_t, short, void* arg) {
                    auto* self = static_cast<Database*>(arg);
                    ReadyCallback cb = std::move(self->onReady_);
                    self->onReady_ = nullptr;
                    self->start(std::move(cb));
                },
                this));
            const int ms = std::clamp(config_.reconnectMaxBackoffMs, 100, 2000);
            timeval tv{ms / 1000, (ms % 1000) * 1000};
            evtimer_add(retryTimer_.get(), &tv);
            return;
        }
        stop();
        // stop() left onReady_ alone while Starting was over; report the real cause.
        ReadyCallback cb = std::move(onReady_);
        onReady_ = nullptr;
        if (cb) {
            cb(std::unexpected(why));
        }
    });
}

void Database::finishStart() {
    if (state_ != State::Starting) {
        return;
    }
    state_ = State::Running;
    ReadyCallback cb = std::move(onReady_);
    onReady_ = nullptr;
    if (cb) {
        cb({});  // last: it may destroy this Database
    }
}

void Database::stop() {
    if (state_ == State::Stopped) {
        return;
    }
    bool starting = state_ == State::Starting;
    state_ = State::Stopped;
    for (auto& conn : conns_) {
        conn->stop();
    }
    if (starting) {
        post([this] {
            ReadyCallback cb = std::move(onReady_);
            onReady_ = nullptr;
            if (cb) {
                cb(std::unexpected("database stopped during start"));
            }
        });
    }
}

bool Database::available() const {
    return state_ == State::Running && connectionsUp() > 0;
}

int Database::connectionsUp() const {
    int n = 0;
    for (const auto& conn : conns_) {
        if (conn->up() && conn->pipelined()) {
            ++n;
        }
    }
    return n;
}

std::size_t Database::pending() const {
    std::size_t n = tasks_.size();
    for (const auto& conn : conns_) {
        n += conn->queued();
    }
    return n;
}

void Database::execute(const Statement& statement, Params params, Callback done) {
    detail::Request request;
    request.ops.push_back(makeOp(statement, std::move(params)));
    request.done = [done = std::move(done)](BatchResult r) mutable {
        if (r.ok()) {
            done(std::move(r.results.front()));
        } else {
            done(QueryResult::failure(std::move(*r.error)));
        }
    };
    dispatch(std::move(request));
}

void Database::executeBatch(std::vector<BatchItem> items, BatchCallback done) {
    detail::Request request;
    request.ops.reserve(items.size());
    for (BatchItem& item : items) {
        request.ops.push_back(makeOp(item.statement, std::move(item.params)));
    }
    request.done = std::move(done);
    if (request.ops.empty()) {
        post([done = std::move(request.done)]() mutable { done(BatchResult{}); });
        return;
    }
    dispatch(std::move(request));
}

void Database::dispatch(detail::Request&& request) {
    std::string why;
    if (state_ != State::Running) {
        why = state_ == State::Stopped ? "database stopped" : "database not started";
    } else {
        detail::Connection* best = nullptr;
        bool anyUp = false;
        for (auto& conn : conns_) {
            if (!conn->up() || !conn->pipelined()) {
                continue;
            }
            anyUp = true;
            if (conn->hasRoom() && (best == nullptr || conn->queued() < best->queued())) {
                best = conn.get();
            }
        }
        if (best != nullptr) {
            best->submit(std::move(request));
            return;
        }
        why = anyUp ? "database query queue full" : "no database connection";
    }
    // Fails fast, but still from the loop.
    onCompleted(std::move(request.done), BatchResult{DbError{ErrorKind::Unavailable, "", why}, {}});
}

void Database::post(Task task) {
    tasks_.push_back(std::move(task));
    if (!tasksScheduled_) {
        tasksScheduled_ = true;
        event_active(tasksEv_.get(), EV_TIMEOUT, 0);
    }
}

void Database::onTasks(int, short, void* arg) {
    auto* self = static_cast<Database*>(arg);
    self->tasksScheduled_ = false;
    bool destroyed = false;
    self->destroyed_ = &destroyed;
    // Only what is queued now; what these tasks post waits for the next pass, so a flood of
    // answers cannot starve the sockets.
    std::size_t n = self->tasks_.size();
    while (n-- > 0 && !self->tasks_.empty()) {
        Task task = std::move(self->tasks_.front());
        self->tasks_.pop_front();
        task();
        if (destroyed) {
            return;  // task destroyed the Database; `self` is gone
        }
    }
    self->destroyed_ = nullptr;
    if (!self->tasks_.empty() && !self->tasksScheduled_) {
        self->tasksScheduled_ = true;
        event_active(self->tasksEv_.get(), EV_TIMEOUT, 0);
    }
}

bool runUntil(event_base* base, const bool& done, std::chrono::milliseconds timeout) {
    struct Timer {
        bool expired = false;
    } timer;
    EventPtr ev(event_new(
        base, -1, 0, [](int, short, void* arg) { static_cast<Timer*>(arg)->expired = true; },
        &timer));
    timeval tv;
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>(timeout.count() % 1000) * 1000;
    event_add(ev.get(), &tv);
    while (!done && !timer.expired) {
        event_base_loop(base, EVLOOP_ONCE);
    }
    return done;
}

}  // namespace corvid::storage
