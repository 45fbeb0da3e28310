#include "http/http_connection.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "http/http_server.h"
#include "util/log.h"

namespace corvid::http {

namespace {

/// Input kept while a request is being handled (pipelined bytes wait, unparsed): past this the
/// socket is not read until there is room (bufferevent read watermark).
constexpr std::size_t kInputHighWater = 256 * 1024;
/// A streamed response hears onDrained() when less than this is waiting to go out.
constexpr std::size_t kOutputLowWater = 64 * 1024;

HttpConnection* self(http_parser* p) {
    return static_cast<HttpConnection*>(p->data);
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

}  // namespace

const http_parser_settings& HttpConnection::parserSettings() {
    static const http_parser_settings settings = [] {
        http_parser_settings s;
        http_parser_settings_init(&s);
        s.on_message_begin = &HttpConnection::onMessageBegin;
        s.on_url = &HttpConnection::onUrl;
        s.on_header_field = &HttpConnection::onHeaderField;
        s.on_header_value = &HttpConnection::onHeaderValue;
        s.on_headers_complete = &HttpConnection::onHeadersComplete;
        s.on_body = &HttpConnection::onBodyData;
        s.on_message_complete = &HttpConnection::onMessageComplete;
        return s;
    }();
    return settings;
}

HttpConnection::HttpConnection(HttpServer& server, std::uint64_t id, evutil_socket_t fd,
                               std::string peer, SSL* ssl)
    : server_(server), id_(id), peer_(std::move(peer)), secure_(ssl != nullptr) {
    event_base* base = server_.base();
    const int flags = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
    if (ssl != nullptr) {
        bev_ = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, flags);
        bufferevent_openssl_set_allow_dirty_shutdown(bev_, 1);
    } else {
        bev_ = bufferevent_socket_new(base, fd, flags);
    }
    http_parser_init(&parser_, HTTP_REQUEST);
    parser_.data = this;
    deadline_.reset(evtimer_new(
        base,
        [](evutil_socket_t, short, void* arg) {
            auto* c = static_cast<HttpConnection*>(arg);
            log::info("http {} {}: request headers not complete in time; closing", c->id_,
                      c->peer_);
            c->abort();
        },
        this));
    resume_.reset(event_new(
        base, -1, 0,
        [](evutil_socket_t, short, void* arg) { static_cast<HttpConnection*>(arg)->parseInput(); },
        this));
    closedEvent_.reset(event_new(
        base, -1, 0,
        [](evutil_socket_t, short, void* arg) {
            static_cast<HttpConnection*>(arg)->notifyClosed();
        },
        this));
    bufferevent_setcb(bev_, &HttpConnection::readCallback, &HttpConnection::writeCallback,
                      &HttpConnection::eventCallback, this);
    bufferevent_setwatermark(bev_, EV_READ, 0, kInputHighWater);
    bufferevent_setwatermark(bev_, EV_WRITE, kOutputLowWater, 0);
    setPhase(Phase::Idle);
    bufferevent_enable(bev_, EV_READ | EV_WRITE);
}

HttpConnection::~HttpConnection() {
    if (bev_ != nullptr) {
        bufferevent_free(bev_);
    }
}

void HttpConnection::setPhase(Phase phase) {
    phase_ = phase;
    const timeval idle{server_.settings().idleTimeoutSeconds, 0};
    switch (phase) {
        case Phase::Idle:
        case Phase::Head:
        case Phase::Body:
        case Phase::Streaming:
            // Silence from a client that owes us bytes, or that does not take the response.
            bufferevent_set_timeouts(bev_, &idle, &idle);
            break;
        case Phase::Handling:
            // The client waits for us (a held BOSH request may take minutes): only a client
            // that stops reading the response is timed out.
            bufferevent_set_timeouts(bev_, nullptr, &idle);
            break;
    }
}

bool HttpConnection::awaitsResponse(std::uint64_t sequence) const {
    return !closed_ && sequence == sequence_ && handlerOwed_ &&
           (phase_ == Phase::Body || phase_ == Phase::Handling || phase_ == Phase::Streaming);
}

// --- input ---

void HttpConnection::readCallback(bufferevent*, void* arg) {
    static_cast<HttpConnection*>(arg)->parseInput();
}

void HttpConnection::parseInput() {
    if (inParse_ || closed_ || closing_) {
        return;
    }
    evbuffer* input = bufferevent_get_input(bev_);
    inParse_ = true;
    while (!closed_ && !closing_ && !answered_ && phase_ != Phase::Handling &&
           phase_ != Phase::Streaming && !bodyPaused_) {
        evbuffer_iovec chunk;
        if (evbuffer_peek(input, -1, nullptr, &chunk, 1) < 1 || chunk.iov_len == 0) {
            break;
        }
        const std::size_t used = http_parser_execute(
            &parser_, &parserSettings(), static_cast<const char*>(chunk.iov_base), chunk.iov_len);
        evbuffer_drain(input, used);
        if (upgraded_) {
            break;  // the rest of the input is the new protocol's, on its new owner
        }
        const auto error = static_cast<http_errno>(parser_.http_errno);
        if (error == HPE_PAUSED) {
            http_parser_pause(&parser_, 0);  // the loop's condition decides whether to go on
            continue;
        }
        if (error != HPE_OK) {
            if (!answered_ && !closed_) {
                log::debug("http {} {}: bad request: {}", id_, peer_, http_errno_name(error));
                refuse(400, http_errno_description(error));
            }
            break;
        }
        if (parser_.upgrade != 0 && !answered_) {
            // An Upgrade the route did not take (it would have answered or refused it).
            refuse(400, "upgrade not supported here");
            break;
        }
    }
    inParse_ = false;
}

bool HttpConnection::countHeaderBytes(std::size_t n) {
    headerBytes_ += n;
    if (headerBytes_ > server_.settings().maxHeaderBytes) {
        refuse(431, "request headers too large");
        return false;
    }
    return true;
}

int HttpConnection::onMessageBegin(http_parser* p) {
    HttpConnection* c = self(p);
    c->request_ = Request{};
    c->request_.peerAddress = c->peer_;
    c->request_.secure = c->secure_;
    c->field_.clear();
    c->readingValue_ = false;
    c->headerBytes_ = 0;
    c->handler_ = nullptr;
    c->handlerOwed_ = false;
    c->streamBody_ = false;
    c->bodyPaused_ = false;
    c->hasBody_ = false;
    c->responded_ = false;
    c->setPhase(Phase::Head);
    const timeval deadline{c->server_.settings().headerTimeoutSeconds, 0};
    evtimer_add(c->deadline_.get(), &deadline);
    return 0;
}

int HttpConnection::onUrl(http_parser* p, const char* at, std::size_t length) {
    HttpConnection* c = self(p);
    if (!c->countHeaderBytes(length)) {
        return 1;
    }
    c->request_.path.append(at, length);
    return 0;
}

int HttpConnection::onHeaderField(http_parser* p, const char* at, std::size_t length) {
    HttpConnection* c = self(p);
    if (!c->countHeaderBytes(length)) {
        return 1;
    }
    if (c->readingValue_) {
        c->readingValue_ = false;
        c->field_.clear();
    }
    c->field_.append(at, length);
    return 0;
}

int HttpConnection::onHeaderValue(http_parser* p, const char* at, std::size_t length) {
    HttpConnection* c = self(p);
    if (!c->countHeaderBytes(length + 4)) {  // ": " and CRLF
        return 1;
    }
    if (!c->readingValue_) {
        c->readingValue_ = true;
        c->request_.headers.emplace_back(lower(c->field_), std::string());
    }
    c->request_.headers.back().second.append(at, length);
    return 0;
}

int HttpConnection::onHeadersComplete(http_parser* p) {
    return self(p)->headersComplete();
}

int HttpConnection::headersComplete() {
    evtimer_del(deadline_.get());
    Request& r = request_;
    r.method = http_method_str(static_cast<http_method>(parser_.method));
    headRequest_ = parser_.method == HTTP_HEAD;
    keepAlive_ = http_should_keep_alive(&parser_) != 0;
    if (const auto q = r.path.find('?'); q != std::string::npos) {
        r.query = r.path.substr(q + 1);
        r.path.resize(q);
    }
    if ((parser_.flags & F_CONTENTLENGTH) != 0) {
        r.contentLength = parser_.content_length;
    }
    hasBody_ = (parser_.flags & F_CHUNKED) != 0 || r.contentLength.value_or(0) > 0;
    if (r.path.empty() || r.path.front() != '/') {
        refuse(400, "the request target must be an absolute path");
        return 1;
    }
    handler_ = server_.route(r.path);
    if (handler_ == nullptr) {
        refuse(404, "nothing here");
        return 1;
    }
    setPhase(Phase::Body);
    const BodyMode mode = handler_->onHeaders(r, RequestId{id_, sequence_});
    if (upgraded_) {
        // Not paused: http_parser then stops right after the headers of an Upgrade and says
        // how many bytes they took (a pause here would leave their last byte unread).
        return 0;
    }
    if (closed_ || answered_ || mode == BodyMode::Answered) {
        if (!answered_ && !closed_ && !responded_) {
            refuse(500, "the handler did not answer");
        }
        if (answered_ || closed_) {
            http_parser_pause(&parser_, 1);
        }
        return 0;  // a request without a body, answered: the connection goes on
    }
    handlerOwed_ = mode == BodyMode::Stream;
    streamBody_ = mode == BodyMode::Stream;
    if (!streamBody_ && r.contentLength && *r.contentLength > server_.settings().maxBodyBytes) {
        refuse(413, "request body too large");
        return 1;
    }
    // RFC 9110 §10.1.1: the client waits for this before sending a large body.
    if (const std::string* expect = r.header("expect");
        expect && headerHasToken(*expect, "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        bufferevent_write(bev_, kContinue.data(), kContinue.size());
    }
    return 0;
}

int HttpConnection::onBodyData(http_parser* p, const char* at, std::size_t length) {
    HttpConnection* c = self(p);
    if (c->answered_ || c->closed_) {
        return 1;
    }
    if (c->streamBody_) {
        c->handler_->onBody(RequestId{c->id_, c->sequence_}, std::string_view(at, length));
        if (c->bodyPaused_ || c->answered_ || c->closed_) {
            http_parser_pause(p, 1);
        }
        return 0;
    }
    if (c->request_.body.size() + length > c->server_.settings().maxBodyBytes) {
        c->refuse(413, "request body too large");
        return 1;
    }
    c->request_.body.append(at, length);
    return 0;
}

int HttpConnection::onMessageComplete(http_parser* p) {
    HttpConnection* c = self(p);
    if (c->responded_ && !c->answered_) {
        return 0;  // answered at its headers (it had no body)
    }
    if (c->answered_ || c->closed_ || c->handler_ == nullptr) {
        return 1;
    }
    c->setPhase(Phase::Handling);
    c->handlerOwed_ = true;
    http_parser_pause(p, 1);  // nothing more is parsed until this request is answered
    c->handler_->onRequest(std::move(c->request_), RequestId{c->id_, c->sequence_});
    return 0;
}

bufferevent* HttpConnection::upgrade(std::uint64_t sequence, const Response& response) {
    if (closed_ || closing_ || answered_ || responded_ || sequence != sequence_ ||
        phase_ != Phase::Body) {
        return nullptr;
    }
    std::string head = "HTTP/1.1 " + std::to_string(response.status) + " ";
    head += reasonPhrase(response.status);
    head += "\r\n";
    for (const auto& [name, value] : response.headers) {
        head += name + ": " + value + "\r\n";
    }
    head += "\r\n";
    bufferevent_write(bev_, head.data(), head.size());
    evtimer_del(deadline_.get());
    bufferevent_setcb(bev_, nullptr, nullptr, nullptr, nullptr);
    bufferevent_set_timeouts(bev_, nullptr, nullptr);
    bufferevent_setwatermark(bev_, EV_READ | EV_WRITE, 0, 0);
    // This connection is over as far as HTTP goes; the bytes of the request are drained by
    // parseInput() when the parser returns, what follows them is the new owner's.
    responded_ = true;
    upgraded_ = true;
    closed_ = true;
    closing_ = true;
    handlerOwed_ = false;
    event_active(closedEvent_.get(), 0, 0);
    return std::exchange(bev_, nullptr);
}

void HttpConnection::pauseBody(std::uint64_t sequence) {
    if (sequence == sequence_ && streamBody_) {
        bodyPaused_ = true;
    }
}

void HttpConnection::resumeBody(std::uint64_t sequence) {
    if (sequence == sequence_ && bodyPaused_) {
        bodyPaused_ = false;
        event_active(resume_.get(), 0, 0);
    }
}

// --- output ---

void HttpConnection::writeHead(const Response& response, std::uint64_t contentLength,
                               bool withLength) {
    std::string head = "HTTP/1.1 " + std::to_string(response.status) + " ";
    head += reasonPhrase(response.status);
    head += "\r\n";
    for (const auto& [name, value] : response.headers) {
        head += name;
        head += ": ";
        head += value;
        head += "\r\n";
    }
    if (withLength) {
        head += "Content-Length: " + std::to_string(contentLength) + "\r\n";
    }
    if (!keepAlive_ || answered_ || server_.stopping()) {
        head += "Connection: close\r\n";
    }
    head += "\r\n";
    bufferevent_write(bev_, head.data(), head.size());
}

void HttpConnection::refuse(int status, std::string_view text) {
    if (closed_ || answered_) {
        return;
    }
    evtimer_del(deadline_.get());
    answered_ = true;  // before writeHead: says "Connection: close"
    Response response(status, "text/plain; charset=utf-8", std::string(text) + "\n");
    writeHead(response, response.body.size(), true);
    bufferevent_write(bev_, response.body.data(), response.body.size());
    const bool owed = handlerOwed_;
    handlerOwed_ = false;
    if (owed && handler_ != nullptr) {
        handler_->onAbandoned(RequestId{id_, sequence_});
    }
    close();
}

bool HttpConnection::respond(std::uint64_t sequence, Response&& response) {
    if (closed_ || closing_ || sequence != sequence_ || phase_ == Phase::Streaming ||
        phase_ == Phase::Idle || phase_ == Phase::Head || answered_) {
        return false;
    }
    // Before the whole request was read: its body is not read, the connection closes after.
    const bool early = phase_ != Phase::Handling && hasBody_;
    evtimer_del(deadline_.get());
    if (early) {
        answered_ = true;
    }
    responded_ = true;
    writeHead(response, response.body.size(), true);
    if (!headRequest_) {
        bufferevent_write(bev_, response.body.data(), response.body.size());
    }
    responseDone();
    return true;
}

bool HttpConnection::startResponse(std::uint64_t sequence, Response&& head,
                                   std::uint64_t contentLength) {
    if (closed_ || closing_ || sequence != sequence_ || phase_ != Phase::Handling) {
        return false;
    }
    responded_ = true;
    writeHead(head, contentLength, true);
    if (headRequest_ || contentLength == 0) {
        responseDone();
        return true;
    }
    bodyRemaining_ = contentLength;
    setPhase(Phase::Streaming);
    return true;
}

bool HttpConnection::sendBody(std::uint64_t sequence, std::string_view bytes) {
    if (closed_ || closing_ || sequence != sequence_ || phase_ != Phase::Streaming ||
        bytes.size() > bodyRemaining_) {
        return false;
    }
    bufferevent_write(bev_, bytes.data(), bytes.size());
    bodyRemaining_ -= bytes.size();
    if (bodyRemaining_ == 0) {
        responseDone();
    }
    return true;
}

void HttpConnection::responseDone() {
    handlerOwed_ = false;
    handler_ = nullptr;
    if (answered_ || !keepAlive_ || server_.stopping()) {
        close();
        return;
    }
    ++sequence_;
    setPhase(Phase::Idle);
    if (evbuffer_get_length(bufferevent_get_input(bev_)) > 0) {
        event_active(resume_.get(), 0, 0);  // a pipelined request, parsed from the loop
    }
}

std::size_t HttpConnection::outputPending() const {
    std::size_t n = evbuffer_get_length(bufferevent_get_output(bev_));
    if (bufferevent* under = bufferevent_get_underlying(bev_)) {
        n += evbuffer_get_length(bufferevent_get_output(under));
    }
    return n;
}

void HttpConnection::writeCallback(bufferevent*, void* arg) {
    auto* c = static_cast<HttpConnection*>(arg);
    if (c->closed_) {
        return;
    }
    if (c->closing_) {
        if (c->outputPending() == 0) {
            c->abort();
        }
        return;
    }
    if (c->phase_ == Phase::Streaming && c->handler_ != nullptr) {
        c->handler_->onDrained(RequestId{c->id_, c->sequence_});
    }
}

void HttpConnection::eventCallback(bufferevent*, short what, void* arg) {
    auto* c = static_cast<HttpConnection*>(arg);
    if (what & BEV_EVENT_CONNECTED) {
        return;  // the TLS handshake is done
    }
    if (what & BEV_EVENT_TIMEOUT) {
        log::debug("http {} {}: timed out ({})", c->id_, c->peer_,
                   (what & BEV_EVENT_READING) ? "client silent" : "client not reading");
    }
    c->abort();
}

// --- closing ---

void HttpConnection::close() {
    if (closed_ || closing_) {
        return;
    }
    closing_ = true;
    bufferevent_disable(bev_, EV_READ);
    if (outputPending() == 0) {
        abort();
    }
}

void HttpConnection::closeIfIdle() {
    if (phase_ == Phase::Idle || phase_ == Phase::Head) {
        close();
    }
}

void HttpConnection::abort() {
    if (closed_) {
        return;
    }
    closed_ = true;
    closing_ = true;
    evtimer_del(deadline_.get());
    bufferevent_disable(bev_, EV_READ | EV_WRITE);
    if (const evutil_socket_t fd = bufferevent_getfd(bev_); fd >= 0) {
        ::shutdown(fd, SHUT_RDWR);
    }
    event_active(closedEvent_.get(), 0, 0);
}

void HttpConnection::notifyClosed() {
    const bool owed = handlerOwed_;
    handlerOwed_ = false;
    if (owed && handler_ != nullptr) {
        handler_->onAbandoned(RequestId{id_, sequence_});
    }
    server_.connectionClosed(id_);
}

}  // namespace corvid::http
