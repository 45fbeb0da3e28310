#include "server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "stanza/ns.h"
#include "storage/database.h"
#include "storage/secret_store.h"
#include "util/log.h"
#include "util/random.h"

namespace corvid {

namespace {

c2s::C2sSettings makeC2sSettings(const conf::Config& config) {
    c2s::C2sSettings s;
    const auto& limits = config.limits;
    s.limits = xml::StreamLimits{limits.maxStanzaBytes, limits.maxDepth, limits.maxAttributes};
    s.preAuthLimits =
        xml::StreamLimits{limits.maxStanzaBytesPreauth, std::min<std::size_t>(limits.maxDepth, 16),
                          limits.maxAttributes};
    s.maxOutputBytes = limits.outputBufferBytes;
    s.streamHeaderTimeoutSeconds = static_cast<int>(limits.streamHeaderTimeout.count());
    s.authTimeoutSeconds = static_cast<int>(limits.authTimeout.count());
    s.idleTimeoutSeconds = static_cast<int>(limits.idleTimeout.count());
    s.allowPlaintext = config.auth.allowPlaintext;
    s.mechanisms = config.auth.mechanisms;
    s.scramIterations = config.auth.scramIterations;
    const conf::ModuleConfig& sm = config.module("sm");
    s.sm.enabled = sm.enabled;
    if (sm.enabled) {
        s.sm.resumeTimeoutSeconds = static_cast<int>(sm.options.getInt("resume_timeout_s"));
        s.sm.maxUnacked = static_cast<std::size_t>(sm.options.getInt("max_unacked"));
    }
    switch (config.server.bindResourceConflict) {
        case conf::ResourceConflict::Replace:
            s.conflictPolicy = c2s::ConflictPolicy::Replace;
            break;
        case conf::ResourceConflict::Reject:
            s.conflictPolicy = c2s::ConflictPolicy::Reject;
            break;
        case conf::ResourceConflict::Rename:
            s.conflictPolicy = c2s::ConflictPolicy::Rename;
            break;
    }
    return s;
}

net::TlsOptions makeTlsOptions(const conf::Config& config) {
    net::TlsOptions o;
    for (const auto& host : config.hosts) {
        auto cert = host.certificate ? host.certificate : config.tls.certificate;
        auto key = host.key ? host.key : config.tls.key;
        if (cert && key) {
            o.identities.push_back({host.domain, *cert, *key});
        }
    }
    o.minVersion = config.tls.minVersion == conf::TlsVersion::Tls13 ? "1.3" : "1.2";
    o.ciphers = config.tls.ciphers.value_or("");
    o.ciphersuites = config.tls.ciphersuites.value_or("");
    o.caFile = config.s2s.caFile.value_or("");
    return o;
}

bool isLoopback(const sockaddr_storage& ss) {
    if (ss.ss_family == AF_INET) {
        const auto& a = reinterpret_cast<const sockaddr_in&>(ss).sin_addr;
        return (ntohl(a.s_addr) >> 24) == 127;
    }
    if (ss.ss_family == AF_INET6) {
        return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr);
    }
    return false;
}

std::string addressToString(const sockaddr* address) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (address->sa_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, buf,
                  sizeof(buf));
    } else if (address->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, buf,
                  sizeof(buf));
    }
    return buf;
}

}  // namespace

Server::Server(conf::Config config) : config_(std::move(config)), base_(event_base_new()) {}

Server::~Server() {
    // Sessions first: they unregister from the router and may still use the stores.
    http_.reset();
    uploadFiles_.reset();
    websocket_.reset();
    hostMeta_.reset();
    c2s_.reset();
    components_.reset();
    toRemoteHook_.reset();
    s2s_.reset();
    modules_.clear();
    listeners_.clear();
    secrets_.reset();
    database_.reset();
    workers_.reset();
}

