#include "stream/xmpp_stream.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include <utility>

#include "stanza/ns.h"
#include "xml/serializer.h"

namespace corvid::stream {

namespace {

// How long we wait for the peer's `</stream:stream>` after sending ours (RFC 6120 §4.4).
constexpr int kCloseWaitSeconds = 3;

bool isContentNs(std::string_view ns) {
    return ns == stanza::ns::kClient || ns == stanza::ns::kServer ||
           ns == stanza::ns::kComponentAccept;
}

}  // namespace

XmppStream::XmppStream(event_base* base, evutil_socket_t fd, std::string peerAddress, Owner& owner,
                       Options options, SSL* directTls)
    : base_(base),
      owner_(owner),
      options_(std::move(options)),
      peerAddress_(std::move(peerAddress)),
      parser_(*this, options_.limits),
      idleTimeoutSeconds_(options_.idleTimeoutSeconds) {
    const int flags = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
    if (directTls != nullptr) {
        ssl_ = directTls;
        bev_ = bufferevent_openssl_socket_new(base, fd, ssl_, BUFFEREVENT_SSL_ACCEPTING, flags);
        bufferevent_openssl_set_allow_dirty_shutdown(bev_, 1);
    } else {
        bev_ = bufferevent_socket_new(base, fd, flags);
    }
    deferred_.reset(event_new(base, -1, 0, &XmppStream::deferredCallback, this));
    installCallbacks();
    applyTimeouts();
    bufferevent_enable(bev_, EV_READ | EV_WRITE);
}

XmppStream::XmppStream(event_base* base, const sockaddr* address, socklen_t addressLength,
                       std::string peerAddress, Owner& owner, Options options, SSL* directTls)
    : base_(base),
      owner_(owner),
      options_(std::move(options)),
      peerAddress_(std::move(peerAddress)),
      parser_(*this, options_.limits),
      outgoing_(true),
      outgoingDirectTls_(directTls != nullptr),
      directTlsPending_(directTls),
      idleTimeoutSeconds_(options_.idleTimeoutSeconds) {
    bev_ = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    deferred_.reset(event_new(base, -1, 0, &XmppStream::deferredCallback, this));
    installCallbacks();
    applyTimeouts();
    bufferevent_enable(bev_, EV_READ | EV_WRITE);
    // A failure here (or an immediate refusal) is reported from the loop, like any other.
    if (bufferevent_socket_connect(bev_, address, static_cast<int>(addressLength)) != 0) {
        errorText_ = evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR());
        abort();
    }
}

XmppStream::~XmppStream() {
    if (bev_ != nullptr) {
        bufferevent_free(bev_);
    }
    if (directTlsPending_ != nullptr) {
        SSL_free(directTlsPending_);
    }
    if (pendingTls_ != nullptr) {
        SSL_free(pendingTls_);
    }
}

X509* XmppStream::peerCertificate() const {
    return ssl_ != nullptr && tlsReady_ ? SSL_get0_peer_certificate(ssl_) : nullptr;
}

void XmppStream::installCallbacks() {
    bufferevent_setcb(bev_, &XmppStream::readCallback, &XmppStream::writeCallback,
                      &XmppStream::eventCallback, this);
}

void XmppStream::applyTimeouts() {
    if (idleTimeoutSeconds_ > 0) {
        timeval tv{idleTimeoutSeconds_, 0};
        bufferevent_set_timeouts(bev_, &tv, nullptr);
    } else {
        bufferevent_set_timeouts(bev_, nullptr, nullptr);
    }
}

void XmppStream::setIdleTimeout(int seconds) {
    idleTimeoutSeconds_ = seconds;
    if (!closed_) {
        applyTimeouts();
    }
}

std::size_t XmppStream::outputPending() const {
    if (bev_ == nullptr) {
        return 0;
    }
    std::size_t n = evbuffer_get_length(bufferevent_get_output(bev_));
    if (bufferevent* under = bufferevent_get_underlying(bev_)) {
        n += evbuffer_get_length(bufferevent_get_output(under));
    }
    return n;
}

void XmppStream::sendRaw(std::string_view bytes) {
    if (closed_ || closing_) {
        return;
    }
    bufferevent_write(bev_, bytes.data(), bytes.size());
}

