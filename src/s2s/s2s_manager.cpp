#include "s2s/s2s_manager.h"

#include <openssl/x509.h>

#include "net/tls_context.h"
#include "s2s/incoming_session.h"
#include "s2s/outgoing_session.h"
#include "util/log.h"

namespace corvid::s2s {

namespace {

// Ask for the peer's certificate without letting OpenSSL judge it: the verifier does, with one
// policy for both directions (an untrusted certificate may still be good enough for dialback).
int acceptAnyCertificate(int, X509_STORE_CTX*) {
    return 1;
}

}  // namespace

std::expected<std::unique_ptr<S2sManager>, std::string> S2sManager::create(
    event_base* base, router::Router& router, const net::TlsContexts& tls, S2sSettings settings,
    std::string caFile, std::string dialbackSecret) {
    auto resolver = net::DnsResolver::create(base, net::DnsResolver::Options{});
    if (!resolver) {
        return std::unexpected(resolver.error());
    }
    auto verifier = CertificateVerifier::create(caFile);
    if (!verifier) {
        return std::unexpected(verifier.error());
    }
    std::unique_ptr<S2sManager> self(
        new S2sManager(base, router, tls, std::move(settings), std::move(dialbackSecret)));
    self->resolver_ = std::move(*resolver);
    self->verifier_ = std::move(*verifier);
    return self;
}

S2sManager::S2sManager(event_base* base, router::Router& router, const net::TlsContexts& tls,
                       S2sSettings settings, std::string dialbackSecret)
    : base_(base),
      router_(router),
      tls_(tls),
      settings_(std::move(settings)),
      dialbackSecret_(std::move(dialbackSecret)) {
    reaper_.reset(event_new(
        base_, -1, 0,
        [](evutil_socket_t, short, void* arg) {
            auto* self = static_cast<S2sManager*>(arg);
            // Streams first: a retired stream may still point at its (dead) owner.
            self->deadStreams_.clear();
            self->deadIncoming_.clear();
            self->deadOutgoing_.clear();
            self->checkEmpty();
        },
        this));
}

S2sManager::~S2sManager() {
    // Sessions before the resolver: their DNS callbacks look them up by id and find nothing.
    deadStreams_.clear();
    incoming_.clear();
    routes_.clear();
    closingRoutes_.clear();
    deadIncoming_.clear();
    deadOutgoing_.clear();
    resolver_.reset();
}

// --- TLS ---

SSL* S2sManager::newIncomingSsl() const {
    SSL* ssl = tls_.newServerSsl();
    SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, &acceptAnyCertificate);
    return ssl;
}

bool S2sManager::haveCertificate(std::string_view local) const {
    SSL_CTX* ctx = tls_.forDomain(local);
    return ctx != nullptr && SSL_CTX_get0_certificate(ctx) != nullptr;
}

SSL* S2sManager::newOutgoingSsl(std::string_view local, std::string_view remote,
                                bool directTls) const {
    SSL* ssl = SSL_new(tls_.client());
    const std::string sni(remote);
    // XEP-0368 §3 / RFC 6120 §13.7.2.1: SNI names the XMPP domain, not the SRV target.
    SSL_set_tlsext_host_name(ssl, sni.c_str());
    if (directTls) {
        static const unsigned char kAlpn[] = "\x0bxmpp-server";
        SSL_set_alpn_protos(ssl, kAlpn, sizeof(kAlpn) - 1);
    }
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);  // judged by the verifier afterwards
    // Our certificate for `local`, for the peer's SASL EXTERNAL (XEP-0178).
    if (SSL_CTX* host = tls_.forDomain(local)) {
        X509* cert = SSL_CTX_get0_certificate(host);
        EVP_PKEY* key = SSL_CTX_get0_privatekey(host);
        if (cert != nullptr && key != nullptr && SSL_use_certificate(ssl, cert) == 1 &&
            SSL_use_PrivateKey(ssl, key) == 1) {
            STACK_OF(X509)* chain = nullptr;
            if (SSL_CTX_get0_chain_certs(host, &chain) == 1 && chain != nullptr) {
                SSL_set1_chain(ssl, chain);
            }
        }
    }
    return ssl;
}

// --- lifetimes ---

void S2sManager::scheduleReap() {
    event_active(reaper_.get(), 0, 0);
}

void S2sManager::retire(std::unique_ptr<stream::XmppStream> stream) {
    if (stream) {
        deadStreams_.push_back(std::move(stream));
        scheduleReap();
    }
}

void S2sManager::incomingClosed(std::uint64_t id) {
    auto it = incoming_.find(id);
    if (it == incoming_.end()) {
        return;
    }
    if (auto ip = incomingIp_.find(id); ip != incomingIp_.end()) {
        auto count = connectionsPerIp_.find(ip->second);
        if (count != connectionsPerIp_.end() && --count->second == 0) {
            connectionsPerIp_.erase(count);
        }
        incomingIp_.erase(ip);
    }
    deadIncoming_.push_back(std::move(it->second));
    incoming_.erase(it);
    scheduleReap();
}

