#include "http/http_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>

#include "http/http_connection.h"
#include "net/tls_context.h"
#include "util/log.h"

namespace corvid::http {

HttpServer::HttpServer(event_base* base, const net::TlsContexts& tls, HttpSettings settings)
    : base_(base), tls_(tls), settings_(settings) {
    reaper_.reset(event_new(
        base_, -1, 0,
        [](evutil_socket_t, short, void* arg) { static_cast<HttpServer*>(arg)->bury(); }, this));
}

HttpServer::~HttpServer() {
    connections_.clear();
    dead_.clear();
}

void HttpServer::addRoute(std::string prefix, Handler& handler) {
    routes_.emplace_back(std::move(prefix), &handler);
    // Longest prefix first: the first match is the most specific.
    std::sort(routes_.begin(), routes_.end(),
              [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

void HttpServer::removeRoute(std::string_view prefix) {
    std::erase_if(routes_, [&](const auto& r) { return r.first == prefix; });
}

Handler* HttpServer::route(std::string_view path) const {
    for (const auto& [prefix, handler] : routes_) {
        if (path.starts_with(prefix)) {
            return handler;
        }
    }
    return nullptr;
}

void HttpServer::accept(evutil_socket_t fd, std::string ip, bool secure) {
    std::size_t& count = perIp_[ip];
    if (stopping_ || count >= settings_.maxConnectionsPerIp) {
        log::warn("http: refusing connection from {}: {}", ip,
                  stopping_ ? "shutting down" : std::to_string(count) + " connections already");
        if (count == 0) {
            perIp_.erase(ip);
        }
        evutil_closesocket(fd);
        return;
    }
    evutil_make_socket_nonblocking(fd);
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ++count;
    const std::uint64_t id = nextId_++;
    auto connection =
        std::make_unique<HttpConnection>(*this, id, fd, ip, secure ? tls_.newServerSsl() : nullptr);
    connections_.emplace(id, Slot{std::move(connection), std::move(ip)});
}

void HttpServer::connectionClosed(std::uint64_t id) {
    auto it = connections_.find(id);
    if (it == connections_.end()) {
        return;
    }
    if (auto ipIt = perIp_.find(it->second.ip); ipIt != perIp_.end() && --ipIt->second == 0) {
        perIp_.erase(ipIt);
    }
    dead_.push_back(std::move(it->second.connection));
    connections_.erase(it);
    event_active(reaper_.get(), 0, 0);
}

void HttpServer::bury() {
    dead_.clear();
}

HttpConnection* HttpServer::find(RequestId id) const {
    auto it = connections_.find(id.connection);
    return it == connections_.end() ? nullptr : it->second.connection.get();
}

bool HttpServer::respond(RequestId id, Response&& response) {
    HttpConnection* c = find(id);
    return c != nullptr && c->respond(id.sequence, std::move(response));
}

bool HttpServer::startResponse(RequestId id, Response&& head, std::uint64_t contentLength) {
    HttpConnection* c = find(id);
    return c != nullptr && c->startResponse(id.sequence, std::move(head), contentLength);
}

bool HttpServer::sendBody(RequestId id, std::string_view bytes) {
    HttpConnection* c = find(id);
    return c != nullptr && c->sendBody(id.sequence, bytes);
}

std::size_t HttpServer::outputPending(RequestId id) const {
    HttpConnection* c = find(id);
    return c != nullptr ? c->outputPending() : 0;
}

bufferevent* HttpServer::upgrade(RequestId id, const Response& response) {
    HttpConnection* c = find(id);
    return c != nullptr ? c->upgrade(id.sequence, response) : nullptr;
}

void HttpServer::pauseBody(RequestId id) {
    if (HttpConnection* c = find(id)) {
        c->pauseBody(id.sequence);
    }
}

void HttpServer::resumeBody(RequestId id) {
    if (HttpConnection* c = find(id)) {
        c->resumeBody(id.sequence);
    }
}

void HttpServer::abort(RequestId id) {
    if (HttpConnection* c = find(id); c != nullptr && c->awaitsResponse(id.sequence)) {
        c->abort();
    }
}

void HttpServer::shutdown() {
    stopping_ = true;
    std::vector<HttpConnection*> idle;
    for (auto& [id, slot] : connections_) {
        idle.push_back(slot.connection.get());
    }
    for (HttpConnection* c : idle) {
        c->closeIfIdle();
    }
}

}  // namespace corvid::http
