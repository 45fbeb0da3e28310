#pragma once

#include <event2/event.h>

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "c2s/auth_throttle.h"
#include "c2s/client_session.h"
#include "c2s/client_stream.h"
#include "util/c_handles.h"

namespace corvid::storage {
class AccountStore;
class Database;
class SecretStore;
}  // namespace corvid::storage

namespace corvid::c2s {

/// Throttle settings (auth.max_failures_per_ip ...).
struct ThrottleSettings {
    int maxFailuresPerIp = 5;
    int maxFailuresPerAccount = 10;
    std::chrono::seconds window{300};
};

/// Everything client-to-server on one event loop (the c2s counterpart of s2s::S2sManager): the
/// connections (negotiating or carrying a session), the bound sessions, connections per IP,
/// deferred destruction, the credential adapter over the account store and the server secrets
/// it needs, and the idle-memory sweep. The server only wires it: listeners hand it accepted
/// sockets.
///
/// Streams and sessions are separate: a stream (ClientStream) is one TCP/TLS connection; binding
/// makes a session (ClientSession) that the stream carries until either goes. A session can
/// outlive its stream (stream management) and move to another.
class C2sManager final : private StreamHost, private SessionHost {
  public:
    C2sManager(event_base* base, router::Router& router, const net::TlsContexts& tls,
               C2sSettings settings, ThrottleSettings throttle, std::size_t maxConnectionsPerIp,
               util::WorkerPool& workers, storage::Database& database);
    ~C2sManager();
    C2sManager(const C2sManager&) = delete;
    C2sManager& operator=(const C2sManager&) = delete;

    /// A connection accepted on a c2s listener (direct TLS or not). Refused (closed) past
    /// limits.max_connections_per_ip and while shutting down.
    void accept(evutil_socket_t fd, std::string ip, bool directTls);
    /// A client connection of another kind (XMPP over WebSocket, RFC 7395), made by `connect`.
    /// False when refused (connections per IP, shutdown): `connect` was not called.
    bool adopt(std::string ip, ClientStream::ConnectionFactory connect);

    /// PostgreSQL is up: load the secrets logins need.
    void databaseReady();

    /// Closes every stream with <system-shutdown/>; `idle` runs whenever the last stream and
    /// session are gone from then on.
    void shutdown(std::function<void()> idle);
    bool empty() const { return streams_.empty() && sessions_.empty(); }

    std::size_t streamCount() const { return streams_.size(); }
    std::size_t sessionCount() const { return sessions_.size(); }
    /// The bound session with this id (also when detached), or nullptr.
    ClientSession* findSession(router::SessionId id);
    const C2sSettings& settings() const { return settings_; }

  private:
    // StreamHost
    event_base* base() override { return base_; }
    router::Router& router() override { return router_; }
    const net::TlsContexts& tls() override { return tls_; }
    const C2sSettings& c2sSettings() override { return settings_; }
    AuthThrottle& authThrottle() override { return throttle_; }
    util::WorkerPool& workers() override { return workers_; }
    void lookupCredentials(const std::string& username, const std::string& domain,
                           std::function<void(CredentialsResult)> done) override;
    std::vector<xml::Element> postAuthFeatures() override;
    std::expected<ClientSession*, BindError> bind(stanza::Jid full, Transport& transport) override;
    void streamFinished(StreamId id) override;
    ClientStream* findStream(StreamId id) override;
    std::optional<ClientSession*> resume(std::string_view previd, const stanza::Jid& account,
                                         std::uint32_t h, Transport& transport) override;
    // SessionHost
    const SmSettings& smSettings() override { return settings_.sm; }
    bool stopping() const override { return stopping_; }
    void resumable(const std::string& resumeId, router::SessionId id) override {
        resumable_[resumeId] = id;
    }
    void notResumable(const std::string& resumeId) override { resumable_.erase(resumeId); }
    void sessionEnded(router::SessionId id) override;

    void loadSecrets();
    void shedIdleMemory();
    void bury();
    void maybeIdle();

    struct StreamSlot {
        std::unique_ptr<ClientStream> stream;
        std::string ip;
    };

    event_base* base_;
    router::Router& router_;
    const net::TlsContexts& tls_;
    C2sSettings settings_;
    AuthThrottle throttle_;
    std::size_t maxConnectionsPerIp_;
    util::WorkerPool& workers_;
    std::unique_ptr<storage::AccountStore> accounts_;
    std::unique_ptr<storage::SecretStore> secrets_;
    bool loadingSecrets_ = false;
    /// Logins that came while the secrets were loading (right after start): answered once they
    /// are there, instead of a temporary-auth-failure.
    struct PendingLookup {
        std::string username;
        std::string domain;
        std::function<void(CredentialsResult)> done;
    };
    std::vector<PendingLookup> waitingForSecrets_;

    std::unordered_map<StreamId, StreamSlot> streams_;
    std::unordered_map<router::SessionId, std::unique_ptr<ClientSession>> sessions_;
    std::unordered_map<std::string, std::size_t> connectionsPerIp_;
    /// XEP-0198 resumption ids of the sessions that can be resumed.
    std::unordered_map<std::string, router::SessionId> resumable_;
    // Destroyed from the loop, never inside their own callbacks.
    std::vector<std::unique_ptr<ClientStream>> deadStreams_;
    std::vector<std::unique_ptr<ClientSession>> deadSessions_;
    util::EventPtr reaper_;
    util::EventPtr shedTimer_;
    StreamId nextId_ = 1;         // streams and sessions share it: ids never repeat
    StreamId idAtTrim_ = 1;       // nextId_ at the last malloc_trim()
    StreamId idAtLastShed_ = 1;   // ... at the last idle sweep
    std::function<void()> idle_;  // set by shutdown()
    bool stopping_ = false;
};

}  // namespace corvid::c2s
