#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "s2s/certificate_verifier.h"
#include "stanza/errors.h"
#include "stream/xmpp_stream.h"
#include "util/c_handles.h"
#include "xml/element.h"

namespace corvid::s2s {

class S2sManager;

/// The authoritative server's answer to a dialback verification.
enum class DialbackVerdict { Valid, Invalid, Error };

/// One stream a peer server opened to us (RFC 6120 §4-§6, §13): STARTTLS or direct TLS, then
/// the peer authenticates one or more domains, by SASL EXTERNAL with a certificate valid for the
/// domain (XEP-0178) or by Server Dialback (XEP-0220) under the certificate policy. Only stanzas
/// from an authenticated domain to a domain served here are accepted. <db:verify/> requests from
/// servers checking our own keys are answered on any stream.
class IncomingSession final : private stream::XmppStream::Owner {
  public:
    enum class State {
        AwaitingHeader,  ///< waiting for the peer's stream header
        Negotiating,     ///< features sent: TLS, SASL, dialback, stanzas
        TlsHandshake,    ///< <proceed/> sent, handshake running
        Closed,          ///< the connection is gone
    };

    IncomingSession(S2sManager& manager, std::uint64_t id, evutil_socket_t fd,
                    std::string peerAddress, bool directTls);
    ~IncomingSession();
    IncomingSession(const IncomingSession&) = delete;
    IncomingSession& operator=(const IncomingSession&) = delete;

    std::uint64_t id() const { return id_; }
    State state() const { return state_; }
    const std::string& streamId() const { return streamId_; }
    /// The answer to a verification asked with S2sManager::verifyKey().
    void dialbackAnswered(const std::string& local, const std::string& remote,
                          const std::string& streamId, DialbackVerdict verdict);
    void closeWithError(stanza::StreamCondition condition, std::string_view text = {});

  private:
    // XmppStream::Owner
    void onStreamHeader(xml::StreamHeader&& header) override;
    void onStanza(xml::Element&& element) override;
    void onStreamEnd() override;
    void onParseError(const xml::ParseError& error) override;
    void onTlsReady() override;
    void onIdleTimeout() override;
    void onClosed() override;

    void transitionTo(State next);
    void sendFeatures();
    void handleStartTls();
    void handleAuth(const xml::Element& auth);
    void saslFailure(std::string_view condition, std::string_view text);
    void handleDialbackRequest(const xml::Element& request);
    void handleVerifyRequest(const xml::Element& request);
    void handleStanza(xml::Element&& stanza);
    void authenticated(const std::string& domain, std::string_view how);
    void sendDialback(const xml::Element& element);
    void armAuthTimer(int seconds);
    void onAuthTimer();

    S2sManager& manager_;
    std::uint64_t id_;
    stream::XmppStream stream_;
    State state_ = State::AwaitingHeader;
    std::string streamId_;
    std::string localDomain_;  // the 'to' of the peer's header
    std::string headerFrom_;   // the 'from' of the peer's header, if any
    bool saslDone_ = false;
    bool externalOffered_ = false;
    std::set<std::string, std::less<>> authenticated_;  // peer domains proven on this stream
    // Peer domains being verified on the current stream (streamId_); a restart forgets them.
    std::set<std::string, std::less<>> dialbackPending_;
    util::EventPtr authTimer_;
    bool authTimerExtended_ = false;  // once, for a verification still under way
};

std::string_view toString(IncomingSession::State state);

}  // namespace corvid::s2s
