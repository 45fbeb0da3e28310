#pragma once

#include <event2/event.h>

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "c2s/connection.h"
#include "c2s/stream_management.h"
#include "c2s/transport.h"
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
class ClientStream;

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
    SmSettings sm;
};

enum class LookupError { Unavailable };
using CredentialsResult = std::expected<std::optional<sasl::Credentials>, LookupError>;

using StreamId = std::uint64_t;

/// Why resource binding failed: the stanza error to answer the bind request with.
struct BindError {
    stanza::StanzaCondition condition;
    std::string text;
};

/// What a negotiating stream needs from the c2s manager around it.
class StreamHost {
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
    /// Binds `full` (RFC 6120 §7, the conflict policy applied) to a new session carried by
    /// `transport`: registered, routable and announced (Bound) when this returns.
    virtual std::expected<ClientSession*, BindError> bind(stanza::Jid full,
                                                          Transport& transport) = 0;
    /// XEP-0198 §5: the detached (or still attached) session `previd` of `account`, attached to
    /// `transport` with the client's h applied; std::nullopt if there is no such session for
    /// that account (the stream answers <failed><item-not-found/>).
    virtual std::optional<ClientSession*> resume(std::string_view previd,
                                                 const stanza::Jid& account, std::uint32_t h,
                                                 Transport& transport) = 0;
    /// Streams are destroyed by the manager from the loop, never inside their own callbacks.
    virtual void streamFinished(StreamId id) = 0;
    /// The stream with this id, or nullptr once it is gone (for asynchronous callbacks).
    virtual ClientStream* findStream(StreamId id) = 0;

  protected:
    ~StreamHost() = default;
};

/// One client connection (RFC 6120 §4-§7): stream negotiation (STARTTLS, SASL, resource
/// binding) in an explicit state machine; binding produces a ClientSession, which this stream
/// then carries as its Transport (stanzas from the client go to it, its output comes back here).
class ClientStream final : public Transport, private stream::XmppStream::Owner {
  public:
    enum class State {
        Connected,       ///< waiting for the stream header
        Negotiating,     ///< features sent, before authentication
        TlsHandshake,    ///< <proceed/> sent, TLS handshake running
        Authenticating,  ///< SASL exchange in progress
        AwaitingBind,    ///< authenticated, waiting for resource binding
        Established,     ///< bound: stanzas flow to and from the session
        Closed,          ///< the connection is gone
    };

    /// A client's own TCP connection (STARTTLS, or direct TLS from the first byte).
    ClientStream(StreamHost& host, StreamId id, evutil_socket_t fd, std::string peerAddress,
                 bool directTls);
    /// Makes the connection a stream runs over, given the stream's event sink.
    using ConnectionFactory =
        std::move_only_function<std::unique_ptr<Connection>(stream::XmppStream::Owner& events)>;
    /// A stream over another kind of connection (XMPP over WebSocket, RFC 7395).
    ClientStream(StreamHost& host, StreamId id, ConnectionFactory connect);
    ~ClientStream();
    ClientStream(const ClientStream&) = delete;
    ClientStream& operator=(const ClientStream&) = delete;

    // Transport (for the bound session)
    void send(const xml::Element& element) override { conn_->send(element); }
    /// Sends a stream error and closes.
    void closeWithError(stanza::StreamCondition condition, std::string_view text = {}) override;
    std::size_t outputPending() const override { return conn_->outputPending(); }
    std::size_t outputLimit() const override { return conn_->maxOutputBytes(); }
    const std::string& peerAddress() const override { return conn_->peerAddress(); }
    void sessionLeft() override;

    StreamId id() const { return id_; }
    State state() const { return state_; }
    /// The session this stream carries, or nullptr (not bound yet, or it left).
    ClientSession* session() const { return session_; }
    /// Frees per-connection memory that an idle stream does not need (see XmppStream).
    bool shedIdleMemory(int quietCallsNeeded) { return conn_->shedIdleMemory(quietCallsNeeded); }

  private:
    // XmppStream::Owner
    void onStreamHeader(xml::StreamHeader&& header) override;
    void onStanza(xml::Element&& element) override;
    void onStreamEnd() override;
    void onParseError(const xml::ParseError& error) override;
    void onTlsReady() override;
    void onIdleTimeout() override;
    void onClosed() override;

    /// The one place the state changes; a transition the table does not allow is a bug, logged
    /// and refused (the stream is closed).
    bool transitionTo(State next);
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
    /// Stream management before binding: <resume/> instead of a bind (XEP-0198 §5).
    void handleSmBeforeBind(const xml::Element& element);
    sasl::ChannelBindings channelBindings() const;
    void startAuthTimer();
    void onDeadline();

    StreamHost& host_;
    StreamId id_;
    std::unique_ptr<Connection> conn_;
    State state_ = State::Connected;
    bool authenticated_ = false;
    bool pastHeaderDeadline_ = false;   // authTimer_ is now the authentication deadline
    std::string domain_;                // the host this stream is for
    std::optional<stanza::Jid> user_;   // the bare JID once authenticated
    ClientSession* session_ = nullptr;  // once bound, until the session leaves
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

std::string_view toString(ClientStream::State state);

}  // namespace corvid::c2s
