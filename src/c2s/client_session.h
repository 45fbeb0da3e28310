#pragma once

#include <event2/event.h>

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "router/router.h"
#include "sasl/mechanism.h"
#include "stream/xmpp_stream.h"
#include "util/c_handles.h"
#include "util/worker_pool.h"

namespace corvid::net {
class TlsContexts;
}

namespace corvid::c2s {

class AuthThrottle;
class ClientSession;

enum class ConflictPolicy { Replace, Reject, Rename };

/// The c2s settings taken from the config.
struct C2sSettings {
    xml::StreamLimits preAuthLimits{16 * 1024, 16, 32};
    xml::StreamLimits limits;
    std::size_t maxOutputBytes = 1024 * 1024;
    int streamHeaderTimeoutSeconds = 10;
    int authTimeoutSeconds = 30;
    int idleTimeoutSeconds = 900;
    bool allowPlaintext = false;
    std::vector<std::string> mechanisms;
    int scramIterations = 4096;
    std::string fakeSaltSecret;
    ConflictPolicy conflictPolicy = ConflictPolicy::Replace;
};

enum class LookupError { Unavailable };
using CredentialsResult = std::expected<std::optional<sasl::Credentials>, LookupError>;

/// What a client session needs from the server around it.
class C2sServer {
  public:
    virtual event_base* base() = 0;
    virtual router::Router& router() = 0;
    virtual const net::TlsContexts& tls() = 0;
    virtual const C2sSettings& c2sSettings() = 0;
    virtual AuthThrottle& authThrottle() = 0;
    /// Threads for CPU-heavy work (PBKDF2 for PLAIN).
    virtual util::WorkerPool& workers() = 0;
    /// Looks up the stored keys of `username@domain` (normalised); the callback runs later from
    /// the loop.
    virtual void lookupCredentials(const std::string& username, const std::string& domain,
                                   std::function<void(CredentialsResult)> done) = 0;
    /// Extra stream features after authentication (stream management, CSI, roster versioning).
    virtual std::vector<xml::Element> postAuthFeatures() = 0;
    /// Handles a top-level element that is not a stanza (XEP-0198 <r/>, XEP-0352 <active/>...),
    /// returning false if nobody knows it.
    virtual bool handleNonza(router::LocalSession& session, const xml::Element& element) = 0;
    /// Sessions are destroyed by the server from the loop, never inside their own callbacks.
    virtual void sessionFinished(router::SessionId id) = 0;
    /// The session with this id, or nullptr once it is gone (for asynchronous callbacks).
    virtual ClientSession* findSession(router::SessionId id) = 0;

  protected:
    ~C2sServer() = default;
};

/// One client connection (RFC 6120 §4-§7): stream negotiation (STARTTLS, SASL, resource
/// binding), then stanzas between the client and the router.
class ClientSession final : public router::LocalSession, private stream::XmppStream::Owner {
  public:
    enum class State {
        Connected,       ///< waiting for the stream header
        Negotiating,     ///< features sent, before authentication
        TlsHandshake,    ///< <proceed/> sent, TLS handshake running
        Authenticating,  ///< SASL exchange in progress
        AwaitingBind,    ///< authenticated, waiting for resource binding
        Established,     ///< bound: stanzas flow
        Closed,          ///< the connection is gone
    };

    ClientSession(C2sServer& server, router::SessionId id, evutil_socket_t fd,
                  std::string peerAddress, bool directTls);
    ~ClientSession();

    // router::LocalSession
    router::SessionId id() const override { return id_; }
    const stanza::Jid& jid() const override { return *jid_; }
    void deliver(const xml::Element& stanza) override;
    std::size_t outputPending() const override { return stream_.outputPending(); }
    std::size_t outputLimit() const override { return stream_.maxOutputBytes(); }
    void terminate(stanza::StreamCondition condition, std::string_view text) override;

    State state() const { return state_; }
    const std::string& peerAddress() const { return stream_.peerAddress(); }
    bool bound() const { return state_ == State::Established && jid_.has_value(); }
    /// Frees per-connection memory that an idle stream does not need (see XmppStream).
    bool shedIdleMemory(int quietCallsNeeded) { return stream_.shedIdleMemory(quietCallsNeeded); }
    /// Sends a stream error and closes.
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
    void handleNegotiation(xml::Element&& element);
    void handleStartTls();
    void handleAuth(const xml::Element& auth);
    void handleSaslResponse(const xml::Element& response);
    void handleSaslStep(sasl::Step step);
    void lookUpCredentials();
    void onCredentials(std::uint64_t exchange, CredentialsResult result);
    void onPlainChecked(std::uint64_t exchange, sasl::MechanismPtr mechanism, sasl::Step step);
    /// The exchange (if any) is over: drop its mechanism; late results for it will be ignored.
    void endExchange();
    /// Whether a late result belongs to the exchange that is still waiting for it.
    bool awaiting(std::uint64_t exchange) const;
    void saslFailure(sasl::Failure failure, std::string_view text = {});
    void handleBind(const xml::Element& iq);
    void handleStanza(xml::Element&& stanza);
    bool checkStanza(xml::Element& stanza);
    void unbind();
    sasl::ChannelBindings channelBindings() const;
    void startAuthTimer();
    void onDeadline();

    C2sServer& server_;
    router::SessionId id_;
    stream::XmppStream stream_;
    State state_ = State::Connected;
    bool authenticated_ = false;
    bool registered_ = false;          // in the router's registry
    bool pastHeaderDeadline_ = false;  // authTimer_ is now the authentication deadline
    std::string domain_;               // the host this stream is for
    std::optional<stanza::Jid> jid_;   // the bare JID once authenticated, the full one once bound
    // Only needed until authentication succeeds, then freed: not carried by every idle session.
    struct SaslState {
        sasl::MechanismPtr mechanism;
        std::vector<std::string> offered;  // the mechanisms of the last features
        /// Identifies the exchange in progress: bumped whenever one starts or ends, so that a
        /// credential look-up or a PLAIN check that comes back for an exchange that was aborted,
        /// failed or replaced meanwhile is recognised and dropped.
        std::uint64_t exchange = 0;
        /// The normalised authcid of this exchange once known (its credentials were looked up
        /// for it, and only it may be authenticated by them); also the throttle's key.
        std::string user;
        bool awaitingCredentials = false;
        util::EventPtr delay;  // the look-up waits for it while the account is under attack
        /// The PLAIN check on the worker pool, cancelled when the exchange ends without it.
        std::optional<util::WorkerPool::JobId> job;
    };
    std::unique_ptr<SaslState> sasl_;  // null once authenticated
    util::EventPtr authTimer_;         // the negotiation deadlines (startAuthTimer)
};

std::string_view toString(ClientSession::State state);

}  // namespace corvid::c2s
