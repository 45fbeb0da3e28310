#include "s2s/outgoing_session.h"

#include <algorithm>
#include <random>

#include "net/address_range.h"
#include "s2s/cert_identity.h"
#include "s2s/dialback.h"
#include "s2s/incoming_session.h"
#include "s2s/protocol.h"
#include "s2s/s2s_manager.h"
#include "sasl/base64.h"
#include "stanza/ns.h"
#include "util/log.h"

namespace corvid::s2s {

namespace ns = stanza::ns;
using stanza::StanzaCondition;
using stanza::StreamCondition;

std::string_view toString(OutgoingSession::State state) {
    using S = OutgoingSession::State;
    switch (state) {
        case S::Resolving:
            return "resolving";
        case S::Connecting:
            return "connecting";
        case S::Opening:
            return "opening";
        case S::StartTls:
            return "starttls";
        case S::TlsHandshake:
            return "tls-handshake";
        case S::Authenticating:
            return "authenticating";
        case S::Dialback:
            return "dialback";
        case S::Established:
            return "established";
        case S::Closed:
            return "closed";
    }
    return "?";
}

OutgoingSession::OutgoingSession(S2sManager& manager, std::uint64_t id, std::string local,
                                 std::string remote)
    : manager_(manager), id_(id), local_(std::move(local)), remote_(std::move(remote)) {}

OutgoingSession::~OutgoingSession() = default;

void OutgoingSession::transitionTo(State next) {
    log::trace("s2s out {} {} -> {}: {} -> {}", id_, local_, remote_, toString(state_),
               toString(next));
    state_ = next;
}

// --- finding the peer (RFC 6120 §3.2, XEP-0368) ---

void OutgoingSession::start() {
    const int timeout = manager_.settings().connectTimeoutSeconds;
    connectTimer_.reset(evtimer_new(
        manager_.base(),
        [](evutil_socket_t, short, void* arg) {
            static_cast<OutgoingSession*>(arg)->onConnectTimeout();
        },
        this));
    timeval tv{timeout, 0};
    evtimer_add(connectTimer_.get(), &tv);

    const auto& routes = manager_.settings().routes;
    if (auto it = routes.find(remote_); it != routes.end()) {
        log::debug("s2s out {} -> {}: static route {}:{}", local_, remote_, it->second.host,
                   it->second.port);
        useCandidates({Candidate{it->second.host, it->second.port, false, true}});
        return;
    }
    const std::string ascii = toAsciiDomain(remote_);
    if (ascii.empty()) {
        fail(StanzaCondition::RemoteServerNotFound, "not a valid domain");
        return;
    }
    srvPending_ = 2;
    S2sManager& manager = manager_;
    const RouteKey key{local_, remote_};
    const std::uint64_t id = id_;
    for (const bool directTls : {true, false}) {
        const std::string name =
            std::string(directTls ? "_xmpps-server._tcp." : "_xmpp-server._tcp.") + ascii;
        manager_.resolver().resolveSrv(name, [&manager, key, id, directTls](auto result) {
            if (OutgoingSession* self = manager.findOutgoing(key, id)) {
                self->onSrvAnswer(directTls, std::move(result));
            }
        });
    }
}

void OutgoingSession::onSrvAnswer(
    bool directTls, std::expected<std::vector<net::SrvRecord>, net::DnsError> result) {
    if (state_ != State::Resolving) {
        return;
    }
    if (result) {
        (directTls ? srvDirectTls_ : srvStartTls_) = std::move(*result);
    } else {
        log::debug("s2s out {} -> {}: SRV {}: {}", local_, remote_,
                   directTls ? "_xmpps-server" : "_xmpp-server", net::toString(result.error()));
    }
    if (--srvPending_ > 0) {
        return;
    }
    thread_local std::mt19937 rng{std::random_device{}()};
    const bool anyRecords =
        (srvStartTls_ && !srvStartTls_->empty()) || (srvDirectTls_ && !srvDirectTls_->empty());
    if (!anyRecords) {
        // RFC 6120 §3.2.2: no SRV records: the domain itself, on the default port.
        useCandidates({Candidate{toAsciiDomain(remote_), 5269, false}});
        return;
    }
    auto tls = orderSrvRecords(srvDirectTls_.value_or(std::vector<net::SrvRecord>{}), rng);
    auto plain = orderSrvRecords(srvStartTls_.value_or(std::vector<net::SrvRecord>{}), rng);
    // XEP-0368 §3: both kinds in one list by priority; at equal priority direct TLS first.
    std::vector<Candidate> candidates;
    std::size_t i = 0;
    std::size_t j = 0;
    while (i < tls.size() || j < plain.size()) {
        if (j >= plain.size() || (i < tls.size() && tls[i].priority <= plain[j].priority)) {
            candidates.push_back(Candidate{tls[i].target, tls[i].port, true});
            ++i;
        } else {
            candidates.push_back(Candidate{plain[j].target, plain[j].port, false});
            ++j;
        }
    }
    if (candidates.empty()) {
        // RFC 2782: a target of "." means the service is decidedly not available.
        fail(StanzaCondition::RemoteServerNotFound, "the domain offers no XMPP server service");
        return;
    }
    useCandidates(std::move(candidates));
}

void OutgoingSession::useCandidates(std::vector<Candidate> candidates) {
    candidates_ = std::move(candidates);
    nextCandidate_ = 0;
    connectAttempted_ = false;
    nonPublicRefused_ = false;
    nextCandidate();
}

void OutgoingSession::nextCandidate() {
    if (state_ == State::Closed) {
        return;
    }
    if (nextCandidate_ >= candidates_.size()) {
        std::string text;
        if (nonPublicRefused_ && !connectAttempted_) {
            text = "the server of " + remote_ +
                   " is at a non-public address, which this server does not connect to";
        }
        fail(StanzaCondition::RemoteServerNotFound,
             lastError_.empty() ? "no server found" : lastError_, std::move(text));
        return;
    }
    current_ = candidates_[nextCandidate_++];
    transitionTo(State::Resolving);
    S2sManager& manager = manager_;
    const RouteKey key{local_, remote_};
    const std::uint64_t id = id_;
    const std::size_t candidate = nextCandidate_;
    auto done = [&manager, key, id, candidate](auto result) {
        if (OutgoingSession* self = manager.findOutgoing(key, id)) {
            self->onAddresses(candidate, std::move(result));
        }
    };
    manager_.resolver().resolveHost(current_.host, current_.port, std::move(done));
}

void OutgoingSession::onAddresses(
    std::size_t candidate, std::expected<std::vector<net::SocketAddress>, net::DnsError> result) {
    if (state_ != State::Resolving || candidate != nextCandidate_) {
        return;  // the route has moved on (closed, or on to another candidate)
    }
    if (!result) {
        lastError_ = result.error() == net::DnsError::NotFound
                         ? "no DNS record for " + current_.host
                         : "DNS lookup of " + current_.host + ": " +
                               std::string(net::toString(result.error()));
        log::debug("s2s out {} -> {}: {}", local_, remote_, lastError_);
        nextCandidate();
        return;
    }
    addresses_ = std::move(*result);
    nextAddress_ = 0;
    if (!current_.staticRoute && !manager_.settings().allowPrivateAddresses) {
        dropNonPublicAddresses();
    }
    if (addresses_.empty()) {
        nextCandidate();
        return;
    }
    connectAttempted_ = true;
    connectNext();
}

void OutgoingSession::dropNonPublicAddresses() {
    // Server-side request forgery: a remote user picks the domain, and whoever controls its DNS
    // picks the addresses. Loopback, private and link-local ones are this host's and its
    // networks' services, not federation peers.
    std::string refused;
    std::erase_if(addresses_, [&](const net::SocketAddress& address) {
        const std::string_view range = net::nonPublicRange(address);
        if (range.empty()) {
            return false;
        }
        refused +=
            (refused.empty() ? "" : ", ") + address.toString() + " (" + std::string(range) + ")";
        return true;
    });
    if (refused.empty()) {
        return;
    }
    log::debug("s2s out {} -> {}: {}: not connecting to {}", local_, remote_, current_.host,
               refused);
    if (addresses_.empty()) {
        nonPublicRefused_ = true;
        lastError_ = current_.host + " has only non-public addresses: " + refused +
                     " (s2s.allow_private_addresses is off)";
    }
}

void OutgoingSession::connectNext() {
    if (state_ == State::Closed) {
        return;
    }
    if (nextAddress_ >= addresses_.size()) {
        nextCandidate();
        return;
    }
    const net::SocketAddress& address = addresses_[nextAddress_++];
    stream::XmppStream::Options options;
    options.limits = manager_.settings().limits;
    options.maxOutputBytes = manager_.settings().maxOutputBytes;
    options.contentNs = std::string(ns::kServer);
    options.idleTimeoutSeconds = 0;  // the connect timer, then our own idle timer
    streamId_.clear();
    peerCert_ = CertCheck{};
    saslDone_ = false;
    saslFailed_ = false;
    dialbackOffered_ = false;
    SSL* directTls = current_.directTls ? manager_.newOutgoingSsl(local_, remote_, true) : nullptr;
    log::debug("s2s out {} -> {}: connecting to {} ({}){}", local_, remote_, address.toString(),
               current_.host, current_.directTls ? " with direct TLS" : "");
    transitionTo(State::Connecting);
    stream::XmppStream::Owner& owner = *this;
    stream_ = std::make_unique<stream::XmppStream>(manager_.base(), address.get(), address.length,
                                                   address.toString(), owner, std::move(options),
                                                   directTls);
}

void OutgoingSession::attemptFailed(std::string why) {
    log::info("s2s out {} -> {}: {}: {}", local_, remote_,
              stream_ ? stream_->peerAddress() : current_.host, why);
    lastError_ = std::move(why);
    if (stream_) {
        stream_->abort();  // onClosed() follows and tries the next address
    } else {
        connectNext();
    }
}

void OutgoingSession::fail(StanzaCondition condition, std::string why, std::string text) {
    if (state_ == State::Closed) {
        return;
    }
    log::info("s2s out {} -> {}: route failed ({}): {}; {} stanza(s) bounced", local_, remote_,
              stanza::toString(condition), why, queue_.size());
    transitionTo(State::Closed);
    connectTimer_.reset();
    idleTimer_.reset();
    if (text.empty()) {
        // What the user reads: why, as far as it concerns the remote domain (DNS, its answers).
        text = condition == StanzaCondition::RemoteServerTimeout
                   ? "timed out connecting to " + remote_
                   : "cannot reach the server of " + remote_ + ": " + why;
    }
    auto queue = std::exchange(queue_, {});
    for (const auto& stanza : queue) {
        manager_.router().bounce(stanza, condition, text);
    }
    failVerifies();
    if (stream_) {
        stream_->abort();
    }
    manager_.outgoingClosed(RouteKey{local_, remote_}, id_);
}

void OutgoingSession::onConnectTimeout() {
    if (state_ != State::Established && state_ != State::Closed) {
        fail(StanzaCondition::RemoteServerTimeout,
             "no connection within " + std::to_string(manager_.settings().connectTimeoutSeconds) +
                 " s" + (lastError_.empty() ? "" : " (" + lastError_ + ")"));
    }
}

// --- the stream ---

void OutgoingSession::onConnected() {
    if (state_ != State::Connecting) {
        return;
    }
    stream_->sendRaw(makeServerStreamHeader(local_, remote_, {}));
    stream_->markHeaderSent();
    transitionTo(State::Opening);
}

void OutgoingSession::onTlsReady() {
    peerCert_ = manager_.verifier().check(stream_->ssl(), remote_);
    log::debug("s2s out {} -> {}: TLS {} with {}, certificate {}{}{}", local_, remote_,
               SSL_get_version(stream_->ssl()), stream_->peerAddress(), toString(peerCert_.status),
               peerCert_.detail.empty() ? "" : ": ", peerCert_.detail);
    if (!peerCert_.valid() && !manager_.settings().dialbackWithoutValidCertificate()) {
        // RFC 7590 / XEP-0178: we do not talk to a peer that cannot prove it is `remote_`.
        attemptFailed("certificate not valid for " + remote_ + " (" +
                      std::string(toString(peerCert_.status)) +
                      (peerCert_.detail.empty() ? "" : ": " + peerCert_.detail) + ")");
        return;
    }
    if (state_ == State::TlsHandshake) {
        // RFC 6120 §5.4.3.3: a new stream over TLS.
        stream_->sendRaw(makeServerStreamHeader(local_, remote_, {}));
        transitionTo(State::Opening);
    }
    // Direct TLS: onConnected() follows and opens the stream.
}

void OutgoingSession::onStreamHeader(xml::StreamHeader&& header) {
    if (state_ != State::Opening) {
        attemptFailed("unexpected stream header");
        return;
    }
    if (header.defaultNs != ns::kServer) {
        stream_->closeWithError(StreamCondition::InvalidNamespace, "expected jabber:server");
        lastError_ = "the peer's stream is not jabber:server";
        return;
    }
    streamId_ = std::string(header.attr("id"));
    const std::string_view version = header.attr("version");
    if (version.empty() || version.front() < '1') {
        // A pre-1.0 peer sends no features: only dialback, and only without TLS.
        if (manager_.settings().tlsRequired() || !manager_.settings().dialback) {
            attemptFailed("the peer does not speak XMPP 1.0 (no TLS)");
            return;
        }
        startDialback();
    }
}

void OutgoingSession::onStanza(xml::Element&& element) {
    touch();
    const std::string& name = element.name();
    const std::string& elementNs = element.ns();
    if (elementNs == ns::kStreams && name == "error") {
        auto condition = stanza::parseStreamError(element);
        lastError_ =
            "stream error <" +
            std::string(stanza::toString(condition.value_or(StreamCondition::UndefinedCondition))) +
            "/>";
        const std::string text = element.childText("text", ns::kStreamErrors);
        if (!text.empty()) {
            lastError_ += ": " + text;
        }
        log::info("s2s out {} -> {}: {}", local_, remote_, lastError_);
        return;  // the peer closes the stream next
    }
    if (elementNs == ns::kDialback) {
        if (name == "verify") {
            handleVerifyAnswer(element);
        } else if (name == "result") {
            handleDialbackResult(element);
        }
        return;
    }
    switch (state_) {
        case State::Opening:
            if (elementNs == ns::kStreams && name == "features") {
                handleFeatures(element);
                return;
            }
            break;
        case State::StartTls:
            if (elementNs == ns::kTls && name == "proceed") {
                transitionTo(State::TlsHandshake);
                stream_->startTls(manager_.newOutgoingSsl(local_, remote_, false));
                return;
            }
            if (elementNs == ns::kTls && name == "failure") {
                attemptFailed("STARTTLS refused");
                return;
            }
            break;
        case State::Authenticating:
            if (elementNs == ns::kSasl && name == "success") {
                saslDone_ = true;
                log::debug("s2s out {} -> {}: authenticated with SASL EXTERNAL", local_, remote_);
                stream_->restartStream();
                stream_->sendRaw(makeServerStreamHeader(local_, remote_, {}));
                transitionTo(State::Opening);
                return;
            }
            if (elementNs == ns::kSasl && name == "failure") {
                saslFailed_ = true;
                log::info("s2s out {} -> {}: SASL EXTERNAL refused", local_, remote_);
                if (manager_.settings().dialback) {
                    startDialback();
                } else {
                    attemptFailed("SASL EXTERNAL refused and dialback disabled");
                }
                return;
            }
            if (elementNs == ns::kSasl && name == "challenge") {
                // RFC 6120 §6.4.2: our authzid went with <auth/>; nothing more to say.
                xml::Element response("response", std::string(ns::kSasl));
                stream_->send(response);
                return;
            }
            break;
        case State::Established:
            // Without XEP-0288 bidi the peer sends nothing on our stream but dialback.
            log::debug("s2s out {} -> {}: ignored <{}/> from the peer", local_, remote_, name);
            return;
        default:
            break;
    }
    log::info("s2s out {} -> {}: unexpected <{} xmlns='{}'/> in state {}", local_, remote_, name,
              elementNs, toString(state_));
    stream_->closeWithError(StreamCondition::UnsupportedStanzaType, name);
    lastError_ = "unexpected <" + name + "/>";
}

void OutgoingSession::handleFeatures(const xml::Element& features) {
    dialbackOffered_ = features.findChild("dialback", ns::kDialbackFeature) != nullptr;
    if (!stream_->encrypted()) {
        if (features.findChild("starttls", ns::kTls) != nullptr) {
            stream_->send(xml::Element("starttls", std::string(ns::kTls)));
            transitionTo(State::StartTls);
            return;
        }
        if (manager_.settings().tlsRequired()) {
            attemptFailed("the peer does not offer STARTTLS");
            return;
        }
    }
    if (saslDone_) {
        becomeEstablished();
        return;
    }
    bool external = false;
    if (const xml::Element* mechanisms = features.findChild("mechanisms", ns::kSasl)) {
        for (const xml::Element* m : mechanisms->childElements()) {
            if (m->name() == "mechanism" && m->text() == "EXTERNAL") {
                external = true;
            }
        }
    }
    if (external && stream_->encrypted() && !saslFailed_ && manager_.haveCertificate(local_)) {
        // XEP-0178 §3: the authorization identity is our domain.
        xml::Element auth("auth", std::string(ns::kSasl));
        auth.setAttr("mechanism", "EXTERNAL");
        auth.addText(sasl::encodeSaslData(local_));
        stream_->send(auth);
        transitionTo(State::Authenticating);
        return;
    }
    if (manager_.settings().dialback) {
        startDialback();
        return;
    }
    attemptFailed("no authentication method in common (EXTERNAL not offered, dialback off)");
}

void OutgoingSession::startDialback() {
    if (streamId_.empty()) {
        attemptFailed("the peer's stream has no id: dialback impossible");
        return;
    }
    // XEP-0220 §2.1.1 with the key of XEP-0185.
    const std::string key = dialbackKey(manager_.dialbackSecret(), remote_, local_, streamId_);
    sendDialback(makeDialbackResult(local_, remote_, {}, key));
    transitionTo(State::Dialback);
    sendVerifies();
}

void OutgoingSession::handleDialbackResult(const xml::Element& result) {
    if (state_ != State::Dialback || result.attr("from") != remote_ ||
        result.attr("to") != local_) {
        // XEP-0220 §2.4: a verdict nobody asked for changes nothing.
        log::info("s2s out {} -> {}: ignored an unsolicited dialback result (from '{}', to '{}')",
                  local_, remote_, result.attr("from"), result.attr("to"));
        return;
    }
    const std::string_view type = result.attr("type");
    if (type == "valid") {
        log::debug("s2s out {} -> {}: authenticated with dialback", local_, remote_);
        becomeEstablished();
        return;
    }
    std::string why = "dialback " + std::string(type.empty() ? "answer without type" : type);
    if (const xml::Element* error = result.findChild("error", ns::kServer)) {
        if (const xml::Element* condition = error->firstChildElement()) {
            why += " (" + condition->name() + ")";
        }
    }
    fail(StanzaCondition::RemoteServerNotFound, why);
}

void OutgoingSession::handleVerifyAnswer(const xml::Element& answer) {
    const std::string id(answer.attr("id"));
    auto it = verifiesSent_.find(id);
    if (it == verifiesSent_.end() || answer.attr("from") != remote_ ||
        answer.attr("to") != local_ || !answer.hasAttr("type")) {
        log::info("s2s out {} -> {}: ignored an unsolicited dialback verify (id '{}')", local_,
                  remote_, id);
        return;
    }
    Verify v = std::move(it->second);
    verifiesSent_.erase(it);
    const std::string_view type = answer.attr("type");
    const DialbackVerdict verdict = type == "valid"     ? DialbackVerdict::Valid
                                    : type == "invalid" ? DialbackVerdict::Invalid
                                                        : DialbackVerdict::Error;
    if (IncomingSession* in = manager_.findIncoming(v.incoming)) {
        in->dialbackAnswered(local_, remote_, v.streamId, verdict);
    }
}

void OutgoingSession::becomeEstablished() {
    connectTimer_.reset();
    transitionTo(State::Established);
    log::info("s2s out {} -> {}: established via {} ({}, {})", local_, remote_,
              stream_->peerAddress(), saslDone_ ? "SASL EXTERNAL" : "dialback",
              stream_->encrypted() ? SSL_get_version(stream_->ssl()) : "no TLS");
    touch();
    armIdleTimer(manager_.settings().idleTimeoutSeconds);
    auto queue = std::exchange(queue_, {});
    for (const auto& stanza : queue) {
        stream_->send(stanza);
    }
    sendVerifies();
}

void OutgoingSession::failVerifies() {
    // Incoming streams waiting for a verification through us get an error answer.
    auto waiting = std::exchange(verifiesToSend_, {});
    for (auto& [sid, v] : std::exchange(verifiesSent_, {})) {
        waiting.push_back(std::move(v));
    }
    for (const auto& v : waiting) {
        if (IncomingSession* in = manager_.findIncoming(v.incoming)) {
            in->dialbackAnswered(local_, remote_, v.streamId, DialbackVerdict::Error);
        }
    }
}

void OutgoingSession::sendVerifies() {
    if (!verifiesToSend_.empty()) {
        touch();  // a question is out: the route is not idle
    }
    for (auto& v : std::exchange(verifiesToSend_, {})) {
        sendDialback(makeDialbackVerify(local_, remote_, v.streamId, {}, v.key));
        std::string sid = v.streamId;
        verifiesSent_.emplace(std::move(sid), std::move(v));
    }
}

void OutgoingSession::sendDialback(const xml::Element& element) {
    stream_->sendRaw(serializeDialback(element));
}

void OutgoingSession::onStreamEnd() {
    log::debug("s2s out {} -> {}: the peer closed the stream", local_, remote_);
}

void OutgoingSession::onParseError(const xml::ParseError& error) {
    lastError_ = "XML error: " + error.detail;
    log::info("s2s out {} -> {}: {}", local_, remote_, lastError_);
}

void OutgoingSession::onIdleTimeout() {
    close(StreamCondition::ConnectionTimeout, "idle");
}

void OutgoingSession::onClosed() {
    std::unique_ptr<stream::XmppStream> stream = std::move(stream_);
    const std::string why = !stream->errorText().empty() ? stream->errorText()
                            : stream->connected()        ? "connection closed"
                                                         : "connection failed";
    manager_.retire(std::move(stream));
    switch (state_) {
        case State::Closed:
            // Closed by us (idle, shutdown) while verifications were still out.
            failVerifies();
            manager_.outgoingClosed(RouteKey{local_, remote_}, id_);
            return;
        case State::Established: {
            log::info("s2s out {} -> {}: closed", local_, remote_);
            transitionTo(State::Closed);
            connectTimer_.reset();
            idleTimer_.reset();
            // Verifications still in flight cannot be answered any more.
            failVerifies();
            manager_.outgoingClosed(RouteKey{local_, remote_}, id_);
            return;
        }
        default:
            // Still setting up: this candidate failed; the next one is tried.
            if (lastError_.empty() || state_ == State::Connecting) {
                lastError_ = why;
            }
            log::debug("s2s out {} -> {}: attempt ended in state {}: {}", local_, remote_,
                       toString(state_), lastError_);
            for (auto& [sid, v] : std::exchange(verifiesSent_, {})) {
                verifiesToSend_.push_back(std::move(v));  // asked again on the next connection
            }
            connectNext();
            return;
    }
}

void OutgoingSession::close(StreamCondition condition, std::string_view text) {
    if (state_ == State::Closed) {
        return;
    }
    if (state_ != State::Established) {
        fail(condition == StreamCondition::SystemShutdown ? StanzaCondition::RemoteServerTimeout
                                                          : StanzaCondition::RemoteServerNotFound,
             std::string(text));
        return;
    }
    transitionTo(State::Closed);
    connectTimer_.reset();
    idleTimer_.reset();
    if (condition == StreamCondition::ConnectionTimeout) {
        stream_->close();  // idle: a plain goodbye
    } else {
        stream_->closeWithError(condition, text);
    }
    // onClosed() follows once the peer has answered (or after the close timeout).
}

// --- activity ---

void OutgoingSession::touch() {
    lastActivity_ = std::chrono::steady_clock::now();
}

bool OutgoingSession::send(xml::Element&& stanza) {
    if (state_ == State::Established) {
        stream_->send(stanza);
        touch();
        return true;
    }
    if (state_ == State::Closed || queue_.size() >= manager_.settings().queueMax) {
        return false;
    }
    queue_.push_back(std::move(stanza));
    return true;
}

void OutgoingSession::requestVerify(std::uint64_t incoming, std::string streamId, std::string key) {
    // Questions of streams that have closed since wait for nobody; dropping them keeps the map
    // as small as the streams that still wait.
    std::erase_if(verifiesSent_, [&](const auto& entry) {
        return manager_.findIncoming(entry.second.incoming) == nullptr;
    });
    verifiesToSend_.push_back(Verify{incoming, std::move(streamId), std::move(key)});
    if (state_ == State::Established || state_ == State::Dialback) {
        sendVerifies();
    }
}

void OutgoingSession::armIdleTimer(int seconds) {
    if (manager_.settings().idleTimeoutSeconds <= 0) {
        return;
    }
    if (!idleTimer_) {
        idleTimer_.reset(evtimer_new(
            manager_.base(),
            [](evutil_socket_t, short, void* arg) {
                static_cast<OutgoingSession*>(arg)->onIdleTimer();
            },
            this));
    }
    timeval tv{std::max(seconds, 1), 0};
    evtimer_add(idleTimer_.get(), &tv);
}

void OutgoingSession::onIdleTimer() {
    if (state_ != State::Established) {
        return;
    }
    const auto idle = std::chrono::steady_clock::now() - lastActivity_;
    const auto limit = std::chrono::seconds(manager_.settings().idleTimeoutSeconds);
    if (idle >= limit) {
        log::info("s2s out {} -> {}: idle for {} s, closing", local_, remote_, limit.count());
        close(StreamCondition::ConnectionTimeout, "idle");
        return;
    }
    armIdleTimer(static_cast<int>(std::chrono::ceil<std::chrono::seconds>(limit - idle).count()));
}

}  // namespace corvid::s2s
