#include "load_loop.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netinet/in.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

namespace corvid::bench {
namespace {

constexpr timeval kTickInterval{0, 1000};        // 1 ms: fine-grained pacing at a fixed rate
constexpr uint64_t kExpiryScanNs = 250'000'000;  // login timeouts need no finer grain

}  // namespace

uint64_t nowNs() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

void LoopStats::merge(const LoopStats& other) {
    loginMicros.merge(other.loginMicros);
    messageMicros.merge(other.messageMicros);
    established += other.established;
    for (int i = 0; i < kFailKinds; ++i) {
        failures[i] += other.failures[i];
        if (failureSample[i].empty()) {
            failureSample[i] = other.failureSample[i];
        }
    }
    failuresAfterLogin += other.failuresAfterLogin;
    if (other.firstConnectNs != 0 &&
        (firstConnectNs == 0 || other.firstConnectNs < firstConnectNs)) {
        firstConnectNs = other.firstConnectNs;
    }
    lastLoginNs = std::max(lastLoginNs, other.lastLoginNs);
    sentInWindow += other.sentInWindow;
    receivedOfWindow += other.receivedOfWindow;
    deliveredInWindow += other.deliveredInWindow;
    messageErrors += other.messageErrors;
    throttled += other.throttled;
    pbkdf2Runs += other.pbkdf2Runs;
    pbkdf2CacheHits += other.pbkdf2CacheHits;
    pbkdf2Seconds += other.pbkdf2Seconds;
}

bool parseAddress(const std::string& text, uint16_t port, sockaddr_storage& out) {
    out = sockaddr_storage{};
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
    if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        return true;
    }
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
    if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        return true;
    }
    return false;
}

