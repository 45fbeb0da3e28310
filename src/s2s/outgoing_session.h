#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/dns_resolver.h"
#include "s2s/certificate_verifier.h"
#include "stanza/errors.h"
#include "stream/xmpp_stream.h"
#include "util/c_handles.h"
#include "xml/element.h"

namespace corvid::s2s {

class S2sManager;

/// One outgoing route (local domain -> remote domain), RFC 6120 §3.2 and §13: finds the peer
/// (static route, else SRV _xmpps-server/_xmpp-server, else A/AAAA on 5269), connects to each
/// candidate in turn, secures the stream (STARTTLS or direct TLS; the peer's certificate is
/// checked for the remote domain), authenticates with SASL EXTERNAL when offered, else with
/// Server Dialback, then carries stanzas. Stanzas wait in a bounded queue meanwhile; if the route
/// cannot be set up they are bounced.
class OutgoingSession final : private stream::XmppStream::Owner {
  public:
    enum class State {
        Resolving,       ///< DNS: SRV, then addresses
        Connecting,      ///< TCP (and direct TLS) to one candidate
        Opening,         ///< our header sent; waiting for the peer's header and features
        StartTls,        ///< <starttls/> sent, waiting for <proceed/>
        TlsHandshake,    ///< STARTTLS handshake running
        Authenticating,  ///< SASL EXTERNAL exchange
        Dialback,        ///< <db:result/> sent, waiting for the verdict
        Established,     ///< stanzas flow
        Closed,          ///< failed or closed; the manager reaps it
    };

    OutgoingSession(S2sManager& manager, std::uint64_t id, std::string local, std::string remote);
    ~OutgoingSession();
    OutgoingSession(const OutgoingSession&) = delete;
    OutgoingSession& operator=(const OutgoingSession&) = delete;

    /// Starts the lookup; the connect timer runs from now.
    void start();
    /// Writes the stanza, or queues it while the route is set up. False when the queue is full
    /// (the caller bounces the stanza).
    bool send(xml::Element&& stanza);
    /// Queues a <db:verify/> for the incoming stream `incoming` (XEP-0220 §2.3.1).
    void requestVerify(std::uint64_t incoming, std::string streamId, std::string key);
    /// Closes the stream (shutdown, idle).
    void close(stanza::StreamCondition condition, std::string_view text);

    std::uint64_t id() const { return id_; }
    State state() const { return state_; }
    const std::string& local() const { return local_; }
    const std::string& remote() const { return remote_; }
    std::size_t queued() const { return queue_.size(); }

  private:
    struct Candidate {
        std::string host;
        std::uint16_t port = 5269;
        bool directTls = false;
        bool staticRoute = false;  ///< named by s2s.routes: may be at a non-public address
    };
    struct Verify {
        std::uint64_t incoming;
        std::string streamId;
        std::string key;
    };

    // XmppStream::Owner
    void onStreamHeader(xml::StreamHeader&& header) override;
    void onStanza(xml::Element&& element) override;
    void onStreamEnd() override;
    void onParseError(const xml::ParseError& error) override;
    void onTlsReady() override;
    void onIdleTimeout() override;
    void onClosed() override;
    void onConnected() override;

    void transitionTo(State next);
    void onSrvAnswer(bool directTls, std::expected<std::vector<net::SrvRecord>, net::DnsError>);
    void useCandidates(std::vector<Candidate> candidates);
    void nextCandidate();
    /// The addresses of candidate number `candidate` (counted from 1, as nextCandidate_ after
    /// it was taken).
    void onAddresses(std::size_t candidate,
                     std::expected<std::vector<net::SocketAddress>, net::DnsError> result);
    void connectNext();
    /// This candidate did not work: drop its connection and try the next.
    void attemptFailed(std::string why);
    /// The route failed: bounce the queue (with `text`, or a text made from `condition`), fail
    /// the verifications, close. `why` is for the log.
    void fail(stanza::StanzaCondition condition, std::string why, std::string text = {});
    /// Drops the non-public addresses of a candidate found through DNS, unless
    /// s2s.allow_private_addresses says otherwise.
    void dropNonPublicAddresses();
    void handleFeatures(const xml::Element& features);
    void authenticate();
    void startDialback();
    void handleDialbackResult(const xml::Element& result);
    void handleVerifyAnswer(const xml::Element& answer);
    void becomeEstablished();
    void sendVerifies();
    /// Answers every verification not answered yet with an error (the route is gone).
    void failVerifies();
    void sendDialback(const xml::Element& element);
    void touch();
    void armIdleTimer(int seconds);
    void onIdleTimer();
    void onConnectTimeout();

    S2sManager& manager_;
    std::uint64_t id_;
    std::string local_;
    std::string remote_;
    State state_ = State::Resolving;
    std::unique_ptr<stream::XmppStream> stream_;
    std::deque<xml::Element> queue_;

    // Lookup: both SRV answers first, then candidates one by one, each with its addresses.
    int srvPending_ = 0;
    std::optional<std::vector<net::SrvRecord>> srvStartTls_;
    std::optional<std::vector<net::SrvRecord>> srvDirectTls_;
    std::vector<Candidate> candidates_;
    std::size_t nextCandidate_ = 0;
    Candidate current_;
    std::vector<net::SocketAddress> addresses_;
    std::size_t nextAddress_ = 0;
    std::string lastError_;
    bool connectAttempted_ = false;  // some candidate had an address we may connect to
    bool nonPublicRefused_ = false;  // some candidate had only addresses we may not connect to

    // Negotiation on the current connection.
    std::string streamId_;  // the id the peer gave our stream (dialback keys use it)
    CertCheck peerCert_;
    bool saslDone_ = false;
    bool saslFailed_ = false;
    bool dialbackOffered_ = false;

    std::vector<Verify> verifiesToSend_;
    std::map<std::string, Verify> verifiesSent_;  // by stream id

    util::EventPtr connectTimer_;
    util::EventPtr idleTimer_;
    std::chrono::steady_clock::time_point lastActivity_;
};

std::string_view toString(OutgoingSession::State state);

}  // namespace corvid::s2s
