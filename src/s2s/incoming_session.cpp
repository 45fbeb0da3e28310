#include "s2s/incoming_session.h"

#include "s2s/dialback.h"
#include "s2s/protocol.h"
#include "s2s/s2s_manager.h"
#include "sasl/base64.h"
#include "stanza/jid.h"
#include "stanza/ns.h"
#include "util/log.h"
#include "util/random.h"

namespace corvid::s2s {

namespace ns = stanza::ns;
using stanza::Jid;
using stanza::StanzaCondition;
using stanza::StreamCondition;

std::string_view toString(IncomingSession::State state) {
    switch (state) {
        case IncomingSession::State::AwaitingHeader:
            return "awaiting-header";
        case IncomingSession::State::Negotiating:
            return "negotiating";
        case IncomingSession::State::TlsHandshake:
            return "tls-handshake";
        case IncomingSession::State::Closed:
            return "closed";
    }
    return "?";
}

namespace {

// Dialback verifications one stream may have under way at once: each one may make us open a
// connection to another server.
constexpr std::size_t kMaxPendingDialback = 10;

stream::XmppStream::Options streamOptions(const S2sSettings& s) {
    stream::XmppStream::Options o;
    o.limits = s.preAuthLimits;
    o.maxOutputBytes = s.maxOutputBytes;
    o.contentNs = std::string(ns::kServer);
    o.idleTimeoutSeconds = s.idleTimeoutSeconds;
    return o;
}

std::string trim(std::string_view s) {
    const auto begin = s.find_first_not_of(" \t\r\n");
    if (begin == std::string_view::npos) {
        return {};
    }
    const auto end = s.find_last_not_of(" \t\r\n");
    return std::string(s.substr(begin, end - begin + 1));
}

std::optional<std::string> domainOf(std::string_view text) {
    if (text.empty()) {
        return std::nullopt;
    }
    auto d = stanza::prepDomainpart(text);
    return d ? std::optional<std::string>(std::move(*d)) : std::nullopt;
}

}  // namespace

IncomingSession::IncomingSession(S2sManager& manager, std::uint64_t id, evutil_socket_t fd,
                                 std::string peerAddress, bool directTls)
    : manager_(manager),
      id_(id),
      stream_(manager.base(), fd, std::move(peerAddress), *this, streamOptions(manager.settings()),
              directTls ? manager.newIncomingSsl() : nullptr) {
    armAuthTimer(manager_.settings().authTimeoutSeconds);
}

IncomingSession::~IncomingSession() = default;

void IncomingSession::armAuthTimer(int seconds) {
    if (seconds <= 0) {
        return;
    }
    if (!authTimer_) {
        authTimer_.reset(evtimer_new(
            manager_.base(),
            [](evutil_socket_t, short, void* arg) {
                static_cast<IncomingSession*>(arg)->onAuthTimer();
            },
            this));
    }
    timeval tv{seconds, 0};
    evtimer_add(authTimer_.get(), &tv);
}

void IncomingSession::onAuthTimer() {
    if (state_ == State::Closed || !authenticated_.empty()) {
        return;
    }
    if (!dialbackPending_.empty() && !authTimerExtended_) {
        // Our own connection to the authoritative server may still be setting up: it gets the
        // time it has for that, once; a verification that never comes back must not keep an
        // unauthenticated stream open.
        authTimerExtended_ = true;
        armAuthTimer(manager_.settings().connectTimeoutSeconds);
        return;
    }
    closeWithError(StreamCondition::ConnectionTimeout, "nothing authenticated in time");
}

void IncomingSession::transitionTo(State next) {
    log::trace("s2s in {} {}: {} -> {}", id_, stream_.peerAddress(), toString(state_),
               toString(next));
    state_ = next;
}

void IncomingSession::closeWithError(StreamCondition condition, std::string_view text) {
    log::info("s2s in {} {}: closing with <{}/>: {}", id_, stream_.peerAddress(),
              stanza::toString(condition), text);
    stream_.closeWithError(condition, text);
}

// --- stream events ---

void IncomingSession::onStreamHeader(xml::StreamHeader&& header) {
    if (state_ != State::AwaitingHeader) {
        closeWithError(StreamCondition::BadFormat, "unexpected stream header");
        return;
    }
    const std::string_view to = header.attr("to");
    auto domain = domainOf(to);
    const bool known = domain && manager_.isLocalDomain(*domain);
    auto from = domainOf(header.attr("from"));
    streamId_ = util::randomId(16);
    dialbackPending_.clear();  // their answers name the previous stream's id: dropped
    stream_.sendRaw(makeServerStreamHeader(known ? std::string_view(*domain) : std::string_view(),
                                           from ? std::string_view(*from) : std::string_view(),
                                           streamId_));
    stream_.markHeaderSent();

    if (header.defaultNs != ns::kServer) {
        closeWithError(StreamCondition::InvalidNamespace,
                       "the content namespace must be jabber:server");
        return;
    }
    const std::string_view version = header.attr("version");
    if (version.empty() || version.front() < '1') {
        closeWithError(StreamCondition::UnsupportedVersion, "XMPP 1.0 streams only");
        return;
    }
    if (!known) {
        closeWithError(StreamCondition::HostUnknown,
                       to.empty() ? "the stream header needs a 'to'"
                                  : "this server does not serve that domain");
        return;
    }
    if (!localDomain_.empty() && localDomain_ != *domain) {
        closeWithError(StreamCondition::HostUnknown, "the domain changed on a stream restart");
        return;
    }
    localDomain_ = *domain;
    if (from && !manager_.isLocalDomain(*from)) {
        headerFrom_ = *from;
    }
    sendFeatures();
    transitionTo(State::Negotiating);
}

void IncomingSession::sendFeatures() {
    const S2sSettings& settings = manager_.settings();
    xml::Element features("features", std::string(ns::kStreams));
    const bool tls = stream_.encrypted();
    if (!tls) {
        xml::Element& starttls = features.addChild("starttls", ns::kTls);
        if (settings.tlsRequired()) {
            starttls.addChild("required");
        }
    }
    externalOffered_ = false;
    if (tls && !saslDone_) {
        // XEP-0178 §3: EXTERNAL only when the certificate would be accepted.
        const CertCheck check = headerFrom_.empty()
                                    ? manager_.verifier().checkChain(stream_.ssl())
                                    : manager_.verifier().check(stream_.ssl(), headerFrom_);
        log::debug("s2s in {} {}: peer certificate {}{}{}", id_, stream_.peerAddress(),
                   toString(check.status), check.detail.empty() ? "" : ": ", check.detail);
        if (check.valid()) {
            features.addChild("mechanisms", ns::kSasl).addTextChild("mechanism", "EXTERNAL");
            externalOffered_ = true;
        }
    }
    if (settings.dialback && (tls || !settings.tlsRequired())) {
        // XEP-0220 §2.1: dialback is offered; <errors/> says we send dialback errors.
        features.addChild("dialback", ns::kDialbackFeature).addChild("errors");
    }
    stream_.send(features);
}

void IncomingSession::onStanza(xml::Element&& element) {
    if (state_ != State::Negotiating) {
        return;  // the parser has been restarted or stopped
    }
    const std::string& name = element.name();
    const std::string& elementNs = element.ns();
    if (isServerStanza(element)) {
        handleStanza(std::move(element));
        return;
    }
    if (elementNs == ns::kDialback && (name == "result" || name == "verify")) {
        if (element.hasAttr("type")) {
            // XEP-0220: verdicts travel on the originating server's stream, never on one the peer
            // opened to us; nobody asked for this one and it proves nothing.
            log::info("s2s in {} {}: ignored an unsolicited dialback {} (type '{}', from '{}')",
                      id_, stream_.peerAddress(), name, element.attr("type"), element.attr("from"));
            return;
        }
        if (name == "result") {
            handleDialbackRequest(element);
        } else {
            handleVerifyRequest(element);
        }
        return;
    }
    if (elementNs == ns::kTls && name == "starttls") {
        if (stream_.encrypted()) {
            closeWithError(StreamCondition::PolicyViolation, "TLS is already on");
            return;
        }
        handleStartTls();
        return;
    }
    if (elementNs == ns::kSasl && (name == "auth" || name == "response" || name == "abort")) {
        handleAuth(element);
        return;
    }
    if (elementNs == ns::kStreams && name == "error") {
        auto condition = stanza::parseStreamError(element);
        log::info("s2s in {} {}: peer sent stream error <{}/>", id_, stream_.peerAddress(),
                  stanza::toString(condition.value_or(StreamCondition::UndefinedCondition)));
        return;
    }
    closeWithError(StreamCondition::UnsupportedStanzaType, name);
}

void IncomingSession::onStreamEnd() {
    log::debug("s2s in {} {}: peer closed the stream", id_, stream_.peerAddress());
}

void IncomingSession::onParseError(const xml::ParseError& error) {
    log::info("s2s in {} {}: XML error: {}", id_, stream_.peerAddress(), error.detail);
}

void IncomingSession::onTlsReady() {
    log::debug("s2s in {} {}: TLS {} established", id_, stream_.peerAddress(),
               SSL_get_version(stream_.ssl()));
    if (state_ == State::TlsHandshake) {
        transitionTo(State::AwaitingHeader);
    }
}

void IncomingSession::onIdleTimeout() {
    closeWithError(StreamCondition::ConnectionTimeout, "no data for too long");
}

void IncomingSession::onClosed() {
    transitionTo(State::Closed);
    authTimer_.reset();
    manager_.incomingClosed(id_);
}

// --- TLS and SASL EXTERNAL (XEP-0178) ---

void IncomingSession::handleStartTls() {
    stream_.send(xml::Element("proceed", std::string(ns::kTls)));
    transitionTo(State::TlsHandshake);
    stream_.startTls(manager_.newIncomingSsl());
}

void IncomingSession::saslFailure(std::string_view condition, std::string_view text) {
    xml::Element failure("failure", std::string(ns::kSasl));
    failure.addChild(std::string(condition));
    if (!text.empty()) {
        failure.addTextChild("text", text);
    }
    stream_.send(failure);
    log::info("s2s in {} {}: SASL EXTERNAL failed <{}/>: {}", id_, stream_.peerAddress(), condition,
              text);
}

void IncomingSession::handleAuth(const xml::Element& auth) {
    if (auth.name() == "abort") {
        saslFailure("aborted", {});
        return;
    }
    if (!stream_.encrypted()) {
        saslFailure("encryption-required", "SASL EXTERNAL needs TLS");
        return;
    }
    if (saslDone_ || !externalOffered_) {
        saslFailure(saslDone_ ? "malformed-request" : "invalid-mechanism",
                    saslDone_ ? "already authenticated" : "EXTERNAL was not offered");
        return;
    }
    std::string authzid;
    if (auth.name() == "auth") {
        if (auth.attr("mechanism") != "EXTERNAL") {
            saslFailure("invalid-mechanism", {});
            return;
        }
        const std::string text = auth.text();
        if (text.empty()) {
            // RFC 6120 §6.4.2: no initial response; an empty challenge asks for it.
            stream_.send(xml::Element("challenge", std::string(ns::kSasl)));
            return;
        }
        auto decoded = sasl::decodeSaslData(text);
        if (!decoded) {
            saslFailure("incorrect-encoding", {});
            return;
        }
        authzid = std::move(*decoded);
    } else {
        auto decoded = sasl::decodeSaslData(auth.text());
        if (!decoded) {
            saslFailure("incorrect-encoding", {});
            return;
        }
        authzid = std::move(*decoded);
    }
    // XEP-0178 §3: the identity is the authzid, or the stream's 'from' without one.
    std::optional<std::string> identity =
        authzid.empty() ? domainOf(headerFrom_) : domainOf(authzid);
    if (!identity || manager_.isLocalDomain(*identity)) {
        saslFailure("invalid-authzid", "no valid domain to authenticate");
        return;
    }
    if (!headerFrom_.empty() && *identity != headerFrom_) {
        saslFailure("invalid-authzid", "the authzid differs from the stream's 'from'");
        return;
    }
    const CertCheck check = manager_.verifier().check(stream_.ssl(), *identity);
    if (!check.valid()) {
        saslFailure("not-authorized",
                    "certificate " + std::string(toString(check.status)) + " for " + *identity);
        return;
    }
    stream_.send(xml::Element("success", std::string(ns::kSasl)));
    saslDone_ = true;
    authenticated(*identity, "SASL EXTERNAL");
    stream_.restartStream();
    transitionTo(State::AwaitingHeader);
}

// --- dialback (XEP-0220) ---

void IncomingSession::handleDialbackRequest(const xml::Element& request) {
    const S2sSettings& settings = manager_.settings();
    if (!settings.dialback) {
        sendDialback(makeDialbackError(request, StanzaCondition::PolicyViolation,
                                       "dialback is disabled here"));
        return;
    }
    auto to = domainOf(request.attr("to"));
    if (!to || !manager_.isLocalDomain(*to)) {
        // XEP-0220 §2.4.1: the target domain is not served here.
        sendDialback(makeDialbackError(request, StanzaCondition::ItemNotFound));
        return;
    }
    if (*to != localDomain_) {
        // XEP-0220 §2.4.1: a target domain this stream was not opened for is, for this stream,
        // not served: target domains are not multiplexed on one stream.
        sendDialback(makeDialbackError(
            request, StanzaCondition::ItemNotFound,
            "this stream is for " + localDomain_ + "; open a stream to " + *to + " for it"));
        return;
    }
    auto from = domainOf(request.attr("from"));
    if (!from || manager_.isLocalDomain(*from)) {
        sendDialback(makeDialbackError(request, StanzaCondition::BadRequest,
                                       "'from' must be the peer's domain"));
        return;
    }
    const std::string key = trim(request.text());
    if (key.empty()) {
        sendDialback(makeDialbackError(request, StanzaCondition::BadRequest, "no key"));
        return;
    }
    if (authenticated_.contains(*from)) {
        sendDialback(makeDialbackResult(*to, *from, "valid"));
        return;
    }
    if (dialbackPending_.contains(*from)) {
        return;  // the first request's answer is on its way
    }
    const CertCheck check = manager_.verifier().check(stream_.ssl(), *from);
    if (check.valid()) {
        // XEP-0344 §2.4: a certificate valid for the domain proves more than the key would.
        sendDialback(makeDialbackResult(*to, *from, "valid"));
        authenticated(*from, "dialback with a valid certificate");
        return;
    }
    if (!settings.dialbackWithoutValidCertificate()) {
        log::info("s2s in {} {}: dialback for {} refused: certificate {}{}{}", id_,
                  stream_.peerAddress(), *from, toString(check.status),
                  check.detail.empty() ? "" : ": ", check.detail);
        sendDialback(makeDialbackError(request, StanzaCondition::NotAuthorized,
                                       "a certificate valid for " + *from + " is required"));
        return;
    }
    if (dialbackPending_.size() >= kMaxPendingDialback) {
        sendDialback(makeDialbackError(request, StanzaCondition::ResourceConstraint,
                                       "too many dialback requests under way on this stream"));
        return;
    }
    dialbackPending_.insert(*from);
    log::debug("s2s in {} {}: verifying the dialback key of {} with its server", id_,
               stream_.peerAddress(), *from);
    manager_.verifyKey(id_, *to, *from, streamId_, key);
}

void IncomingSession::dialbackAnswered(const std::string& local, const std::string& remote,
                                       const std::string& streamId, DialbackVerdict verdict) {
    if (state_ == State::Closed || streamId != streamId_ || local != localDomain_ ||
        dialbackPending_.erase(remote) == 0) {
        // Asked for a stream that has closed or restarted since (a restart clears the pending
        // set), or answered already: nobody waits for this answer.
        return;
    }
    switch (verdict) {
        case DialbackVerdict::Valid:
            sendDialback(makeDialbackResult(local, remote, "valid"));
            authenticated(remote, "dialback");
            return;
        case DialbackVerdict::Invalid:
            log::info("s2s in {} {}: dialback key of {} is invalid", id_, stream_.peerAddress(),
                      remote);
            sendDialback(makeDialbackResult(local, remote, "invalid"));
            return;
        case DialbackVerdict::Error: {
            xml::Element request = makeDialbackResult(remote, local, {});
            sendDialback(makeDialbackError(request, StanzaCondition::RemoteServerNotFound,
                                           "cannot reach the authoritative server"));
            return;
        }
    }
}

void IncomingSession::handleVerifyRequest(const xml::Element& request) {
    // We are the authoritative server: is this key one we made for that stream?
    auto to = domainOf(request.attr("to"));
    auto from = domainOf(request.attr("from"));
    const std::string id(request.attr("id"));
    if (!to || !manager_.isLocalDomain(*to)) {
        sendDialback(makeDialbackError(request, StanzaCondition::ItemNotFound));
        return;
    }
    if (!from || id.empty()) {
        sendDialback(makeDialbackError(request, StanzaCondition::BadRequest));
        return;
    }
    const std::string expected = dialbackKey(manager_.dialbackSecret(), *from, *to, id);
    const bool valid = keysEqual(expected, trim(request.text()));
    log::debug("s2s in {} {}: dialback verify from {} for stream {}: {}", id_,
               stream_.peerAddress(), *from, id, valid ? "valid" : "invalid");
    sendDialback(makeDialbackVerify(*to, *from, id, valid ? "valid" : "invalid"));
}

void IncomingSession::sendDialback(const xml::Element& element) {
    stream_.sendRaw(serializeDialback(element));
}

void IncomingSession::authenticated(const std::string& domain, std::string_view how) {
    authenticated_.insert(domain);
    authTimer_.reset();
    stream_.setLimits(manager_.settings().limits);
    log::info("s2s in {} {}: {} authenticated for {} ({})", id_, stream_.peerAddress(), domain,
              localDomain_, how);
}

// --- stanzas (RFC 6120 §8.1.1.2, §13.1) ---

void IncomingSession::handleStanza(xml::Element&& stanza) {
    if (authenticated_.empty()) {
        closeWithError(StreamCondition::NotAuthorized,
                       "no domain has been authenticated on this stream");
        return;
    }
    const std::string* fromAttr = stanza.findAttr("from");
    const std::string* toAttr = stanza.findAttr("to");
    if (fromAttr == nullptr || toAttr == nullptr) {
        closeWithError(StreamCondition::ImproperAddressing,
                       "stanzas between servers need 'from' and 'to'");
        return;
    }
    auto from = Jid::parse(*fromAttr);
    auto to = Jid::parse(*toAttr);
    if (!from || !to) {
        closeWithError(StreamCondition::ImproperAddressing, "malformed 'from' or 'to'");
        return;
    }
    if (!authenticated_.contains(from->domain())) {
        closeWithError(StreamCondition::InvalidFrom,
                       std::string(from->domain()) + " has not been authenticated on this stream");
        return;
    }
    if (!manager_.isLocalDomain(to->domain())) {
        closeWithError(StreamCondition::HostUnknown,
                       std::string(to->domain()) + " is not served here");
        return;
    }
    toClientNamespace(stanza);
    manager_.router().route(std::move(stanza), nullptr);
}

}  // namespace corvid::s2s
