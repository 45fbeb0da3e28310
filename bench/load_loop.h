#pragma once

#include "bench_connection.h"
#include "bench_options.h"
#include "c_handles.h"
#include "latency_histogram.h"
#include "scram_client.h"

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace corvid::bench {

/// Monotonic clock in nanoseconds; shared by all loops, so a timestamp taken by the sender's
/// loop can be subtracted on the receiver's.
uint64_t nowNs();

/// What one loop measured; merged over loops for the report.
struct LoopStats {
    LatencyHistogram loginMicros;
    LatencyHistogram messageMicros;
    uint64_t established = 0;
    std::array<uint64_t, kFailKinds> failures{};
    std::array<std::string, kFailKinds> failureSample{};
    uint64_t failuresAfterLogin = 0;
    uint64_t firstConnectNs = 0;
    uint64_t lastLoginNs = 0;
    /// Messages whose send timestamp falls in the message window.
    uint64_t sentInWindow = 0;
    /// ... and that arrived (during the window or the drain).
    uint64_t receivedOfWindow = 0;
    /// Messages that arrived during the window, whenever sent: the delivery rate.
    uint64_t deliveredInWindow = 0;
    uint64_t messageErrors = 0;
    /// Sends skipped at a fixed rate because the connection's window was full: the server (or
    /// the bench) is not keeping up with the requested rate.
    uint64_t throttled = 0;
    uint64_t pbkdf2Runs = 0;
    uint64_t pbkdf2CacheHits = 0;
    double pbkdf2Seconds = 0;

    void merge(const LoopStats& other);
};

/// Wakes the coordinating thread when a loop changes phase.
class LoopObserver {
  public:
    virtual ~LoopObserver() = default;
    virtual void onLoopPhaseChanged() = 0;
};

/// One libevent loop and the connections (whole pairs) it drives. run() is the thread body;
/// startMessaging() and stop() may be called from the coordinating thread.
class LoadLoop {
  public:
    enum class Phase { LoggingIn, Ready, Messaging, Draining, Done, Stopped };

    LoadLoop(const BenchOptions& options, const std::vector<Account>& accounts,
             const std::vector<int>& connectionIndexes, int loopCount, LoopObserver& observer);
    ~LoadLoop();
    LoadLoop(const LoadLoop&) = delete;
    LoadLoop& operator=(const LoadLoop&) = delete;

    void run();
    Phase phase() const { return phase_.load(std::memory_order_acquire); }
    void startMessaging(uint64_t startNs, uint64_t endNs);
    void stop();
    /// Only after run() has returned.
    const LoopStats& stats() const { return stats_; }

    // Progress counters, readable from any thread while running.
    uint64_t establishedNow() const { return establishedNow_.load(std::memory_order_relaxed); }
    uint64_t failedNow() const { return failedNow_.load(std::memory_order_relaxed); }
    uint64_t receivedNow() const { return receivedNow_.load(std::memory_order_relaxed); }

    // For BenchConnection, on this loop's thread.
    event_base* base() const { return base_.get(); }
    SSL* newSsl();
    static constexpr size_t kReadBufferSize = 16 * 1024 + 512;  // one TLS record and change
    /// Shared by the loop's sockets: only one reads at a time.
    char* readBuffer() { return readBuffer_.data(); }
    const BenchOptions& options() const { return options_; }
    /// Also used by the coordinating thread before run() and after it has returned.
    SaltedPasswordCache& scramCache() { return scramCache_; }
    const std::string& messageBody() const { return body_; }
    void onLoggedIn(BenchConnection& connection);
    void onFailed(BenchConnection& connection, bool wasLoggingIn, FailKind kind,
                  const std::string& detail);
    void onSent(uint64_t sentNs);
    void onDelivered(BenchConnection& receiver, uint64_t sentNs);
    void onMessageError() { ++stats_.messageErrors; }

  private:
    static void tickCallback(evutil_socket_t, short, void* self);
    static void startCallback(evutil_socket_t, short, void* self);
    static void stopCallback(evutil_socket_t, short, void* self);
    void tick();
    void openConnections(uint64_t now);
    void expireLogins(uint64_t now);
    void sendAtRate(uint64_t now);
    void beginMessaging();
    void fillWindows(uint64_t now);
    void enterPhase(Phase next);

    const BenchOptions& options_;
    LoopObserver& observer_;
    EventBasePtr base_;
    SslCtxPtr sslCtx_;
    EventPtr tick_;
    EventPtr startEvent_;
    EventPtr stopEvent_;
    std::array<char, kReadBufferSize> readBuffer_{};
    std::vector<BenchConnectionPtr> connections_;
    std::vector<BenchConnection*> senders_;
    sockaddr_storage target_{};
    std::vector<sockaddr_storage> sources_;
    std::string body_;
    SaltedPasswordCache scramCache_;
    LoopStats stats_;
    std::atomic<Phase> phase_{Phase::LoggingIn};
    std::atomic<uint64_t> establishedNow_{0};
    std::atomic<uint64_t> failedNow_{0};
    std::atomic<uint64_t> receivedNow_{0};

    double loginRate_ = 0;  // this loop's share
    int loginConcurrency_ = 0;
    double messageRate_ = 0;  // this loop's share
    size_t nextToOpen_ = 0;
    int loggingIn_ = 0;
    uint64_t loginStartNs_ = 0;
    uint64_t lastExpiryScanNs_ = 0;
    std::atomic<uint64_t> startNs_{0};
    std::atomic<uint64_t> endNs_{0};
    uint64_t drainDeadlineNs_ = 0;
    uint64_t rateSent_ = 0;
    size_t senderCursor_ = 0;
    bool windowsFilled_ = false;
    int64_t inFlight_ = 0;
};

/// Parses an IPv4 or IPv6 literal (no name lookups: nothing may block a loop).
bool parseAddress(const std::string& text, uint16_t port, sockaddr_storage& out);

}  // namespace corvid::bench
