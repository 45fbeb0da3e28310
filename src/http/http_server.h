#pragma once

#include <event2/bufferevent.h>
#include <event2/event.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/http_message.h"
#include "util/c_handles.h"

namespace corvid::net {
class TlsContexts;
}

namespace corvid::http {

class HttpConnection;

/// The bounds of the HTTP listeners ([http] in the config).
struct HttpSettings {
    std::size_t maxHeaderBytes = 8192;
    std::size_t maxBodyBytes = 1024 * 1024;
    int headerTimeoutSeconds = 10;
    int idleTimeoutSeconds = 60;
    std::size_t maxConnectionsPerIp = 32;
};

/// How a handler takes the body of a request whose headers it has seen.
enum class BodyMode {
    Buffer,    ///< up to HttpSettings::maxBodyBytes in Request::body, then onRequest()
    Stream,    ///< in pieces to onBody() (flow control: pauseBody/resumeBody), then onRequest()
    Answered,  ///< the handler has responded already (a refusal): the body is not read
};

/// One path prefix's endpoint. Every call comes from the event loop; a handler answers with
/// HttpServer::respond() (at once or later) and hears onAbandoned() when the client went first.
class Handler {
  public:
    /// The request line and headers are in (Request::body is still empty).
    virtual BodyMode onHeaders(const Request& request, RequestId id) {
        (void)request;
        (void)id;
        return BodyMode::Buffer;
    }
    /// A piece of a streamed body.
    virtual void onBody(RequestId id, std::string_view chunk) {
        (void)id;
        (void)chunk;
    }
    /// The request is complete. The connection reads nothing more until it is answered.
    virtual void onRequest(Request&& request, RequestId id) = 0;
    /// The connection closed (or failed) before the response was complete.
    virtual void onAbandoned(RequestId id) { (void)id; }
    /// A streamed response's output fell below the low-water mark: more may be sent.
    virtual void onDrained(RequestId id) { (void)id; }

  protected:
    ~Handler() = default;
};

/// The HTTP/1.1 side of corvid (RFC 9112): connections accepted on the http and https listeners,
/// parsed incrementally (http_parser), one request at a time per connection, routed by path
/// prefix to a Handler. Bounded: header bytes, body bytes, connections per IP, a deadline for
/// the headers and an idle timeout (a client that stops sending, slowloris). Nothing here
/// touches a file or blocks: handlers do their I/O on workers.
///
/// Why not libevent's evhttp (as first planned): in libevent 2.1 a connection cannot be handed
/// over after an Upgrade (evws arrived in 2.2, and evhttp_connection_free() shuts the socket
/// down), which WebSocket needs; here the bufferevent stays ours.
class HttpServer {
  public:
    HttpServer(event_base* base, const net::TlsContexts& tls, HttpSettings settings);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    /// Routes requests whose path is `prefix` or starts with it (longest prefix wins). The
    /// handler outlives the server's use of it (removeRoute, or the server's end).
    void addRoute(std::string prefix, Handler& handler);
    void removeRoute(std::string_view prefix);

    /// A connection accepted on an http (secure false) or https listener. Refused past
    /// maxConnectionsPerIp and while shutting down.
    void accept(evutil_socket_t fd, std::string ip, bool secure);

    /// The complete response to request `id`. False when that request is no longer waiting (the
    /// connection went, or it was answered).
    bool respond(RequestId id, Response&& response);
    /// Starts a response whose body follows in pieces (sendBody), `contentLength` bytes in all.
    bool startResponse(RequestId id, Response&& head, std::uint64_t contentLength);
    bool sendBody(RequestId id, std::string_view bytes);
    /// Bytes of the response not yet taken by the client.
    std::size_t outputPending(RequestId id) const;
    /// Answers request `id` (at its headers) with `response`, a 101 Switching Protocols, and
    /// hands its connection over: the bufferevent, TLS included, is the caller's from now on, its
    /// callbacks unset; bytes that followed the request wait in its input. nullptr when the
    /// request is not waiting at its headers.
    bufferevent* upgrade(RequestId id, const Response& response);
    /// Flow control of a streamed request body.
    void pauseBody(RequestId id);
    void resumeBody(RequestId id);
    /// Closes the connection of `id` at once (a streamed body the handler cannot take).
    void abort(RequestId id);

    /// Closes every connection (each after its current response) and accepts no more.
    void shutdown();
    bool empty() const { return connections_.empty(); }
    bool stopping() const { return stopping_; }
    std::size_t connectionCount() const { return connections_.size(); }
    const HttpSettings& settings() const { return settings_; }

    // For HttpConnection.
    Handler* route(std::string_view path) const;
    void connectionClosed(std::uint64_t id);
    event_base* base() const { return base_; }

  private:
    HttpConnection* find(RequestId id) const;
    void bury();

    struct Slot {
        std::unique_ptr<HttpConnection> connection;
        std::string ip;
    };

    event_base* base_;
    const net::TlsContexts& tls_;
    HttpSettings settings_;
    std::vector<std::pair<std::string, Handler*>> routes_;
    std::unordered_map<std::uint64_t, Slot> connections_;
    std::unordered_map<std::string, std::size_t> perIp_;
    std::vector<std::unique_ptr<HttpConnection>> dead_;
    util::EventPtr reaper_;
    std::uint64_t nextId_ = 1;
    bool stopping_ = false;
};

}  // namespace corvid::http
