#pragma once

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "stanza/errors.h"
#include "util/c_handles.h"
#include "xml/element.h"
#include "xml/stream_parser.h"

namespace corvid::stream {

/// One XMPP connection: a socket (optionally TLS), one incremental parser and the output side.
/// It knows streams, not sessions: everything it parses goes to its Owner.
///
/// Lifetime: the Owner owns the XmppStream. Owner callbacks may call any method here, but must
/// never destroy the stream from inside one; onClosed() arrives from the event loop (never from
/// inside send() or a parse), after which the Owner should schedule its own deletion.
class XmppStream final : private xml::StreamHandler {
  public:
    class Owner {
      public:
        virtual void onStreamHeader(xml::StreamHeader&& header) = 0;
        virtual void onStanza(xml::Element&& element) = 0;
        /// The peer closed its stream (`</stream:stream>`).
        virtual void onStreamEnd() = 0;
        /// A parse error; the stream has already sent the matching stream error.
        virtual void onParseError(const xml::ParseError& error) = 0;
        /// The TLS handshake completed (STARTTLS or direct TLS).
        virtual void onTlsReady() = 0;
        /// No data read for the idle timeout.
        virtual void onIdleTimeout() = 0;
        /// The connection is gone; no more callbacks follow.
        virtual void onClosed() = 0;
        /// Outgoing streams only: the connection is up and the stream header may be sent (with
        /// direct TLS, after the handshake and onTlsReady()).
        virtual void onConnected() {}

      protected:
        ~Owner() = default;
    };

    struct Options {
        xml::StreamLimits limits;
        std::size_t maxOutputBytes = 1024 * 1024;
        /// Content namespace of this stream (jabber:client, jabber:server ...): stanzas in it
        /// are written without xmlns.
        std::string contentNs;
        /// Seconds without input before onIdleTimeout(); 0 = never.
        int idleTimeoutSeconds = 0;
    };

    /// Takes ownership of `fd`. With `directTls` (owned from now on), the connection starts with
    /// a TLS handshake as the server side (XEP-0368).
    XmppStream(event_base* base, evutil_socket_t fd, std::string peerAddress, Owner& owner,
               Options options, SSL* directTls);
    /// Outgoing (s2s): connects to `address` without blocking. With `directTls` (owned from now
    /// on: a client-side SSL, SNI and verification set up by the caller), TLS starts as the
    /// client side as soon as TCP is up (XEP-0368). onConnected() follows when the stream may
    /// begin; a failure ends in onClosed() with connected() false and errorText() set.
    XmppStream(event_base* base, const sockaddr* address, socklen_t addressLength,
               std::string peerAddress, Owner& owner, Options options, SSL* directTls);
    ~XmppStream() override;
    XmppStream(const XmppStream&) = delete;
    XmppStream& operator=(const XmppStream&) = delete;

    // --- output ---
    /// Writes raw markup (the stream header). Everything else goes through send().
    void sendRaw(std::string_view bytes);
    /// Serialises `element` into the output buffer. If the peer does not read and the buffer
    /// grows over Options::maxOutputBytes, the connection is dropped.
    void send(const xml::Element& element);

    // --- negotiation ---
    /// After `<proceed/>` has been queued (or, outgoing, received): every byte already received
    /// in plaintext is discarded (RFC 6120 §5.4.3.3, STARTTLS command injection) and TLS starts,
    /// as the server side on accepted connections and as the client side on outgoing ones.
    /// Called from inside onStanza() it takes effect when the current read has been parsed.
    void startTls(SSL* ssl);
    /// A new stream follows (after SASL success): fresh parser, buffered input discarded.
    void restartStream();
    void setLimits(const xml::StreamLimits& limits) { parser_.setLimits(limits); }
    /// Called periodically by the server: once nothing was read during `quietCallsNeeded`
    /// whole periods, the parser's memory is released until bytes come again (most
    /// connections are idle most of the time; busy ones keep their parser, no churn).
    /// True if memory was released by this call.
    bool shedIdleMemory(int quietCallsNeeded);
    void setIdleTimeout(int seconds);

    // --- closing ---
    /// Sends `<stream:error>` with the condition, closes the stream and the connection.
    void closeWithError(stanza::StreamCondition condition, std::string_view text = {});
    /// Closes our stream (`</stream:stream>`) and the connection once the output is flushed.
    void close();
    /// Drops the connection at once.
    void abort();

    // --- state ---
    bool encrypted() const { return ssl_ != nullptr && tlsReady_; }
    SSL* ssl() const { return ssl_; }
    bool closing() const { return closing_; }
    bool headerSent() const { return headerSent_; }
    void markHeaderSent() { headerSent_ = true; }
    const std::string& peerAddress() const { return peerAddress_; }
    std::size_t outputPending() const;
    std::size_t maxOutputBytes() const { return options_.maxOutputBytes; }
    /// True for streams we opened (s2s outgoing).
    bool outgoing() const { return outgoing_; }
    /// Outgoing: the TCP connection was established.
    bool connected() const { return connected_; }
    /// The peer's certificate (TLS only), or nullptr. Not verified: see s2s::CertificateVerifier.
    X509* peerCertificate() const;
    /// Why the connection failed or ended (socket or TLS error), "" if it closed normally.
    const std::string& errorText() const { return errorText_; }

  private:
    // xml::StreamHandler
    void onStreamStart(xml::StreamHeader&& header) override;
    void onElement(xml::Element&& element) override;
    void onStreamEnd() override;
    void onParseError(const xml::ParseError& error) override;

    static void readCallback(bufferevent* bev, void* arg);
    static void writeCallback(bufferevent* bev, void* arg);
    static void eventCallback(bufferevent* bev, short what, void* arg);
    static void deferredCallback(evutil_socket_t, short, void* arg);

    void onReadable();
    void beginTls(SSL* ssl);
    void installCallbacks();
    void finishClose();
    void scheduleClosed();
    void applyTimeouts();

    event_base* base_;
    Owner& owner_;
    Options options_;
    std::string peerAddress_;
    xml::StreamParser parser_;
    bufferevent* bev_ = nullptr;  // owned; with TLS it is the SSL bufferevent
    SSL* ssl_ = nullptr;          // owned by bev_
    util::EventPtr deferred_;     // runs the work that must not happen inside callbacks
    util::EventPtr closeTimer_;
    SSL* pendingTls_ = nullptr;  // startTls() asked for inside a read
    bool inRead_ = false;
    bool readSinceShed_ = true;      // input arrived since the last shedIdleMemory()
    int quietCalls_ = 0;             // shedIdleMemory() calls in a row with no input in between
    bool restartRequested_ = false;  // restartStream() inside a read
    bool tlsReady_ = false;
    bool headerSent_ = false;
    bool closing_ = false;     // our side closed; flushing
    bool peerClosed_ = false;  // the peer closed its stream
    bool closed_ = false;      // connection gone
    bool closedNotified_ = false;
    bool outgoing_ = false;
    bool outgoingDirectTls_ = false;
    bool connected_ = false;           // outgoing: TCP is up
    SSL* directTlsPending_ = nullptr;  // outgoing direct TLS: starts once TCP is up
    std::string errorText_;
    int idleTimeoutSeconds_ = 0;
};

/// The opening tag of a stream we answer with (RFC 6120 §4.7).
std::string makeStreamHeader(std::string_view contentNs, std::string_view from, std::string_view to,
                             std::string_view id, std::string_view lang,
                             bool includeVersion = true);

/// The stream error condition for a parse error (RFC 6120 §4.9.3).
stanza::StreamCondition streamConditionFor(xml::ParseErrorKind kind);

}  // namespace corvid::stream
