#include "http/websocket.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <openssl/sha.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "c2s/c2s_manager.h"
#include "sasl/base64.h"
#include "stanza/ns.h"
#include "util/log.h"
#include "xml/serializer.h"

namespace corvid::http {

namespace {

/// RFC 7395 §3.3.1: <open/> and <close/> live here.
constexpr std::string_view kFramingNs = "urn:ietf:params:xml:ns:xmpp-framing";
/// RFC 6455 §1.3: appended to the client's key before hashing.
constexpr std::string_view kHandshakeGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// How long we wait for the client's close frame after ours (RFC 6455 §7.1.1).
constexpr int kCloseWaitSeconds = 3;
/// The stream root the parser sees around the messages: each message is one of its children,
/// parsed with the same limits and the same refusals (RFC 6120 §11) as a TCP stream.
constexpr std::string_view kImpliedRoot =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

bool isIpAddress(std::string_view text) {
    const std::string s(text);
    unsigned char buf[sizeof(in6_addr)];
    return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::string acceptKey(std::string_view key) {
    std::string input(key);
    input += kHandshakeGuid;
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
    return sasl::encodeBase64(
        std::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

Response refusal(int status, std::string_view text) {
    return Response(status, "text/plain; charset=utf-8", std::string(text) + "\n");
}

}  // namespace

bool isLoopback(std::string_view address) {
    const std::string s(address);
    in_addr v4{};
    if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
        return (ntohl(v4.s_addr) >> 24) == 127;
    }
    in6_addr v6{};
    return inet_pton(AF_INET6, s.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

// --- the connection ---

WebSocketConnection::WebSocketConnection(bufferevent* bev, std::string peerAddress,
                                         stream::XmppStream::Owner& events, Options options)
    : bev_(bev),
      peer_(std::move(peerAddress)),
      events_(events),
      options_(std::move(options)),
      parser_(*this, options_.limits) {
    wslay_event_callbacks callbacks{};
    callbacks.recv_callback = &WebSocketConnection::recvCallback;
    callbacks.send_callback = &WebSocketConnection::sendCallback;
    callbacks.on_msg_recv_callback = &WebSocketConnection::messageCallback;
    wslay_event_context_server_init(&ws_, &callbacks, this);
    // Bounds what wslay buffers of one message, fragmented or not: past it the connection is
    // closed with 1009 (message too big) before the rest is read.
    wslay_event_config_set_max_recv_msg_length(ws_, options_.limits.maxStanzaBytes);
    parser_.feed(kImpliedRoot);

    event_base* base = bufferevent_get_base(bev_);
    closedEvent_.reset(event_new(
        base, -1, 0,
        [](evutil_socket_t, short, void* arg) {
            static_cast<WebSocketConnection*>(arg)->events_.onClosed();
        },
        this));
    bufferevent_setcb(bev_, &WebSocketConnection::readCallback, &WebSocketConnection::writeCallback,
                      &WebSocketConnection::eventCallback, this);
    bufferevent_enable(bev_, EV_READ | EV_WRITE);
    // Frames the client sent right behind its upgrade request are already in the input.
    bufferevent_trigger(bev_, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

WebSocketConnection::~WebSocketConnection() {
    if (ws_ != nullptr) {
        wslay_event_context_free(ws_);
    }
    if (bev_ != nullptr) {
        bufferevent_free(bev_);
    }
}

void WebSocketConnection::sendStreamHeader(std::string_view from, std::string_view to,
                                           std::string_view id, std::string_view lang) {
    // RFC 7395 §3.4: the server's <open/> stands for its stream header.
    std::string out = "<open xmlns='";
    out += kFramingNs;
    out += '\'';
    auto attr = [&out](std::string_view name, std::string_view value) {
        if (!value.empty()) {
            out += ' ';
            out += name;
            out += "='";
            xml::escapeAttr(value, out);
            out += '\'';
        }
    };
    attr("from", from);
    attr("to", to);
    attr("id", id);
    attr("xml:lang", lang);
    out += " version='1.0'/>";
    headerSent_ = true;
    sendText(out);
}

void WebSocketConnection::send(const xml::Element& element) {
    if (closed_ || closing_) {
        return;
    }
    // Every message stands alone (RFC 7395 §3.3.3): it declares its own namespaces, and the
    // stream namespace keeps the prefix clients look for (<stream:features>, <stream:error>).
    thread_local std::string buffer;
    buffer.clear();
    const bool streamNs = element.ns() == xml::kStreamNs;
    xml::serialize(element, buffer, xml::SerializeScope{{}, streamNs});
    if (streamNs) {
        static constexpr std::string_view kDeclaration =
            " xmlns:stream='http://etherx.jabber.org/streams'";
        buffer.insert(std::string_view("<stream:").size() + element.name().size(), kDeclaration);
    }
    sendText(buffer);
}

void WebSocketConnection::sendText(std::string_view text) {
    if (closed_) {
        return;
    }
    const wslay_event_msg message{WSLAY_TEXT_FRAME, reinterpret_cast<const uint8_t*>(text.data()),
                                  text.size()};
    if (wslay_event_queue_msg(ws_, &message) != 0) {
        return;  // a close frame is queued already: nothing may follow it
    }
    if (!inIo_) {
        afterIo();
    }
}

void WebSocketConnection::closeWithError(stanza::StreamCondition condition, std::string_view text) {
    if (closed_ || closing_) {
        return;
    }
    if (!headerSent_) {
        sendStreamHeader({}, {}, {}, {});
    }
    send(stanza::makeStreamError(condition, text));
    close();
}

void WebSocketConnection::close() {
    if (closed_ || closing_) {
        return;
    }
    // RFC 7395 §3.6: <close/> ends the XMPP stream, then the server closes the WebSocket.
    sendText(std::string("<close xmlns='").append(kFramingNs).append("'/>"));
    closeWebSocket(WSLAY_CODE_NORMAL_CLOSURE, {});
}

void WebSocketConnection::closeWebSocket(std::uint16_t code, std::string_view reason) {
    if (closed_ || closing_) {
        return;
    }
    closing_ = true;
    // Queued by afterIo() once the messages before it are out: wslay sends control frames
    // ahead of queued messages, and nothing after a close frame.
    pendingClose_ = PendingClose{code, std::string(reason)};
    closeTimer_.reset(evtimer_new(
        bufferevent_get_base(bev_),
        [](evutil_socket_t, short, void* arg) { static_cast<WebSocketConnection*>(arg)->abort(); },
        this));
    const timeval wait{kCloseWaitSeconds, 0};
    evtimer_add(closeTimer_.get(), &wait);
    if (!inIo_) {
        afterIo();
    }
}

void WebSocketConnection::startTls(SSL* ssl) {
    // Never offered (canStartTls() is false): the TLS of a WebSocket is the HTTP connection's.
    SSL_free(ssl);
    closeWithError(stanza::StreamCondition::PolicyViolation, "no STARTTLS over WebSocket");
}

void WebSocketConnection::setLimits(const xml::StreamLimits& limits) {
    parser_.setLimits(limits);
    wslay_event_config_set_max_recv_msg_length(ws_, limits.maxStanzaBytes);
}

void WebSocketConnection::setIdleTimeout(int seconds) {
    if (closed_) {
        return;
    }
    if (seconds > 0) {
        const timeval tv{seconds, 0};
        bufferevent_set_timeouts(bev_, &tv, nullptr);
    } else {
        bufferevent_set_timeouts(bev_, nullptr, nullptr);
    }
}

bool WebSocketConnection::shedIdleMemory(int quietCallsNeeded) {
    quietCalls_ = readSinceShed_ ? 0 : quietCalls_ + 1;
    readSinceShed_ = false;
    return quietCalls_ >= quietCallsNeeded && !closed_ && parser_.releaseIdle();
}

std::size_t WebSocketConnection::outputPending() const {
    if (bev_ == nullptr) {
        return 0;
    }
    std::size_t n = evbuffer_get_length(bufferevent_get_output(bev_));
    if (bufferevent* under = bufferevent_get_underlying(bev_)) {
        n += evbuffer_get_length(bufferevent_get_output(under));
    }
    return n;
}

void WebSocketConnection::abort() {
    if (closed_) {
        return;
    }
    closed_ = true;
    closing_ = true;
    parser_.stop();
    closeTimer_.reset();
    bufferevent_disable(bev_, EV_READ | EV_WRITE);
    // The socket itself is closed when the owner deletes us (never inside our own callback).
    if (const evutil_socket_t fd = bufferevent_getfd(bev_); fd >= 0) {
        ::shutdown(fd, SHUT_RDWR);
    }
    event_active(closedEvent_.get(), 0, 0);
}

// --- wslay ---

ssize_t WebSocketConnection::recvCallback(wslay_event_context_ptr ctx, uint8_t* buf,
                                          std::size_t len, int, void* user) {
    auto* self = static_cast<WebSocketConnection*>(user);
    const int n = evbuffer_remove(bufferevent_get_input(self->bev_), buf, len);
    if (n <= 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    return n;
}

ssize_t WebSocketConnection::sendCallback(wslay_event_context_ptr, const uint8_t* data,
                                          std::size_t len, int, void* user) {
    auto* self = static_cast<WebSocketConnection*>(user);
    bufferevent_write(self->bev_, data, len);
    return static_cast<ssize_t>(len);
}

void WebSocketConnection::messageCallback(wslay_event_context_ptr,
                                          const wslay_event_on_msg_recv_arg* arg, void* user) {
    auto* self = static_cast<WebSocketConnection*>(user);
    if (self->closed_) {
        return;
    }
    switch (arg->opcode) {
        case WSLAY_TEXT_FRAME:
            self->onMessage(
                std::string_view(reinterpret_cast<const char*>(arg->msg), arg->msg_length));
            return;
        case WSLAY_BINARY_FRAME:
            // RFC 7395 §3.2: XMPP travels in text messages only.
            log::info("websocket {}: binary message; closing", self->peer_);
            self->closeWebSocket(WSLAY_CODE_UNSUPPORTED_DATA,
                                 "XMPP over WebSocket uses text messages (RFC 7395)");
            return;
        case WSLAY_CONNECTION_CLOSE:
            // wslay answers with its own close frame; the stream ends with the connection.
            log::debug("websocket {}: client closed the WebSocket ({})", self->peer_,
                       arg->status_code);
            self->closing_ = true;
            return;
        default:
            return;  // ping (answered by wslay) and pong
    }
}

// --- input ---

void WebSocketConnection::readCallback(bufferevent*, void* arg) {
    static_cast<WebSocketConnection*>(arg)->onReadable();
}

void WebSocketConnection::onReadable() {
    if (closed_) {
        return;
    }
    readSinceShed_ = true;
    inIo_ = true;
    const int rv = wslay_event_recv(ws_);
    inIo_ = false;
    if (rv != 0) {
        abort();
        return;
    }
    if (!wslay_event_get_read_enabled(ws_)) {
        // A close frame came, or a protocol error or an oversized message made wslay queue
        // one: nothing more is read.
        evbuffer_drain(bufferevent_get_input(bev_),
                       evbuffer_get_length(bufferevent_get_input(bev_)));
        if (const std::uint16_t sent = wslay_event_get_status_code_sent(ws_);
            sent != WSLAY_CODE_ABNORMAL_CLOSURE && sent != WSLAY_CODE_NORMAL_CLOSURE) {
            log::info("websocket {}: closing with {}", peer_, sent);
        }
        closing_ = true;
    }
    afterIo();
}

void WebSocketConnection::afterIo() {
    if (closed_) {
        return;
    }
    if (wslay_event_send(ws_) != 0) {
        abort();
        return;
    }
    if (pendingClose_) {
        const PendingClose c = std::move(*pendingClose_);
        pendingClose_.reset();
        wslay_event_queue_close(ws_, c.code, reinterpret_cast<const uint8_t*>(c.reason.data()),
                                c.reason.size());
        if (wslay_event_send(ws_) != 0) {
            abort();
            return;
        }
    }
    if (outputPending() > options_.maxOutputBytes) {
        // The client is not reading: drop it rather than let its buffer grow without bound.
        log::info("websocket {}: output over {} bytes; dropping", peer_, options_.maxOutputBytes);
        abort();
        return;
    }
    if (!wslay_event_want_read(ws_) && !wslay_event_want_write(ws_)) {
        // Both close frames are through (or reading failed and ours is out).
        finishing_ = true;
        if (outputPending() == 0) {
            abort();
        }
    }
}

void WebSocketConnection::onMessage(std::string_view text) {
    if (closing_) {
        return;
    }
    message_.reset();
    extraElement_ = false;
    if (!parser_.feed(text) || closing_) {
        return;  // onParseError answered
    }
    if (!parser_.betweenStanzas() || extraElement_) {
        // RFC 7395 §3.3.3: one message, one complete element.
        closeWithError(stanza::StreamCondition::NotWellFormed,
                       "a WebSocket message must hold exactly one complete XML element");
        return;
    }
    if (message_) {
        xml::Element element = std::move(*message_);
        message_.reset();
        dispatch(std::move(element));
    }
}

void WebSocketConnection::dispatch(xml::Element&& element) {
    if (element.ns() == kFramingNs && element.name() == "open") {
        // Stands for the stream header (RFC 7395 §3.4), in the content namespace jabber:client.
        xml::StreamHeader header;
        header.name = "stream";
        header.ns = std::string(xml::kStreamNs);
        header.defaultNs = std::string(stanza::ns::kClient);
        header.attributes = element.attributes();
        opened_ = true;
        events_.onStreamHeader(std::move(header));
        return;
    }
    if (element.ns() == kFramingNs && element.name() == "close") {
        // RFC 7395 §3.6: the client ends the stream; we answer with ours and close.
        events_.onStreamEnd();
        close();
        return;
    }
    if (!opened_) {
        closeWithError(stanza::StreamCondition::BadFormat,
                       "the stream must be opened with <open/> first (RFC 7395 §3.4)");
        return;
    }
    events_.onStanza(std::move(element));
}

void WebSocketConnection::writeCallback(bufferevent*, void* arg) {
    auto* self = static_cast<WebSocketConnection*>(arg);
    if (self->finishing_ && self->outputPending() == 0) {
        self->abort();
    }
}

void WebSocketConnection::eventCallback(bufferevent*, short what, void* arg) {
    auto* self = static_cast<WebSocketConnection*>(arg);
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING)) {
        if (self->closing_) {
            self->abort();
            return;
        }
        self->events_.onIdleTimeout();
        if (!self->closed_) {
            bufferevent_enable(self->bev_, EV_READ);  // the client's close must still be seen
        }
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        self->abort();
    }
}

// --- parser events ---

void WebSocketConnection::onStreamStart(xml::StreamHeader&&) {
    // The implied root, fed by the constructor: the client's stream begins with <open/>.
}

void WebSocketConnection::onElement(xml::Element&& element) {
    if (message_) {
        extraElement_ = true;
        return;
    }
    message_ = std::move(element);
}

void WebSocketConnection::onStreamEnd() {
    // Only a message holding "</stream:stream>" closes the implied root.
    closeWithError(stanza::StreamCondition::NotWellFormed,
                   "close the stream with <close/> (RFC 7395 §3.6)");
}

void WebSocketConnection::onParseError(const xml::ParseError& error) {
    if (closing_) {
        return;
    }
    events_.onParseError(error);
    closeWithError(stream::streamConditionFor(error.kind), error.detail);
}

// --- the endpoint ---

WebSocketEndpoint::WebSocketEndpoint(HttpServer& server, c2s::C2sManager& c2s,
                                     WebSocketSettings settings)
    : server_(server), c2s_(c2s), settings_(std::move(settings)) {}

BodyMode WebSocketEndpoint::onHeaders(const Request& request, RequestId id) {
    auto refuse = [&](int status, std::string_view text, Headers extra = {}) {
        log::debug("websocket {}: refused ({}): {}", request.peerAddress, status, text);
        Response r = refusal(status, text);
        for (auto& h : extra) {
            r.headers.push_back(std::move(h));
        }
        server_.respond(id, std::move(r));
        return BodyMode::Answered;
    };
    if (request.path != "/xmpp-websocket") {
        return refuse(404, "nothing here");
    }
    if (request.method != "GET") {
        return refuse(405, "XMPP over WebSocket starts with a GET", {{"Allow", "GET"}});
    }
    const std::string* upgrade = request.header("upgrade");
    const std::string* connection = request.header("connection");
    if (upgrade == nullptr || !headerHasToken(*upgrade, "websocket") || connection == nullptr ||
        !headerHasToken(*connection, "upgrade")) {
        return refuse(426, "this is an XMPP over WebSocket endpoint (RFC 7395)",
                      {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}});
    }
    if (const std::string* version = request.header("sec-websocket-version");
        version == nullptr || trim(*version) != "13") {
        return refuse(426, "WebSocket version 13 only (RFC 6455)",
                      {{"Sec-WebSocket-Version", "13"}});
    }
    const std::string* key = request.header("sec-websocket-key");
    const auto nonce = key != nullptr ? sasl::decodeBase64(trim(*key)) : std::nullopt;
    if (!nonce || nonce->size() != 16) {
        return refuse(400, "Sec-WebSocket-Key must be 16 bytes in base64 (RFC 6455 §4.1)");
    }
    if (request.contentLength.value_or(0) > 0 || request.header("transfer-encoding") != nullptr) {
        return refuse(400, "a WebSocket handshake has no body");
    }
    if (const std::string* protocols = request.header("sec-websocket-protocol");
        protocols == nullptr || !headerHasToken(*protocols, "xmpp")) {
        return refuse(400, "the xmpp subprotocol is required (RFC 7395 §3.1)");
    }
    // RFC 6455 §10.2: pages of other origins are refused when the administrator lists origins.
    // Clients that are not browsers send no Origin.
    if (const std::string* origin = request.header("origin"); origin != nullptr) {
        const bool allowed =
            std::any_of(settings_.origins.begin(), settings_.origins.end(),
                        [&](const std::string& o) { return o == "*" || o == trim(*origin); });
        if (!allowed) {
            log::info("websocket {}: origin {} not allowed", request.peerAddress, *origin);
            return refuse(403, "this origin may not open an XMPP WebSocket here");
        }
    }

    std::string ip = request.peerAddress;
    WebSocketConnection::Options options;
    const c2s::C2sSettings& c2s = c2s_.settings();
    options.limits = c2s.preAuthLimits;
    options.maxOutputBytes = c2s.maxOutputBytes;
    options.encrypted = request.secure;
    if (settings_.trustLoopbackProxy && isLoopback(request.peerAddress)) {
        options.encrypted = true;
        if (const std::string* forwarded = request.header("x-forwarded-for")) {
            // The proxy appends the address it took the connection from: the last entry.
            std::string_view last = *forwarded;
            if (const auto comma = last.rfind(','); comma != std::string_view::npos) {
                last.remove_prefix(comma + 1);
            }
            last = trim(last);
            if (isIpAddress(last)) {
                ip = std::string(last);
            }
        }
    }

    Response switching;
    switching.status = 101;
    switching.set("Upgrade", "websocket")
        .set("Connection", "Upgrade")
        .set("Sec-WebSocket-Accept", acceptKey(trim(*key)))
        .set("Sec-WebSocket-Protocol", "xmpp");
    const bool adopted =
        c2s_.adopt(ip, [&](stream::XmppStream::Owner& events) -> std::unique_ptr<c2s::Connection> {
            bufferevent* bev = server_.upgrade(id, switching);
            return std::make_unique<WebSocketConnection>(bev, ip, events, std::move(options));
        });
    if (!adopted) {
        return refuse(503, "too many connections from your address", {{"Retry-After", "60"}});
    }
    log::debug("websocket {}: XMPP over WebSocket", ip);
    return BodyMode::Answered;
}

void WebSocketEndpoint::onRequest(Request&&, RequestId id) {
    // Not reached: every request is answered or upgraded at its headers.
    server_.respond(id, refusal(400, "bad request"));
}

}  // namespace corvid::http