bool Server::setUp() {
    signal(SIGPIPE, SIG_IGN);
    auto tls = net::TlsContexts::create(makeTlsOptions(config_));
    if (!tls) {
        log::error("TLS: {}", tls.error());
        return false;
    }
    tls_ = std::move(*tls);
    for (const auto& host : config_.hosts) {
        router_.addLocalDomain(host.domain);
    }

    workers_ = std::make_unique<util::WorkerPool>(base_.get(), 1, config_.limits.workerQueueMax);

    storage::DbConfig db;
    db.dsn = config_.database.dsn;
    db.connections = config_.database.connections;
    db.statementTimeoutMs = static_cast<int>(config_.database.statementTimeout.count());
    db.connectTimeoutMs = static_cast<int>(config_.database.connectTimeout.count());
    db.reconnectMaxBackoffMs = static_cast<int>(config_.database.reconnectMaxBackoff.count());
    db.retryStart = true;  // PostgreSQL may come up after us: keep trying, serve meanwhile
    db.log = [](std::string_view message) { log::warn("storage: {}", message); };
    database_ = std::make_unique<storage::Database>(base_.get(), db);
    secrets_ = std::make_unique<storage::SecretStore>(*database_);
    c2s::ThrottleSettings throttle{config_.auth.maxFailuresPerIp,
                                   config_.auth.maxFailuresPerAccount, config_.auth.failureWindow};
    c2s_ = std::make_unique<c2s::C2sManager>(base_.get(), router_, *tls_, makeC2sSettings(config_),
                                             throttle, config_.limits.maxConnectionsPerIp,
                                             *workers_, *database_);
    database_->start([this](std::expected<void, std::string> ready) {
        if (ready) {
            log::info("database ready");
            c2s_->databaseReady();
            loadDialbackSecret();
            loadUploadSecret();
        } else {
            log::error("database: {} (will keep retrying)", ready.error());
        }
    });

    modules::ModuleServices services{base_.get(), router_, *database_, *workers_,
                                     modules::serverFacts(config_)};
    auto loaded = modules::loadModules(modules::registeredModules(), services, config_);
    if (!loaded) {
        log::error("{}", loaded.error());
        return false;
    }
    modules_ = std::move(*loaded);
    std::string names;
    for (std::string_view name : modules_.names()) {
        names += names.empty() ? "" : " ";
        names += name;
    }
    log::info("modules: {}", names);
    if (!setUpS2s() || !setUpHttp()) {
        return false;
    }
    setUpComponents();

    drainTimer_.reset(event_new(
        base_.get(), -1, 0,
        [](evutil_socket_t, short, void* arg) { static_cast<Server*>(arg)->exitWhenIdle(); },
        this));
    // Iqs the server sent that were never answered fail after their timeout.
    iqTimer_.reset(event_new(
        base_.get(), -1, EV_PERSIST,
        [](evutil_socket_t, short, void* arg) { static_cast<Server*>(arg)->router_.expireIqs(); },
        this));
    timeval every{5, 0};
    event_add(iqTimer_.get(), &every);
    for (int sig : {SIGINT, SIGTERM}) {
        signals_.emplace_back(evsignal_new(base_.get(), sig, &Server::onSignal, this));
        evsignal_add(signals_.back().get(), nullptr);
    }
    return openListeners();
}

bool Server::setUpS2s() {
    if (!config_.s2s.enabled) {
        return true;
    }
    s2s::S2sSettings s;
    const auto& c = config_.s2s;
    const auto& limits = config_.limits;
    s.requireValidCertificate = c.requireValidCertificate;
    s.dialback = c.dialback;
    s.dialbackWithoutCertificate = c.dialbackWithoutCertificate;
    s.allowPrivateAddresses = c.allowPrivateAddresses;
    s.idleTimeoutSeconds = static_cast<int>(c.idleTimeout.count());
    s.connectTimeoutSeconds = static_cast<int>(c.connectTimeout.count());
    s.authTimeoutSeconds = static_cast<int>(limits.authTimeout.count());
    for (const auto& [domain, route] : c.routes) {
        s.routes.emplace(domain, s2s::StaticTarget{route.host, route.port});
    }
    s.limits = xml::StreamLimits{limits.s2sMaxStanzaBytes, limits.maxDepth, limits.maxAttributes};
    s.preAuthLimits =
        xml::StreamLimits{limits.maxStanzaBytesPreauth, std::min<std::size_t>(limits.maxDepth, 16),
                          limits.maxAttributes};
    s.maxOutputBytes = std::max(limits.outputBufferBytes, limits.s2sMaxStanzaBytes * 2);
    s.queueMax = limits.s2sQueueMax;
    s.maxConnectionsPerIp = limits.maxConnectionsPerIp;
    // XEP-0185: a configured secret, else the one kept in the database (loaded when it is
    // ready); until then a random one, so that dialback works from the first second.
    std::string secret = c.dialbackSecret.value_or(util::randomId(32));
    auto manager = s2s::S2sManager::create(base_.get(), router_, *tls_, std::move(s),
                                           c.caFile.value_or(""), std::move(secret));
    if (!manager) {
        log::error("s2s: {}", manager.error());
        return false;
    }
    s2s_ = std::move(*manager);
    toRemoteHook_ = router_.hooks().add(router::Event::ToRemote, 0,
                                        [this](auto& context) { return s2s_->routeOut(context); });
    return true;
}

