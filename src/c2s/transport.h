#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "stanza/errors.h"
#include "xml/element.h"

namespace corvid::c2s {

/// How a bound client session reaches its client: the XMPP stream over TCP/TLS it was negotiated
/// on (ClientStream) today, a WebSocket (RFC 7395) or a BOSH session (XEP-0206) later. One
/// transport carries at most one session at a time; the session may leave it (stream management
/// detaches it, a resumption attaches it to another transport) while the transport lives on.
///
/// The transport feeds what the client sends to ClientSession::fromClient() and tells the
/// session when it is gone (ClientSession::transportGone()).
class Transport {
  public:
    /// Serialises a stanza or nonza to the client.
    virtual void send(const xml::Element& element) = 0;
    /// Sends a stream error (RFC 6120 §4.9) and closes; the session hears transportGone() later,
    /// from the event loop.
    virtual void closeWithError(stanza::StreamCondition condition, std::string_view text) = 0;
    /// Output written but not taken by the client yet (flow control).
    virtual std::size_t outputPending() const = 0;
    /// Past this much pending output the client is disconnected (limits.output_buffer_bytes).
    virtual std::size_t outputLimit() const = 0;
    /// The client's address, for logs and limits.
    virtual const std::string& peerAddress() const = 0;
    /// The session no longer uses this transport (it was detached, moved to another one, or
    /// ended): nothing more is fed to it.
    virtual void sessionLeft() = 0;

  protected:
    ~Transport() = default;
};

}  // namespace corvid::c2s