void XmppStream::send(const xml::Element& element) {
    if (closed_ || closing_) {
        return;
    }
    // One reusable buffer per thread: serialising never allocates once it has grown.
    thread_local std::string buffer;
    buffer.clear();
    // A stanza keeps the namespace of the stream it came from (jabber:client for c2s); on this
    // stream it is written in this stream's content namespace.
    xml::SerializeScope scope{options_.contentNs, true};
    if (isContentNs(element.ns())) {
        scope.defaultNs = element.ns();
    }
    xml::serialize(element, buffer, scope);
    bufferevent_write(bev_, buffer.data(), buffer.size());
    if (outputPending() > options_.maxOutputBytes) {
        // The peer is not reading: drop it rather than let its buffer grow without bound.
        abort();
    }
}

void XmppStream::startTls(SSL* ssl) {
    if (closed_) {
        SSL_free(ssl);
        return;
    }
    pendingTls_ = ssl;
    parser_.restart();
    if (!inRead_) {
        bufferevent_trigger(bev_, EV_READ, 0);  // run the switch from the read path
    }
}

void XmppStream::restartStream() {
    parser_.restart();
    restartRequested_ = inRead_;
}

void XmppStream::closeWithError(stanza::StreamCondition condition, std::string_view text) {
    if (closed_ || closing_) {
        return;
    }
    if (!headerSent_) {
        // RFC 6120 §4.9.1.2: an error before our header still needs a header.
        sendRaw(makeStreamHeader(options_.contentNs, {}, {}, {}, {}));
        headerSent_ = true;
    }
    send(stanza::makeStreamError(condition, text));
    close();
}

void XmppStream::close() {
    if (closed_ || closing_) {
        return;
    }
    if (headerSent_) {
        sendRaw("</stream:stream>");
    }
    closing_ = true;
    // The parser keeps running: the peer's </stream:stream> ends the wait at once (RFC 6120
    // §4.4); stanzas that still come are not handed on (onElement).
    if (peerClosed_ || !headerSent_) {
        // Nothing more to wait for once the output is flushed.
        if (outputPending() == 0) {
            finishClose();
        }
        return;
    }
    closeTimer_.reset(evtimer_new(
        base_, [](evutil_socket_t, short, void* arg) { static_cast<XmppStream*>(arg)->abort(); },
        this));
    timeval tv{kCloseWaitSeconds, 0};
    evtimer_add(closeTimer_.get(), &tv);
}

void XmppStream::abort() {
    if (closed_) {
        return;
    }
    closed_ = true;
    closing_ = true;
    parser_.stop();
    bufferevent_disable(bev_, EV_READ | EV_WRITE);
    // The socket itself is closed when the owner deletes us (never inside our own callback).
    evutil_socket_t fd = bufferevent_getfd(bev_);
    if (fd >= 0) {
        ::shutdown(fd, SHUT_RDWR);
    }
    scheduleClosed();
}

void XmppStream::finishClose() {
    abort();
}

void XmppStream::scheduleClosed() {
    if (!closedNotified_) {
        closedNotified_ = true;
        event_active(deferred_.get(), 0, 0);
    }
}

void XmppStream::deferredCallback(evutil_socket_t, short, void* arg) {
    static_cast<XmppStream*>(arg)->owner_.onClosed();
}

// --- input ---

void XmppStream::readCallback(bufferevent*, void* arg) {
    static_cast<XmppStream*>(arg)->onReadable();
}

bool XmppStream::shedIdleMemory(int quietCallsNeeded) {
    quietCalls_ = readSinceShed_ ? 0 : quietCalls_ + 1;
    readSinceShed_ = false;
    return quietCalls_ >= quietCallsNeeded && !closed_ && parser_.releaseIdle();
}

void XmppStream::onReadable() {
    readSinceShed_ = true;
    evbuffer* input = bufferevent_get_input(bev_);
    inRead_ = true;
    while (!closed_ && pendingTls_ == nullptr) {
        evbuffer_iovec chunk;
        if (evbuffer_peek(input, -1, nullptr, &chunk, 1) < 1 || chunk.iov_len == 0) {
            break;
        }
        const bool ok =
            parser_.feed(std::string_view(static_cast<const char*>(chunk.iov_base), chunk.iov_len));
        evbuffer_drain(input, chunk.iov_len);
        if (!ok) {
            break;
        }
        if (restartRequested_) {
            // The stream restarts (SASL success): whatever else was already buffered predates
            // the new stream the peer must now open, so it is never parsed (RFC 6120 §6.4.6).
            restartRequested_ = false;
            evbuffer_drain(input, evbuffer_get_length(input));
            break;
        }
    }
    inRead_ = false;
    if (closing_) {
        evbuffer_drain(input, evbuffer_get_length(input));
        return;
    }
    if (pendingTls_ != nullptr) {
        // RFC 6120 §5.4.3.3: nothing received before the TLS handshake is used afterwards.
        evbuffer_drain(input, evbuffer_get_length(input));
        beginTls(std::exchange(pendingTls_, nullptr));
    }
}

