#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "stanza/errors.h"
#include "xml/element.h"
#include "xml/stream_parser.h"

namespace corvid::c2s {

/// What a negotiating ClientStream runs over: an XMPP stream on a TCP/TLS socket
/// (XmppStreamConnection), or XMPP framed in WebSocket messages (RFC 7395, src/http/). The
/// negotiation (TLS, SASL, binding) is written once, against this; each connection turns its
/// input into the events of stream::XmppStream::Owner on the ClientStream and its output into
/// its own framing (a stream header or an <open/>, stanzas, </stream:stream> or <close/>).
class Connection {
  public:
    virtual ~Connection() = default;

    /// Our side of the stream's opening (RFC 6120 §4.7; RFC 7395 §3.4 <open/>).
    virtual void sendStreamHeader(std::string_view from, std::string_view to, std::string_view id,
                                  std::string_view lang) = 0;
    virtual void send(const xml::Element& element) = 0;
    /// A stream error, then the stream's end and the connection's.
    virtual void closeWithError(stanza::StreamCondition condition, std::string_view text) = 0;
    /// The stream's end, then the connection's once the output is out.
    virtual void close() = 0;
    virtual bool closing() const = 0;

    /// Whether what the client sends is protected by TLS (or comes through a trusted proxy that
    /// terminated it): SASL is offered only then, unless auth.allow_plaintext.
    virtual bool encrypted() const = 0;
    /// The TLS connection whose channel-binding data SCRAM-*-PLUS may use, or nullptr.
    virtual SSL* bindingTls() const = 0;
    /// Whether STARTTLS can be offered (RFC 6120 §5): only on a plain XMPP stream.
    virtual bool canStartTls() const = 0;
    /// After <proceed/>: the TLS handshake starts (see XmppStream::startTls); takes `ssl`.
    virtual void startTls(SSL* ssl) = 0;

    /// A new stream follows (after SASL success, RFC 6120 §6.4.6).
    virtual void restartStream() = 0;
    virtual void setLimits(const xml::StreamLimits& limits) = 0;
    virtual void setIdleTimeout(int seconds) = 0;
    /// Frees memory an idle connection does not need (XmppStream::shedIdleMemory).
    virtual bool shedIdleMemory(int quietCallsNeeded) = 0;

    virtual std::size_t outputPending() const = 0;
    virtual std::size_t maxOutputBytes() const = 0;
    virtual const std::string& peerAddress() const = 0;
};

}  // namespace corvid::c2s