void S2sManager::outgoingClosed(const RouteKey& key, std::uint64_t id) {
    if (auto it = routes_.find(key); it != routes_.end() && it->second->id() == id) {
        deadOutgoing_.push_back(std::move(it->second));
        routes_.erase(it);
        scheduleReap();
        return;
    }
    if (auto it = closingRoutes_.find(id); it != closingRoutes_.end()) {
        deadOutgoing_.push_back(std::move(it->second));
        closingRoutes_.erase(it);
        scheduleReap();
    }
}

IncomingSession* S2sManager::findIncoming(std::uint64_t id) {
    auto it = incoming_.find(id);
    return it == incoming_.end() ? nullptr : it->second.get();
}

OutgoingSession* S2sManager::findOutgoing(const RouteKey& key, std::uint64_t id) {
    if (auto it = routes_.find(key); it != routes_.end() && it->second->id() == id) {
        return it->second.get();
    }
    if (auto it = closingRoutes_.find(id); it != closingRoutes_.end()) {
        return it->second.get();
    }
    return nullptr;
}

void S2sManager::checkEmpty() {
    if (stopping_ && empty() && whenEmpty_) {
        std::exchange(whenEmpty_, nullptr)();
    }
}

void S2sManager::shutdown(std::function<void()> whenEmpty) {
    stopping_ = true;
    whenEmpty_ = std::move(whenEmpty);
    for (auto& [id, session] : incoming_) {
        session->closeWithError(stanza::StreamCondition::SystemShutdown, "server shutdown");
    }
    std::vector<OutgoingSession*> routes;
    for (auto& [key, route] : routes_) {
        routes.push_back(route.get());
    }
    for (OutgoingSession* route : routes) {
        route->close(stanza::StreamCondition::SystemShutdown, "server shutdown");
    }
    scheduleReap();  // reports at once if there was nothing to close
}

// --- routes ---

OutgoingSession* S2sManager::routeFor(const std::string& local, const std::string& remote) {
    RouteKey key{local, remote};
    auto it = routes_.find(key);
    if (it != routes_.end() && it->second->state() != OutgoingSession::State::Closed) {
        return it->second.get();
    }
    if (it != routes_.end()) {
        // Still saying goodbye on its stream: a new route takes its place.
        const std::uint64_t oldId = it->second->id();
        closingRoutes_.emplace(oldId, std::move(it->second));
        routes_.erase(it);
    }
    const std::uint64_t id = nextId_++;
    auto route = std::make_unique<OutgoingSession>(*this, id, local, remote);
    routes_.emplace(key, std::move(route));
    log::debug("s2s out {} -> {}: new route", local, remote);
    routes_.at(key)->start();
    // start() fails at once for a domain that cannot be looked up.
    return findOutgoing(key, id);
}

router::HookResult S2sManager::routeOut(router::StanzaContext& context) {
    const std::string local(context.from.domain());
    const std::string remote(context.to.domain());
    if (stopping_ || !router_.servesDomain(local)) {
        return router::HookResult::Pass;  // the router bounces it (remote-server-not-found)
    }
    OutgoingSession* route = routeFor(local, remote);
    if (route == nullptr) {
        return router::HookResult::Pass;
    }
    if (route->state() != OutgoingSession::State::Established &&
        route->queued() >= settings_.queueMax) {
        log::info("s2s out {} -> {}: queue full ({} stanzas), bouncing", local, remote,
                  route->queued());
        router_.bounce(context.stanza, stanza::StanzaCondition::ResourceConstraint,
                       "too many stanzas waiting for the connection to " + remote);
        return router::HookResult::Handled;
    }
    route->send(std::move(context.stanza));
    return router::HookResult::Handled;
}

void S2sManager::verifyKey(std::uint64_t incoming, const std::string& local,
                           const std::string& remote, const std::string& streamId,
                           const std::string& key) {
    if (stopping_) {
        if (IncomingSession* in = findIncoming(incoming)) {
            in->dialbackAnswered(local, remote, streamId, DialbackVerdict::Error);
        }
        return;
    }
    OutgoingSession* route = routeFor(local, remote);
    if (route == nullptr) {
        if (IncomingSession* in = findIncoming(incoming)) {
            in->dialbackAnswered(local, remote, streamId, DialbackVerdict::Error);
        }
        return;
    }
    route->requestVerify(incoming, streamId, key);
}

// --- incoming ---

void S2sManager::accept(evutil_socket_t fd, std::string ip, bool directTls) {
    std::size_t& count = connectionsPerIp_[ip];
    if (stopping_ || count >= settings_.maxConnectionsPerIp) {
        log::warn("s2s: refusing connection from {}: {} connections already", ip, count);
        if (count == 0) {
            connectionsPerIp_.erase(ip);
        }
        evutil_closesocket(fd);
        return;
    }
    evutil_make_socket_nonblocking(fd);
    ++count;
    const std::uint64_t id = nextId_++;
    log::debug("s2s in {}: connection from {}{}", id, ip, directTls ? " (direct TLS)" : "");
    incomingIp_.emplace(id, ip);
    incoming_.emplace(id,
                      std::make_unique<IncomingSession>(*this, id, fd, std::move(ip), directTls));
}

}  // namespace corvid::s2s