void XmppStream::beginTls(SSL* ssl) {
    const auto state = outgoing_ ? BUFFEREVENT_SSL_CONNECTING : BUFFEREVENT_SSL_ACCEPTING;
    bufferevent* tls = bufferevent_openssl_filter_new(
        base_, bev_, ssl, state, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (tls == nullptr) {
        SSL_free(ssl);
        errorText_ = "cannot start TLS";
        abort();
        return;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
    bev_ = tls;
    ssl_ = ssl;
    installCallbacks();
    applyTimeouts();
    bufferevent_enable(bev_, EV_READ | EV_WRITE);
}

void XmppStream::writeCallback(bufferevent*, void* arg) {
    auto* self = static_cast<XmppStream*>(arg);
    if (self->closing_ && !self->closed_ && (self->peerClosed_ || !self->headerSent_) &&
        self->outputPending() == 0) {
        self->finishClose();
    }
}

void XmppStream::eventCallback(bufferevent*, short what, void* arg) {
    auto* self = static_cast<XmppStream*>(arg);
    if (what & BEV_EVENT_CONNECTED) {
        if (self->closed_) {
            return;
        }
        if (self->outgoing_ && !self->connected_) {
            // The TCP connection of an outgoing stream is up.
            self->connected_ = true;
            if (self->directTlsPending_ != nullptr) {
                self->beginTls(std::exchange(self->directTlsPending_, nullptr));
            } else {
                self->owner_.onConnected();
            }
            return;
        }
        if (self->ssl_ != nullptr && !self->tlsReady_) {
            self->tlsReady_ = true;
            self->owner_.onTlsReady();
            if (self->outgoingDirectTls_ && !self->closing_) {
                self->owner_.onConnected();  // direct TLS: the stream begins now
            }
        }
        return;
    }
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING)) {
        if (!self->closing_) {
            self->owner_.onIdleTimeout();
            if (!self->closed_) {
                // A read timeout disables reading; the peer's answer to our close must be seen.
                bufferevent_enable(self->bev_, EV_READ);
            }
        } else {
            self->abort();
        }
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if ((what & BEV_EVENT_ERROR) && self->errorText_.empty()) {
            if (const unsigned long tlsError = bufferevent_get_openssl_error(self->bev_)) {
                char buf[256];
                ERR_error_string_n(tlsError, buf, sizeof(buf));
                self->errorText_ = buf;
            } else if (const int err = EVUTIL_SOCKET_ERROR()) {
                self->errorText_ = evutil_socket_error_to_string(err);
            }
        }
        self->peerClosed_ = true;
        self->abort();
    }
}

// --- parser events ---

void XmppStream::onStreamStart(xml::StreamHeader&& header) {
    if (!closing_) {
        owner_.onStreamHeader(std::move(header));
    }
}

void XmppStream::onElement(xml::Element&& element) {
    if (!closing_) {
        owner_.onStanza(std::move(element));
    }
}

void XmppStream::onStreamEnd() {
    peerClosed_ = true;
    owner_.onStreamEnd();
    if (!closing_) {
        close();
    } else if (outputPending() == 0) {
        finishClose();
    }
}

void XmppStream::onParseError(const xml::ParseError& error) {
    if (closing_) {
        abort();  // our close is under way: nothing more to say
        return;
    }
    owner_.onParseError(error);
    closeWithError(streamConditionFor(error.kind), error.detail);
}

// --- helpers ---

std::string makeStreamHeader(std::string_view contentNs, std::string_view from, std::string_view to,
                             std::string_view id, std::string_view lang, bool includeVersion) {
    std::string out = "<?xml version='1.0'?><stream:stream xmlns='";
    xml::escapeAttr(contentNs, out);
    out += "' xmlns:stream='http://etherx.jabber.org/streams'";
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
    if (includeVersion) {
        out += " version='1.0'";
    }
    out += '>';
    return out;
}

stanza::StreamCondition streamConditionFor(xml::ParseErrorKind kind) {
    using K = xml::ParseErrorKind;
    using C = stanza::StreamCondition;
    switch (kind) {
        case K::NotWellFormed:
            return C::NotWellFormed;
        case K::RestrictedXml:
            return C::RestrictedXml;
        case K::UnsupportedEncoding:
            return C::UnsupportedEncoding;
        case K::InvalidNamespace:
            return C::InvalidNamespace;
        case K::StanzaTooLarge:
        case K::TooDeep:
        case K::TooManyAttributes:
            return C::PolicyViolation;
    }
    return C::NotWellFormed;
}

}  // namespace corvid::stream
