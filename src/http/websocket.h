#pragma once

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <wslay/wslay.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "c2s/connection.h"
#include "http/http_server.h"
#include "stream/xmpp_stream.h"
#include "util/c_handles.h"
#include "xml/stream_parser.h"

namespace corvid::c2s {
class C2sManager;
}

namespace corvid::http {

/// XMPP over WebSocket (RFC 7395) on one upgraded HTTP connection: RFC 6455 framing by wslay,
/// one XMPP element per text message (<open/>, stanzas, nonzas, <close/>), parsed by one
/// xml::StreamParser that sees the messages as the children of an implied stream root. It is a
/// c2s::Connection: the ClientStream on it negotiates SASL and binding exactly as over TCP and
/// then carries the bound session (c2s::Transport).
class WebSocketConnection final : public c2s::Connection, private xml::StreamHandler {
  public:
    struct Options {
        xml::StreamLimits limits;
        std::size_t maxOutputBytes = 1024 * 1024;
        /// Counts as encrypted: came over https, or through a proxy on this machine that
        /// terminated TLS (a plain http listener reached from loopback).
        bool encrypted = false;
    };

    /// Takes `bev` (the upgraded connection, TLS included; bytes after the upgrade request may
    /// wait in its input).
    WebSocketConnection(bufferevent* bev, std::string peerAddress,
                        stream::XmppStream::Owner& events, Options options);
    ~WebSocketConnection() override;
    WebSocketConnection(const WebSocketConnection&) = delete;
    WebSocketConnection& operator=(const WebSocketConnection&) = delete;

    // c2s::Connection
    void sendStreamHeader(std::string_view from, std::string_view to, std::string_view id,
                          std::string_view lang) override;
    void send(const xml::Element& element) override;
    void closeWithError(stanza::StreamCondition condition, std::string_view text) override;
    void close() override;
    bool closing() const override { return closing_; }
    bool encrypted() const override { return options_.encrypted; }
    /// None: the TLS under a WebSocket is the HTTP connection's (or a proxy's), not this
    /// stream's, so SCRAM-*-PLUS is not offered here.
    SSL* bindingTls() const override { return nullptr; }
    bool canStartTls() const override { return false; }
    void startTls(SSL* ssl) override;
    /// After SASL success: the client opens the next stream with a new <open/> (RFC 7395 §3.5).
    void restartStream() override { opened_ = false; }
    void setLimits(const xml::StreamLimits& limits) override;
    void setIdleTimeout(int seconds) override;
    bool shedIdleMemory(int quietCallsNeeded) override;
    std::size_t outputPending() const override;
    std::size_t maxOutputBytes() const override { return options_.maxOutputBytes; }
    const std::string& peerAddress() const override { return peer_; }

  private:
    // xml::StreamHandler
    void onStreamStart(xml::StreamHeader&& header) override;
    void onElement(xml::Element&& element) override;
    void onStreamEnd() override;
    void onParseError(const xml::ParseError& error) override;

    static ssize_t recvCallback(wslay_event_context_ptr, uint8_t* buf, std::size_t len, int,
                                void* user);
    static ssize_t sendCallback(wslay_event_context_ptr, const uint8_t* data, std::size_t len, int,
                                void* user);
    static void messageCallback(wslay_event_context_ptr, const wslay_event_on_msg_recv_arg* arg,
                                void* user);
    static void readCallback(bufferevent*, void* arg);
    static void writeCallback(bufferevent*, void* arg);
    static void eventCallback(bufferevent*, short what, void* arg);

    void onReadable();
    void onMessage(std::string_view text);
    void dispatch(xml::Element&& element);
    void sendText(std::string_view text);
    void afterIo();
    void closeWebSocket(std::uint16_t code, std::string_view reason);
    void abort();

    bufferevent* bev_;
    std::string peer_;
    stream::XmppStream::Owner& events_;
    Options options_;
    wslay_event_context_ptr ws_ = nullptr;
    xml::StreamParser parser_;
    std::optional<xml::Element> message_;  // the element of the message being parsed
    bool extraElement_ = false;            // that message held more than one
    bool inIo_ = false;                    // inside wslay_event_recv(): no sending from there
    bool opened_ = false;                  // the client's <open/> of the current stream came
    bool headerSent_ = false;
    bool closing_ = false;  // our <close/> (or a WebSocket close) is queued
    bool closed_ = false;
    bool finishing_ = false;
    struct PendingClose {
        std::uint16_t code;
        std::string reason;
    };
    std::optional<PendingClose>
        pendingClose_;  // our close frame, after what is queued  // both close frames are through:
                        // close once the output is out
    bool readSinceShed_ = true;
    int quietCalls_ = 0;
    util::EventPtr closedEvent_;
    util::EventPtr closeTimer_;
};

struct WebSocketSettings {
    /// Origins (RFC 6454, "https://web.example") whose pages may open a WebSocket; "*" for any.
    /// A request without Origin (not from a browser) is not restricted by this.
    std::vector<std::string> origins = {"*"};
    /// A connection from a loopback address comes through a reverse proxy on this machine: it
    /// counts as encrypted, and its client is the last address of X-Forwarded-For.
    bool trustLoopbackProxy = true;
};

/// GET /xmpp-websocket: checks the RFC 6455 handshake (version 13, the key), the "xmpp"
/// subprotocol (RFC 7395 §3.1) and the Origin, answers 101 and hands the connection to the
/// c2s manager, which counts it per IP like any client connection.
class WebSocketEndpoint final : public Handler {
  public:
    WebSocketEndpoint(HttpServer& server, c2s::C2sManager& c2s, WebSocketSettings settings);

    BodyMode onHeaders(const Request& request, RequestId id) override;
    void onRequest(Request&& request, RequestId id) override;

  private:
    HttpServer& server_;
    c2s::C2sManager& c2s_;
    WebSocketSettings settings_;
};

/// Whether `address` is a loopback address (a reverse proxy on this machine).
bool isLoopback(std::string_view address);

}  // namespace corvid::http