void Server::setUpComponents() {
    if (config_.components.empty()) {
        return;
    }
    const auto& limits = config_.limits;
    component::ComponentSettings s;
    s.preAuthLimits =
        xml::StreamLimits{limits.maxStanzaBytesPreauth, std::min<std::size_t>(limits.maxDepth, 16),
                          limits.maxAttributes};
    // A component speaks for many users at once, like a peer server: the s2s stanza size.
    s.limits = xml::StreamLimits{limits.s2sMaxStanzaBytes, limits.maxDepth, limits.maxAttributes};
    s.maxOutputBytes = std::max(limits.outputBufferBytes, limits.s2sMaxStanzaBytes * 2);
    s.streamHeaderTimeoutSeconds = static_cast<int>(limits.streamHeaderTimeout.count());
    s.authTimeoutSeconds = static_cast<int>(limits.authTimeout.count());
    s.maxConnectionsPerIp = limits.maxConnectionsPerIp;
    std::vector<component::ComponentDefinition> definitions;
    for (const auto& c : config_.components) {
        definitions.push_back({c.domain, c.secret});
    }
    components_ = std::make_unique<component::ComponentManager>(base_.get(), router_, std::move(s),
                                                                definitions);
}

bool Server::setUpHttp() {
    const bool wanted =
        std::any_of(config_.listeners.begin(), config_.listeners.end(), [](const auto& l) {
            return l.type == conf::ListenerType::Http || l.type == conf::ListenerType::Https;
        });
    if (!wanted) {
        return true;
    }
    http::HttpSettings s;
    const auto& h = config_.http;
    s.maxHeaderBytes = h.maxHeaderBytes;
    s.maxBodyBytes = h.maxBodyBytes;
    s.headerTimeoutSeconds = static_cast<int>(h.headerTimeout.count());
    s.idleTimeoutSeconds = static_cast<int>(h.idleTimeout.count());
    s.maxConnectionsPerIp = h.maxConnectionsPerIp;
    http_ = std::make_unique<http::HttpServer>(base_.get(), *tls_, s);
    if (const conf::ModuleConfig& upload = config_.module("upload"); upload.enabled) {
        http::UploadSettings u;
        u.directory = upload.options.getString("directory");
        u.maxBytes = static_cast<std::uint64_t>(upload.options.getInt("max_bytes"));
        u.retentionDays = static_cast<int>(upload.options.getInt("retention_days"));
        // Startup only: a directory that cannot take files is a configuration error now, not a
        // failed upload later.
        if (::access(u.directory.c_str(), W_OK | X_OK) != 0) {
            log::error("modules.upload.directory {}: {}", u.directory, std::strerror(errno));
            return false;
        }
        uploadFiles_ = std::make_unique<http::UploadFiles>(base_.get(), *http_, std::move(u));
        http_->addRoute("/upload/", *uploadFiles_);
    }
    if (h.websocket) {
        http::WebSocketSettings w;
        w.origins = h.websocketOrigins;
        w.trustLoopbackProxy = h.trustLoopbackProxy;
        websocket_ = std::make_unique<http::WebSocketEndpoint>(*http_, *c2s_, std::move(w));
        http_->addRoute("/xmpp-websocket", *websocket_);
    }
    http::HostMetaSettings m;
    m.websocket = h.websocket;
    m.publicUrl = h.publicUrl;
    m.trustLoopbackProxy = h.trustLoopbackProxy;
    hostMeta_ = std::make_unique<http::HostMeta>(*http_, std::move(m));
    http_->addRoute("/.well-known/host-meta", *hostMeta_);
    return true;
}

void Server::loadUploadSecret() {
    if (!uploadFiles_) {
        return;
    }
    // The upload module signs slots with the same secret (XEP-0363 PUT URLs): one per database,
    // so that every node accepts what any node handed out.
    const std::string random = util::randomId(32);
    secrets_->getOrCreate("http-upload", storage::Bytes(random.begin(), random.end()),
                          [this](std::expected<storage::Bytes, storage::StoreError> secret) {
                              if (!secret) {
                                  log::warn("cannot load the upload secret: {}",
                                            secret.error().message);
                                  return;
                              }
                              uploadFiles_->setSecret(std::string(secret->begin(), secret->end()));
                          });
}

void Server::loadDialbackSecret() {
    if (!s2s_ || config_.s2s.dialbackSecret || loadingDialbackSecret_) {
        return;
    }
    loadingDialbackSecret_ = true;
    // Every node and every restart must make the same keys (XEP-0185 §3), or a peer verifying a
    // key with another node would be told it is invalid.
    const std::string random = util::randomId(32);
    secrets_->getOrCreate("s2s-dialback", storage::Bytes(random.begin(), random.end()),
                          [this](std::expected<storage::Bytes, storage::StoreError> secret) {
                              loadingDialbackSecret_ = false;
                              if (!secret) {
                                  log::warn("cannot load the dialback secret: {}",
                                            secret.error().message);
                                  return;
                              }
                              s2s_->setDialbackSecret(std::string(secret->begin(), secret->end()));
                          });
}

