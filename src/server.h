#pragma once

#include <event2/event.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "c2s/c2s_manager.h"
#include "component/component_manager.h"
#include "conf/config.h"
#include "http/host_meta.h"
#include "http/http_server.h"
#include "http/upload_files.h"
#include "http/websocket.h"
#include "modules/module_registry.h"
#include "net/tls_context.h"
#include "router/router.h"
#include "s2s/s2s_manager.h"
#include "util/c_handles.h"
#include "util/worker_pool.h"

namespace corvid::storage {
class Database;
class SecretStore;
}  // namespace corvid::storage

namespace corvid {

/// The wiring of one corvid process: config -> loop -> storage -> router -> modules ->
/// listeners. Owns every session.
class Server final {
  public:
    explicit Server(conf::Config config);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Sets everything up and runs the loop until SIGINT/SIGTERM. Returns the exit status.
    int run();

  private:
    struct Listener {
        conf::ListenerType type;
        util::ListenerPtr listener;
        Server* server;
    };

    bool setUp();
    bool setUpS2s();
    void setUpComponents();
    bool setUpHttp();
    void loadUploadSecret();
    void loadDialbackSecret();
    /// Leaves the loop once shutting down and every c2s, s2s and component stream is gone.
    void exitWhenIdle();
    bool idle() const;
    bool openListeners();
    void accept(Listener& listener, evutil_socket_t fd, sockaddr* address);
    void shutdown();
    static void onSignal(evutil_socket_t, short, void* arg);

    conf::Config config_;
    util::EventBasePtr base_;
    std::unique_ptr<net::TlsContexts> tls_;
    router::Router router_;
    std::unique_ptr<util::WorkerPool> workers_;
    std::unique_ptr<storage::Database> database_;
    std::unique_ptr<storage::SecretStore> secrets_;
    modules::ModuleSet modules_;
    std::unique_ptr<s2s::S2sManager> s2s_;
    router::HookHandle toRemoteHook_;
    bool loadingDialbackSecret_ = false;
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::unique_ptr<c2s::C2sManager> c2s_;
    std::unique_ptr<component::ComponentManager> components_;
    std::unique_ptr<http::HttpServer> http_;
    std::unique_ptr<http::UploadFiles> uploadFiles_;
    std::unique_ptr<http::WebSocketEndpoint> websocket_;
    std::unique_ptr<http::HostMeta> hostMeta_;
    util::EventPtr drainTimer_;  // shutdown: polls until the database has nothing in flight
    util::EventPtr iqTimer_;
    std::vector<util::EventPtr> signals_;
    bool stopping_ = false;
};

}  // namespace corvid
