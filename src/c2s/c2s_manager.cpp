#include "c2s/c2s_manager.h"

#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>

#include "storage/account_store.h"
#include "storage/secret_store.h"
#include "util/log.h"
#include "util/random.h"
#include "xml/parser_heap.h"

namespace corvid::c2s {

using stanza::Jid;
using stanza::StanzaCondition;
using stanza::StreamCondition;

namespace {

/// Fewest connections (since the last trim) that make a malloc_trim() worth it.
constexpr std::size_t kTrimAfterConnections = 64;
/// Whole 2 s periods without input before an idle stream's parser is released.
constexpr int kShedQuietPeriods = 1;
/// Logins held while the server secrets load (bounded, like every queue).
constexpr std::size_t kMaxWaitingForSecrets = 1024;

sasl::ScramKeys toScramKeys(sasl::Hash hash, const storage::StoredScram& stored) {
    sasl::ScramKeys k;
    k.hash = hash;
    k.salt.assign(stored.salt.begin(), stored.salt.end());
    k.iterations = stored.iterations;
    k.storedKey.assign(stored.storedKey.begin(), stored.storedKey.end());
    k.serverKey.assign(stored.serverKey.begin(), stored.serverKey.end());
    return k;
}

}  // namespace

C2sManager::C2sManager(event_base* base, router::Router& router, const net::TlsContexts& tls,
                       C2sSettings settings, ThrottleSettings throttle,
                       std::size_t maxConnectionsPerIp, util::WorkerPool& workers,
                       storage::Database& database)
    : base_(base),
      router_(router),
      tls_(tls),
      settings_(std::move(settings)),
      throttle_(throttle.maxFailuresPerIp, throttle.maxFailuresPerAccount, throttle.window),
      maxConnectionsPerIp_(maxConnectionsPerIp),
      workers_(workers),
      accounts_(std::make_unique<storage::AccountStore>(database)),
      secrets_(std::make_unique<storage::SecretStore>(database)) {
    reaper_.reset(event_new(
        base_, -1, 0,
        [](evutil_socket_t, short, void* arg) { static_cast<C2sManager*>(arg)->bury(); }, this));
    // Idle connections give back their parser's memory (several KiB each); a connection is idle
    // when nothing came in during kShedQuietPeriods whole periods (2 to 4 s).
    shedTimer_.reset(event_new(
        base_, -1, EV_PERSIST,
        [](evutil_socket_t, short, void* arg) { static_cast<C2sManager*>(arg)->shedIdleMemory(); },
        this));
    const timeval every{2, 0};
    event_add(shedTimer_.get(), &every);
}

C2sManager::~C2sManager() {
    // Sessions first: they unregister from the router and tell their streams; then the streams.
    // end() calls sessionEnded(), which moves the session out of sessions_: not while iterating.
    std::vector<ClientSession*> live;
    live.reserve(sessions_.size());
    for (auto& [id, session] : sessions_) {
        live.push_back(session.get());
    }
    for (ClientSession* session : live) {
        session->end();
    }
    sessions_.clear();
    deadSessions_.clear();
    streams_.clear();
    deadStreams_.clear();
}

// --- connections ---

void C2sManager::accept(evutil_socket_t fd, std::string ip, bool directTls) {
    std::size_t& count = connectionsPerIp_[ip];
    if (stopping_ || count >= maxConnectionsPerIp_) {
        log::warn("refusing connection from {}: {}", ip,
                  stopping_ ? "shutting down" : std::to_string(count) + " connections already");
        if (count == 0) {
            connectionsPerIp_.erase(ip);
        }
        evutil_closesocket(fd);
        return;
    }
    evutil_make_socket_nonblocking(fd);
    // Stanzas are small and latency matters more than packet count: no Nagle (with delayed ACKs
    // it adds up to 40 ms to a message that follows another).
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ++count;
    const StreamId id = nextId_++;
    auto stream =
        std::make_unique<ClientStream>(static_cast<StreamHost&>(*this), id, fd, ip, directTls);
    streams_.emplace(id, StreamSlot{std::move(stream), std::move(ip)});
}

bool C2sManager::adopt(std::string ip, ClientStream::ConnectionFactory connect) {
    std::size_t& count = connectionsPerIp_[ip];
    if (stopping_ || count >= maxConnectionsPerIp_) {
        log::warn("refusing connection from {}: {}", ip,
                  stopping_ ? "shutting down" : std::to_string(count) + " connections already");
        if (count == 0) {
            connectionsPerIp_.erase(ip);
        }
        return false;
    }
    ++count;
    const StreamId id = nextId_++;
    auto stream =
        std::make_unique<ClientStream>(static_cast<StreamHost&>(*this), id, std::move(connect));
    streams_.emplace(id, StreamSlot{std::move(stream), std::move(ip)});
    return true;
}

void C2sManager::streamFinished(StreamId id) {
    auto it = streams_.find(id);
    if (it == streams_.end()) {
        return;
    }
    auto ipIt = connectionsPerIp_.find(it->second.ip);
    if (ipIt != connectionsPerIp_.end() && --ipIt->second == 0) {
        connectionsPerIp_.erase(ipIt);
    }
    deadStreams_.push_back(std::move(it->second.stream));
    streams_.erase(it);
    event_active(reaper_.get(), 0, 0);
    maybeIdle();
}

ClientStream* C2sManager::findStream(StreamId id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second.stream.get();
}

void C2sManager::bury() {
    deadSessions_.clear();
    deadStreams_.clear();
}

void C2sManager::maybeIdle() {
    if (stopping_ && empty() && idle_) {
        idle_();
    }
}

void C2sManager::shutdown(std::function<void()> idle) {
    stopping_ = true;
    idle_ = std::move(idle);
    for (auto& [id, slot] : streams_) {
        slot.stream->closeWithError(StreamCondition::SystemShutdown, "server shutdown");
    }
    // Sessions without a connection (detached) have nobody to tell.
    std::vector<ClientSession*> detached;
    for (auto& [id, session] : sessions_) {
        if (!session->attached()) {
            detached.push_back(session.get());
        }
    }
    for (ClientSession* session : detached) {
        session->end();
    }
    maybeIdle();
}

void C2sManager::shedIdleMemory() {
    std::size_t released = 0;
    for (auto& [id, slot] : streams_) {
        released += slot.stream->shedIdleMemory(kShedQuietPeriods) ? 1 : 0;
    }
    if (released > 0) {
        log::debug("idle streams: {} parser(s) released", released);
    }
    xml::ParserHeap::trim();  // the slabs those parsers left empty
    // A login's transient allocations (TLS handshake, SASL) end up between the blocks of the
    // sessions that stay, where glibc keeps them once freed. When a storm of logins is over (none
    // during the last period) give whole free pages back to the system. Not otherwise: trimming
    // walks the whole heap, and a steady trickle of logins reuses those holes anyway.
    const StreamId next = nextId_;
    const bool loginsQuiet = next == idAtLastShed_;
    idAtLastShed_ = next;
    if (loginsQuiet && next - idAtTrim_ >= std::max(kTrimAfterConnections, streams_.size() / 4)) {
        idAtTrim_ = next;
        ::malloc_trim(0);
    }
}

// --- sessions ---

std::expected<ClientSession*, BindError> C2sManager::bind(Jid full, Transport& transport) {
    router::SessionRegistry& directory = router_.sessions();
    if (router::LocalSession* existing = directory.find(full)) {
        switch (settings_.conflictPolicy) {
            case ConflictPolicy::Replace:
                // RFC 6120 §7.7.2.2: the new session wins; the old one ends at once, so that the
                // resource is free.
                existing->terminate(StreamCondition::Conflict, "replaced by a new connection");
                break;
            case ConflictPolicy::Reject:
                return std::unexpected(
                    BindError{StanzaCondition::Conflict, "this resource is in use"});
            case ConflictPolicy::Rename: {
                auto renamed = Jid::make(full.local(), full.domain(),
                                         std::string(full.resource()) + "." + util::randomId(6));
                if (!renamed) {
                    return std::unexpected(
                        BindError{StanzaCondition::BadRequest, renamed.error().reason});
                }
                full = std::move(*renamed);
                break;
            }
        }
    }
    const router::SessionId id = nextId_++;
    auto session = std::make_unique<ClientSession>(static_cast<SessionHost&>(*this), id,
                                                   std::move(full), transport);
    ClientSession& bound = *session;
    sessions_.emplace(id, std::move(session));
    directory.add(bound);
    return &bound;
}

void C2sManager::sessionEnded(router::SessionId id) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) {
        return;
    }
    deadSessions_.push_back(std::move(it->second));
    sessions_.erase(it);
    event_active(reaper_.get(), 0, 0);
    maybeIdle();
}