bool Server::openListeners() {
    for (const auto& lc : config_.listeners) {
        const bool s2sListener =
            lc.type == conf::ListenerType::S2s || lc.type == conf::ListenerType::S2sDirectTls;
        if (s2sListener && !s2s_) {
            log::warn("listener {} on {}:{}: s2s is disabled; skipped", conf::toString(lc.type),
                      lc.address, lc.port);
            continue;
        }
        if (lc.type == conf::ListenerType::Component && !components_) {
            log::warn("listener component on {}:{}: no [[components]] are configured; skipped",
                      lc.address, lc.port);
            continue;
        }
        sockaddr_storage ss{};
        int len = sizeof(ss);
        const std::string spec = lc.address.find(':') != std::string::npos
                                     ? "[" + lc.address + "]:" + std::to_string(lc.port)
                                     : lc.address + ":" + std::to_string(lc.port);
        if (evutil_parse_sockaddr_port(spec.c_str(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
            log::error("listener: bad address {}", spec);
            return false;
        }
        auto listener = std::make_unique<Listener>();
        listener->type = lc.type;
        listener->server = this;
        listener->listener.reset(evconnlistener_new_bind(
            base_.get(),
            [](evconnlistener*, evutil_socket_t fd, sockaddr* address, int, void* arg) {
                auto* l = static_cast<Listener*>(arg);
                l->server->accept(*l, fd, address);
            },
            listener.get(), LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 1024,
            reinterpret_cast<sockaddr*>(&ss), len));
        if (!listener->listener) {
            log::error("cannot listen on {}: {}", spec, std::strerror(errno));
            return false;
        }
        log::info("listening for {} on {}", conf::toString(lc.type), spec);
        if (lc.type == conf::ListenerType::Component && !isLoopback(ss)) {
            // XEP-0114 has no encryption: the handshake digest and every stanza travel in
            // clear.
            log::warn(
                "the component listener on {} is not on a loopback address: components "
                "connect without encryption",
                spec);
        }
        listeners_.push_back(std::move(listener));
    }
    return true;
}

void Server::accept(Listener& listener, evutil_socket_t fd, sockaddr* address) {
    std::string ip = addressToString(address);
    if (listener.type == conf::ListenerType::S2s ||
        listener.type == conf::ListenerType::S2sDirectTls) {
        // Server connections are counted and limited by the s2s manager.
        s2s_->accept(fd, std::move(ip), listener.type == conf::ListenerType::S2sDirectTls);
        return;
    }
    if (listener.type == conf::ListenerType::Component) {
        components_->accept(fd, std::move(ip));
        return;
    }
    if (listener.type == conf::ListenerType::Http || listener.type == conf::ListenerType::Https) {
        http_->accept(fd, std::move(ip), listener.type == conf::ListenerType::Https);
        return;
    }
    c2s_->accept(fd, std::move(ip), listener.type == conf::ListenerType::C2sDirectTls);
}

bool Server::idle() const {
    return c2s_->empty() && (!s2s_ || s2s_->empty()) && (!components_ || components_->empty());
}

void Server::exitWhenIdle() {
    if (!stopping_ || !idle()) {
        return;
    }
    // Writes the modules batched (archive, offline messages) finish first; the grace period of
    // shutdown() still bounds the wait.
    if (database_ && database_->running() && database_->pending() != 0) {
        timeval poll{0, 10'000};
        event_add(drainTimer_.get(), &poll);
        return;
    }
    event_base_loopexit(base_.get(), nullptr);
}

void Server::onSignal(evutil_socket_t, short, void* arg) {
    static_cast<Server*>(arg)->shutdown();
}

void Server::shutdown() {
    if (stopping_) {
        event_base_loopexit(base_.get(), nullptr);  // second signal: leave now
        return;
    }
    log::info("shutting down");
    stopping_ = true;
    listeners_.clear();
    if (http_) {
        http_->shutdown();
    }
    c2s_->shutdown([this] { exitWhenIdle(); });
    if (s2s_) {
        s2s_->shutdown([this] { exitWhenIdle(); });
    }
    if (components_) {
        components_->shutdown([this] { exitWhenIdle(); });
    }
    timeval grace{3, 0};
    event_base_loopexit(base_.get(), &grace);
    exitWhenIdle();
}

int Server::run() {
    if (!setUp()) {
        return 1;
    }
    log::info("corvid running for {} host(s)", config_.hosts.size());
    event_base_dispatch(base_.get());
    log::info("stopped");
    return 0;
}

}  // namespace corvid
