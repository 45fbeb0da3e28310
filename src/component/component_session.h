#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "stanza/errors.h"
#include "stream/xmpp_stream.h"
#include "util/c_handles.h"
#include "xml/element.h"

namespace corvid::component {

class ComponentManager;

/// One connection from an external component (XEP-0114, jabber:component:accept): the
/// component names its domain in the stream header, we answer with a stream id, and it proves
/// its secret with <handshake/>. Afterwards it exchanges stanzas whose 'from' must be its domain
/// or a JID at it; nothing is offered or negotiated (no TLS, no SASL, no stream restarts).
class ComponentSession final : private stream::XmppStream::Owner {
  public:
    enum class State {
        AwaitingHeader,     ///< waiting for the component's stream header
        AwaitingHandshake,  ///< header answered with a stream id
        Established,        ///< handshake done: the component serves its domain
        Closed,             ///< the connection is gone
    };

    ComponentSession(ComponentManager& manager, std::uint64_t id, evutil_socket_t fd,
                     std::string peerAddress);
    ~ComponentSession();
    ComponentSession(const ComponentSession&) = delete;
    ComponentSession& operator=(const ComponentSession&) = delete;

    std::uint64_t id() const { return id_; }
    State state() const { return state_; }
    /// The domain named in the stream header (once it has been checked).
    const std::string& domain() const { return domain_; }
    const std::string& peerAddress() const { return stream_.peerAddress(); }
    /// Established and not closing: stanzas sent now reach the component.
    bool open() const { return state_ == State::Established && !stream_.closing(); }

    /// A stanza for the component's domain (it is in jabber:client; written in the stream's
    /// namespace).
    void send(const xml::Element& stanza) { stream_.send(stanza); }
    void closeWithError(stanza::StreamCondition condition, std::string_view text);

  private:
    // XmppStream::Owner
    void onStreamHeader(xml::StreamHeader&& header) override;
    void onStanza(xml::Element&& element) override;
    void onStreamEnd() override;
    void onParseError(const xml::ParseError& error) override;
    void onTlsReady() override {}
    void onIdleTimeout() override;
    void onClosed() override;

    void transitionTo(State next);
    void handleHandshake(const xml::Element& handshake);
    void handleStanza(xml::Element&& stanza);
    void armTimer(int seconds);
    void onTimer();

    ComponentManager& manager_;
    std::uint64_t id_;
    stream::XmppStream stream_;
    State state_ = State::AwaitingHeader;
    std::string streamId_;
    std::string domain_;
    std::chrono::steady_clock::time_point connectedAt_ = std::chrono::steady_clock::now();
    util::EventPtr timer_;  // the stream header, then the handshake, deadline
};

std::string_view toString(ComponentSession::State state);

}  // namespace corvid::component