ClientSession* C2sManager::findSession(router::SessionId id) {
    auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : it->second.get();
}

std::optional<ClientSession*> C2sManager::resume(std::string_view previd, const Jid& account,
                                                 std::uint32_t h, Transport& transport) {
    auto it = resumable_.find(std::string(previd));
    if (it == resumable_.end()) {
        return std::nullopt;
    }
    ClientSession* session = findSession(it->second);
    // Only the account that enabled it may resume a session (XEP-0198 §5, §9).
    if (session == nullptr || session->jid().bare() != account.bare()) {
        return std::nullopt;
    }
    if (!session->resume(transport, h)) {
        return std::nullopt;
    }
    return session;
}

std::vector<xml::Element> C2sManager::postAuthFeatures() {
    std::vector<xml::Element> features = router_.hooks().streamFeatures();  // caps, ...
    if (settings_.sm.enabled) {
        features.emplace_back("sm", std::string(kSmNs));  // XEP-0198 §2
    }
    return features;
}

// --- credentials ---

void C2sManager::databaseReady() {
    loadSecrets();
}

void C2sManager::loadSecrets() {
    if (loadingSecrets_ || !settings_.fakeSaltSecret.empty()) {
        return;
    }
    loadingSecrets_ = true;
    // The key behind the invented SCRAM salts of unknown users must be secret and the same after
    // a restart, or comparing salts would tell which accounts exist: made once, kept in the
    // database.
    const std::string random = util::randomId(32);
    secrets_->getOrCreate("scram-fake-salt", storage::Bytes(random.begin(), random.end()),
                          [this](std::expected<storage::Bytes, storage::StoreError> secret) {
                              loadingSecrets_ = false;
                              auto waiting = std::exchange(waitingForSecrets_, {});
                              if (!secret) {
                                  log::warn("cannot load server secrets: {}",
                                            secret.error().message);
                                  for (auto& w : waiting) {
                                      w.done(std::unexpected(LookupError::Unavailable));
                                  }
                                  return;
                              }
                              settings_.fakeSaltSecret.assign(secret->begin(), secret->end());
                              for (auto& w : waiting) {
                                  lookupCredentials(w.username, w.domain, std::move(w.done));
                              }
                          });
}