LoadLoop::LoadLoop(const BenchOptions& options, const std::vector<Account>& accounts,
                   const std::vector<int>& connectionIndexes, int loopCount, LoopObserver& observer)
    : options_(options),
      observer_(observer),
      base_(event_base_new()),
      sslCtx_(SSL_CTX_new(TLS_client_method())),
      body_(static_cast<size_t>(options.bodySize), 'x') {
    // Test servers use self-signed certificates: no verification, on purpose.
    SSL_CTX_set_verify(sslCtx_.get(), SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_min_proto_version(sslCtx_.get(), TLS1_2_VERSION);
    // 10,000 idle connections should not each pin 2 x 16 KiB of OpenSSL buffers.
    SSL_CTX_set_mode(sslCtx_.get(), SSL_MODE_RELEASE_BUFFERS);
    // TlsSocket drains SSL_read() until it wants more, so reading ahead is safe and saves
    // system calls; it retries partial writes from a buffer that may move as it grows.
    SSL_CTX_set_read_ahead(sslCtx_.get(), 1);
    SSL_CTX_set_mode(sslCtx_.get(),
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    tick_.reset(event_new(base_.get(), -1, EV_PERSIST, &LoadLoop::tickCallback, this));
    startEvent_.reset(event_new(base_.get(), -1, 0, &LoadLoop::startCallback, this));
    stopEvent_.reset(event_new(base_.get(), -1, 0, &LoadLoop::stopCallback, this));

    parseAddress(options.host, options.port, target_);
    for (const auto& ip : options.sourceIps) {
        sockaddr_storage source{};
        parseAddress(ip, 0, source);
        sources_.push_back(source);
    }

    connections_.reserve(connectionIndexes.size());
    for (int index : connectionIndexes) {
        connections_.push_back(
            std::make_unique<BenchConnection>(*this, index, accounts[static_cast<size_t>(index)]));
    }
    // Pairs are whole within a loop: 2k and 2k+1 are adjacent in connectionIndexes.
    for (size_t i = 0; i + 1 < connections_.size(); ++i) {
        BenchConnection& a = *connections_[i];
        BenchConnection& b = *connections_[i + 1];
        if ((a.index() ^ 1) == b.index()) {
            a.setPeer(&b);
            b.setPeer(&a);
            ++i;
        }
    }

    loginRate_ = options.loginRate / loopCount;
    loginConcurrency_ = std::max(1, (options.loginConcurrency + loopCount - 1) / loopCount);
    messageRate_ = options.rate / loopCount;
}

LoadLoop::~LoadLoop() {
    // Connections hold events on base_: free them before the base.
    connections_.clear();
    tick_.reset();
    startEvent_.reset();
    stopEvent_.reset();
}

SSL* LoadLoop::newSsl() {
    SSL* ssl = SSL_new(sslCtx_.get());
    SSL_set_tlsext_host_name(ssl, options_.domain.c_str());
    return ssl;
}

void LoadLoop::run() {
    loginStartNs_ = nowNs();
    event_add(tick_.get(), &kTickInterval);
    tick();
    event_base_dispatch(base_.get());
}

void LoadLoop::startMessaging(uint64_t startNs, uint64_t endNs) {
    startNs_.store(startNs);
    endNs_.store(endNs);
    event_active(startEvent_.get(), 0, 0);  // thread-safe: evthread_use_pthreads() ran first
}

void LoadLoop::stop() {
    event_active(stopEvent_.get(), 0, 0);
}

void LoadLoop::enterPhase(Phase next) {
    phase_.store(next, std::memory_order_release);
    observer_.onLoopPhaseChanged();
}

void LoadLoop::tickCallback(evutil_socket_t, short, void* self) {
    static_cast<LoadLoop*>(self)->tick();
}

void LoadLoop::startCallback(evutil_socket_t, short, void* self) {
    static_cast<LoadLoop*>(self)->beginMessaging();
}

void LoadLoop::stopCallback(evutil_socket_t, short, void* self) {
    auto& loop = *static_cast<LoadLoop*>(self);
    for (auto& c : loop.connections_) {
        c->close();
    }
    auto& cache = loop.scramCache_;
    loop.stats_.pbkdf2Runs = cache.misses();
    loop.stats_.pbkdf2CacheHits = cache.hits();
    loop.stats_.pbkdf2Seconds = cache.pbkdf2Seconds();
    loop.phase_.store(Phase::Stopped, std::memory_order_release);
    event_base_loopexit(loop.base_.get(), nullptr);
}

void LoadLoop::tick() {
    uint64_t now = nowNs();
    switch (phase()) {
        case Phase::LoggingIn:
            openConnections(now);
            expireLogins(now);
            if (nextToOpen_ == connections_.size() && loggingIn_ == 0) {
                enterPhase(Phase::Ready);
            }
            break;
        case Phase::Messaging:
            if (now >= endNs_.load()) {
                drainDeadlineNs_ = now + static_cast<uint64_t>(options_.drainSeconds * 1e9);
                enterPhase(Phase::Draining);
            } else if (now < startNs_.load()) {
                // Every loop starts at the same instant, a few ms after being told to.
            } else if (messageRate_ > 0) {
                sendAtRate(now);
            } else if (!windowsFilled_) {
                fillWindows(now);
            }
            break;
        case Phase::Draining:
            if (inFlight_ <= 0 || now >= drainDeadlineNs_) {
                enterPhase(Phase::Done);
            }
            break;
        default:
            break;
    }
}

void LoadLoop::openConnections(uint64_t now) {
    uint64_t allowed = connections_.size();
    if (loginRate_ > 0) {
        // One connection at once, then the rate: the first login should not wait a tick.
        double elapsed = static_cast<double>(now - loginStartNs_) / 1e9;
        allowed = std::min<uint64_t>(allowed, static_cast<uint64_t>(loginRate_ * elapsed) + 1);
    }
    while (nextToOpen_ < allowed && loggingIn_ < loginConcurrency_) {
        BenchConnection& c = *connections_[nextToOpen_++];
        static const sockaddr_storage kAnySource{};
        const sockaddr_storage& source =
            sources_.empty() ? kAnySource
                             : sources_[static_cast<size_t>(c.index()) % sources_.size()];
        ++loggingIn_;
        if (stats_.firstConnectNs == 0) {
            stats_.firstConnectNs = now;
        }
        c.start(target_, source);  // may fail at once, calling onFailed()
    }
}

void LoadLoop::expireLogins(uint64_t now) {
    if (now - lastExpiryScanNs_ < kExpiryScanNs) {
        return;
    }
    lastExpiryScanNs_ = now;
    auto limit = static_cast<uint64_t>(options_.loginTimeoutSeconds * 1e9);
    for (size_t i = 0; i < nextToOpen_; ++i) {
        BenchConnection& c = *connections_[i];
        if (c.loggingIn() && c.connectStartNs() + limit < now) {
            c.timeOut();
        }
    }
}

void LoadLoop::onLoggedIn(BenchConnection& connection) {
    uint64_t now = nowNs();
    --loggingIn_;
    ++stats_.established;
    establishedNow_.fetch_add(1, std::memory_order_relaxed);
    stats_.loginMicros.record((now - connection.connectStartNs()) / 1000);
    stats_.lastLoginNs = std::max(stats_.lastLoginNs, now);
}

void LoadLoop::onFailed(BenchConnection& /*connection*/, bool wasLoggingIn, FailKind kind,
                        const std::string& detail) {
    if (wasLoggingIn) {
        --loggingIn_;
    } else {
        ++stats_.failuresAfterLogin;
    }
    auto k = static_cast<size_t>(kind);
    ++stats_.failures[k];
    if (stats_.failureSample[k].empty()) {
        stats_.failureSample[k] = detail;
    }
    failedNow_.fetch_add(1, std::memory_order_relaxed);
}

void LoadLoop::beginMessaging() {
    for (auto& c : connections_) {
        if (c->established() && c->peer() != nullptr && c->peer()->established()) {
            senders_.push_back(c.get());
        }
    }
    enterPhase(Phase::Messaging);
    tick();
}

void LoadLoop::fillWindows(uint64_t now) {
    // Saturation: fill every window once; each delivery then triggers the next send.
    windowsFilled_ = true;
    for (int w = 0; w < options_.effectiveWindow(); ++w) {
        for (BenchConnection* c : senders_) {
            c->sendMessage(now);
        }
    }
}

void LoadLoop::sendAtRate(uint64_t now) {
    double elapsed = static_cast<double>(now - startNs_.load()) / 1e9;
    auto target = static_cast<uint64_t>(messageRate_ * elapsed);
    int window = options_.effectiveWindow();
    while (rateSent_ < target && !senders_.empty()) {
        bool sent = false;
        // Round-robin over senders, skipping those with a full window or a lost peer.
        for (size_t tries = 0; tries < senders_.size() && !sent; ++tries) {
            BenchConnection* c = senders_[senderCursor_];
            senderCursor_ = (senderCursor_ + 1) % senders_.size();
            if (c->established() && c->peer()->established() && c->inFlight() < window) {
                c->sendMessage(now);
                sent = true;
            }
        }
        ++rateSent_;
        if (!sent) {
            stats_.throttled += target - rateSent_ + 1;
            rateSent_ = target;
        }
    }
}

void LoadLoop::onSent(uint64_t sentNs) {
    ++inFlight_;
    if (sentNs >= startNs_.load(std::memory_order_relaxed) &&
        sentNs < endNs_.load(std::memory_order_relaxed)) {
        ++stats_.sentInWindow;
    }
}

void LoadLoop::onDelivered(BenchConnection& receiver, uint64_t sentNs) {
    uint64_t now = nowNs();
    uint64_t start = startNs_.load(std::memory_order_relaxed);
    uint64_t end = endNs_.load(std::memory_order_relaxed);
    --inFlight_;
    receivedNow_.fetch_add(1, std::memory_order_relaxed);
    BenchConnection* sender = receiver.peer();
    if (sender != nullptr) {
        sender->onPeerReceived();
    }
    if (sentNs >= start && sentNs < end) {
        ++stats_.receivedOfWindow;
        stats_.messageMicros.record(now > sentNs ? (now - sentNs) / 1000 : 0);
    }
    if (now >= start && now < end) {
        ++stats_.deliveredInWindow;
        if (messageRate_ == 0 && sender != nullptr && sender->established()) {
            sender->sendMessage(now);
        }
    }
}

}  // namespace corvid::bench
