#pragma once

#include <event2/event.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "c2s/auth_throttle.h"
#include "c2s/client_session.h"
#include "conf/config.h"
#include "modules/module.h"
#include "net/tls_context.h"
#include "router/router.h"
#include "s2s/s2s_manager.h"
#include "util/c_handles.h"
#include "util/worker_pool.h"

namespace corvid::storage {
class Database;
class AccountStore;
class SecretStore;
}  // namespace corvid::storage

namespace corvid {

/// The wiring of one corvid process: config -> loop -> storage -> router -> modules ->
/// listeners. Owns every session.
class Server final : public c2s::C2sServer {
  public:
    explicit Server(conf::Config config);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Sets everything up and runs the loop until SIGINT/SIGTERM. Returns the exit status.
    int run();

    // c2s::C2sServer
    event_base* base() override { return base_.get(); }
    router::Router& router() override { return router_; }
    const net::TlsContexts& tls() override { return *tls_; }
    const c2s::C2sSettings& c2sSettings() override { return c2sSettings_; }
    c2s::AuthThrottle& authThrottle() override { return throttle_; }
    util::WorkerPool& workers() override { return *workers_; }
    void lookupCredentials(const std::string& username, const std::string& domain,
                           std::function<void(c2s::CredentialsResult)> done) override;
    std::vector<xml::Element> postAuthFeatures() override;
    bool handleNonza(router::LocalSession& session, const xml::Element& element) override;
    void sessionFinished(router::SessionId id) override;
    c2s::ClientSession* findSession(router::SessionId id) override;

  private:
    struct Listener {
        conf::ListenerType type;
        util::ListenerPtr listener;
        Server* server;
    };
    struct SessionSlot {
        std::unique_ptr<c2s::ClientSession> session;
        std::string ip;
    };

    bool setUp();
    bool setUpS2s();
    void loadSecrets();
    void loadDialbackSecret();
    /// Leaves the loop once shutting down and every c2s and s2s stream is gone.
    void exitWhenIdle();
    bool openListeners();
    void accept(Listener& listener, evutil_socket_t fd, sockaddr* address);
    void shutdown();
    static void onSignal(evutil_socket_t, short, void* arg);

    conf::Config config_;
    util::EventBasePtr base_;
    std::unique_ptr<net::TlsContexts> tls_;
    router::Router router_;
    c2s::C2sSettings c2sSettings_;
    c2s::AuthThrottle throttle_;
    std::unique_ptr<util::WorkerPool> workers_;
    std::unique_ptr<storage::Database> database_;
    std::unique_ptr<storage::AccountStore> accounts_;
    std::unique_ptr<storage::SecretStore> secrets_;
    bool loadingSecrets_ = false;
    /// Logins that came while the secrets were loading (right after start): answered once they
    /// are there, instead of a temporary-auth-failure.
    struct PendingLookup {
        std::string username;
        std::string domain;
        std::function<void(c2s::CredentialsResult)> done;
    };
    std::vector<PendingLookup> waitingForSecrets_;
    std::vector<modules::ModulePtr> modules_;
    std::unique_ptr<s2s::S2sManager> s2s_;
    router::HookHandle toRemoteHook_;
    bool loadingDialbackSecret_ = false;
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::unordered_map<router::SessionId, SessionSlot> sessions_;
    std::unordered_map<std::string, std::size_t> connectionsPerIp_;
    std::vector<std::unique_ptr<c2s::ClientSession>> graveyard_;
    util::EventPtr reaper_;
    util::EventPtr iqTimer_;
    util::EventPtr shedTimer_;
    std::vector<util::EventPtr> signals_;
    router::SessionId nextSessionId_ = 1;
    router::SessionId sessionIdAtTrim_ = 1;      // nextSessionId_ at the last malloc_trim()
    router::SessionId sessionIdAtLastShed_ = 1;  // ... at the last idle sweep
    bool stopping_ = false;
};

}  // namespace corvid