void C2sManager::lookupCredentials(const std::string& username, const std::string& domain,
                                   std::function<void(CredentialsResult)> done) {
    if (settings_.fakeSaltSecret.empty()) {
        loadSecrets();  // (again, if the database was away at start)
        if (loadingSecrets_ && waitingForSecrets_.size() < kMaxWaitingForSecrets) {
            waitingForSecrets_.push_back({username, domain, std::move(done)});
            return;
        }
        done(std::unexpected(LookupError::Unavailable));  // the client may retry later
        return;
    }
    accounts_->getCredentials(
        domain, username,
        [done = std::move(done)](
            std::expected<std::optional<storage::ScramCredentials>, storage::StoreError> r) {
            if (!r) {
                done(std::unexpected(LookupError::Unavailable));
                return;
            }
            if (!*r) {
                done(std::optional<sasl::Credentials>());
                return;
            }
            sasl::Credentials creds;
            if ((*r)->sha1) {
                creds.sha1 = toScramKeys(sasl::Hash::Sha1, *(*r)->sha1);
            }
            if ((*r)->sha256) {
                creds.sha256 = toScramKeys(sasl::Hash::Sha256, *(*r)->sha256);
            }
            done(std::optional<sasl::Credentials>(std::move(creds)));
        });
}

}  // namespace corvid::c2s
