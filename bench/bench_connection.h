#pragma once

#include "bench_options.h"
#include "c_handles.h"
#include "scram_client.h"
#include "tls_socket.h"
#include "xml_reader.h"

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>

namespace corvid::bench {

class LoadLoop;

/// Why a connection gave up; each kind is counted separately in the report.
enum class FailKind { Connect, Tls, Xml, StreamError, Sasl, Bind, Closed, Timeout, Protocol };
inline constexpr int kFailKinds = 9;
const char* failKindName(FailKind kind);

/// One simulated client: TCP connect, stream header, STARTTLS (or direct TLS), SCRAM, restart,
/// bind, initial presence, then messages to and from its peer (connection index ^ 1).
class BenchConnection final : public XmlReaderListener, public SocketListener {
  public:
    enum class State {
        Idle,
        Connecting,
        AwaitFeatures,
        AwaitProceed,
        TlsHandshake,
        AwaitChallenge,
        AwaitSuccess,
        AwaitBind,
        AwaitSession,
        Established,
        Failed,
        Closed,
    };

    BenchConnection(LoadLoop& loop, int index, const Account& account);
    ~BenchConnection() override;
    BenchConnection(const BenchConnection&) = delete;
    BenchConnection& operator=(const BenchConnection&) = delete;

    void setPeer(BenchConnection* peer) { peer_ = peer; }
    BenchConnection* peer() const { return peer_; }
    int index() const { return index_; }
    State state() const { return state_; }
    bool established() const { return state_ == State::Established; }
    /// Between start() and Established/Failed.
    bool loggingIn() const { return state_ != State::Idle && !established() && !finished(); }
    bool finished() const { return state_ == State::Failed || state_ == State::Closed; }
    uint64_t connectStartNs() const { return connectStartNs_; }
    int inFlight() const { return inFlight_; }

    /// Opens the TCP connection from `source` (port 0 / any address when its family is
    /// AF_UNSPEC) to `target`.
    void start(const sockaddr_storage& target, const sockaddr_storage& source);
    /// Sends one timestamped message to the peer's full JID.
    void sendMessage(uint64_t nowNs);
    /// The peer has received one of our messages.
    void onPeerReceived() { --inFlight_; }
    /// Gives up on a login that took too long.
    void timeOut();
    /// Ends the stream and releases the socket.
    void close();

    void onStreamOpen(const XmlNode& header) override;
    void onElement(XmlNode&& element) override;
    void onStreamClose() override;

    void onConnected() override;
    void onData(const char* data, size_t len) override;
    void onClosed(const std::string& reason, bool duringTls) override;

  private:
    enum class Phase { Plain, Secured, Authenticated };
    enum class PendingAction { None, StartTls, Restart };

    void onFeatures(const XmlNode& features);
    void onMessage(const XmlNode& message);
    void onIq(const XmlNode& iq);
    void sendStreamHeader();
    void send(std::string_view data);
    void startTls();
    void restartStream();
    /// Marks the connection failed and closes its socket (safe inside the socket's callbacks).
    void fail(FailKind kind, std::string detail);
    void transitionTo(State next) { state_ = next; }

    LoadLoop& loop_;
    int index_;
    const Account& account_;
    BenchConnection* peer_ = nullptr;
    State state_ = State::Idle;
    Phase phase_ = Phase::Plain;
    PendingAction pending_ = PendingAction::None;
    bool inReader_ = false;
    bool sessionRequired_ = false;

    std::unique_ptr<TlsSocket> socket_;
    XmlReader reader_;
    std::unique_ptr<ScramClient> scram_;
    std::string fullJid_;

    uint64_t connectStartNs_ = 0;
    int inFlight_ = 0;
};

using BenchConnectionPtr = std::unique_ptr<BenchConnection>;

}  // namespace corvid::bench
