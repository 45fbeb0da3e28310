#include "c2s/client_stream.h"

#include "c2s/client_session.h"
#include "c2s/xmpp_stream_connection.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "c2s/auth_throttle.h"
#include "net/tls_context.h"
#include "sasl/base64.h"
#include "stanza/ns.h"
#include "util/log.h"
#include "util/random.h"
#include "xml/serializer.h"

namespace corvid::c2s {

using stanza::Jid;
using stanza::StanzaCondition;
using stanza::StreamCondition;
namespace ns = stanza::ns;

// XEP-0440 SASL channel-binding type capability.
constexpr std::string_view kSaslCb = "urn:xmpp:sasl-cb:0";

std::string_view toString(ClientStream::State state) {
    switch (state) {
        case ClientStream::State::Connected:
            return "connected";
        case ClientStream::State::Negotiating:
            return "negotiating";
        case ClientStream::State::TlsHandshake:
            return "tls-handshake";
        case ClientStream::State::Authenticating:
            return "authenticating";
        case ClientStream::State::AwaitingBind:
            return "awaiting-bind";
        case ClientStream::State::Established:
            return "established";
        case ClientStream::State::Closed:
            return "closed";
    }
    return "?";
}

namespace {

stream::XmppStream::Options streamOptions(const C2sSettings& s) {
    stream::XmppStream::Options o;
    o.limits = s.preAuthLimits;
    o.maxOutputBytes = s.maxOutputBytes;
    o.contentNs = std::string(ns::kClient);
    o.idleTimeoutSeconds = 0;  // the auth timer covers the time before authentication
    return o;
}

xml::Element saslElement(std::string name, std::string_view data) {
    xml::Element e(std::move(name), std::string(ns::kSasl));
    e.addText(sasl::encodeSaslData(data));
    return e;
}

xml::Element iqResult(const xml::Element& request) {
    xml::Element result("iq", std::string(ns::kClient));
    result.setAttr("type", "result");
    result.setAttr("id", std::string(request.attr("id")));
    return result;
}

}  // namespace

ClientStream::ClientStream(StreamHost& host, StreamId id, evutil_socket_t fd,
                           std::string peerAddress, bool directTls)
    : host_(host),
      id_(id),
      conn_(std::make_unique<XmppStreamConnection>(
          host.base(), fd, std::move(peerAddress), static_cast<stream::XmppStream::Owner&>(*this),
          streamOptions(host.c2sSettings()), directTls ? host.tls().newServerSsl() : nullptr)),
      sasl_(std::make_unique<SaslState>()) {
    startAuthTimer();
}

ClientStream::ClientStream(StreamHost& host, StreamId id, ConnectionFactory connect)
    : host_(host), id_(id), sasl_(std::make_unique<SaslState>()) {
    conn_ = connect(static_cast<stream::XmppStream::Owner&>(*this));
    startAuthTimer();
}

ClientStream::~ClientStream() {
    if (sasl_ && sasl_->job) {
        host_.workers().cancel(*sasl_->job);
    }
}

namespace {

/// The transitions of RFC 6120's negotiation (§4.3 stream restarts after TLS and SASL): from
/// each state, where it may go. Closed is reachable from everywhere.
bool allowed(ClientStream::State from, ClientStream::State to) {
    using S = ClientStream::State;
    if (to == S::Closed) {
        return true;
    }
    switch (from) {
        case S::Connected:  // the header: features for TLS/SASL, or for binding after SASL
            return to == S::Negotiating || to == S::AwaitingBind;
        case S::Negotiating:
            return to == S::TlsHandshake || to == S::Authenticating;
        case S::TlsHandshake:  // the new stream after the handshake
            return to == S::Connected;
        case S::Authenticating:  // failure or abort, or success and a stream restart
            return to == S::Negotiating || to == S::Connected;
        case S::AwaitingBind:
            return to == S::Established;
        case S::Established:
        case S::Closed:
            return false;
    }
    return false;
}

}  // namespace

bool ClientStream::transitionTo(State next) {
    if (next == state_) {
        return true;
    }
    if (!allowed(state_, next)) {
        log::error("c2s {} {}: no transition {} -> {}; closing", id_, conn_->peerAddress(),
                   toString(state_), toString(next));
        closeWithError(StreamCondition::InternalServerError, "negotiation went wrong");
        return false;
    }
    log::trace("c2s {} {}: {} -> {}", id_, conn_->peerAddress(), toString(state_), toString(next));
    state_ = next;
    return true;
}

void ClientStream::startAuthTimer() {
    // Two deadlines, one timer: the stream header within streamHeaderTimeoutSeconds, and the
    // whole negotiation (TLS, SASL, bind) within authTimeoutSeconds of connecting. A client
    // dribbling a byte every few seconds (slowloris) is gone after the first.
    const C2sSettings& s = host_.c2sSettings();
    const int first = std::min(s.streamHeaderTimeoutSeconds, s.authTimeoutSeconds);
    authTimer_.reset(evtimer_new(
        host_.base(),
        [](evutil_socket_t, short, void* arg) { static_cast<ClientStream*>(arg)->onDeadline(); },
        this));
    const timeval tv{first, 0};
    evtimer_add(authTimer_.get(), &tv);
}

void ClientStream::onDeadline() {
    if (state_ == State::Established) {
        return;
    }
    const C2sSettings& s = host_.c2sSettings();
    if (!pastHeaderDeadline_) {
        pastHeaderDeadline_ = true;
        if (domain_.empty()) {
            log::info("c2s {} {}: no stream header within {} s; closing", id_, conn_->peerAddress(),
                      std::min(s.streamHeaderTimeoutSeconds, s.authTimeoutSeconds));
            closeWithError(StreamCondition::ConnectionTimeout, "no stream header in time");
            return;
        }
        if (s.authTimeoutSeconds > s.streamHeaderTimeoutSeconds) {
            const timeval rest{s.authTimeoutSeconds - s.streamHeaderTimeoutSeconds, 0};
            evtimer_add(authTimer_.get(), &rest);
            return;
        }
    }
    log::info("c2s {} {}: not authenticated within {} s; closing", id_, conn_->peerAddress(),
              s.authTimeoutSeconds);
    closeWithError(StreamCondition::ConnectionTimeout,
                   authenticated_ ? "no resource bound in time" : "authentication took too long");
}

// --- stream events ---

void ClientStream::onStreamHeader(xml::StreamHeader&& header) {
    if (state_ != State::Connected) {
        closeWithError(StreamCondition::BadFormat, "unexpected stream header");
        return;
    }
    const std::string_view to = header.attr("to");
    auto domain = stanza::prepDomainpart(to);
    const bool known = domain && host_.router().isLocalDomain(*domain);
    std::string from;
    if (auto peer = Jid::parse(header.attr("from")); peer && !header.attr("from").empty()) {
        from = peer->full();
    }
    // RFC 6120 §4.7.1: our header answers with our own domain as 'from' when we know it. Nothing
    // reads the stream id later, so it is not kept.
    const std::string streamId = util::randomId(16);
    conn_->sendStreamHeader(known ? std::string_view(*domain) : "", from, streamId, "en");

    if (header.defaultNs != ns::kClient) {
        closeWithError(StreamCondition::InvalidNamespace,
                       "the content namespace must be jabber:client");
        return;
    }
    if (to.empty()) {
        closeWithError(StreamCondition::ImproperAddressing, "the stream header needs a 'to'");
        return;
    }
    if (!known) {
        closeWithError(StreamCondition::HostUnknown, "this server does not serve that domain");
        return;
    }
    if (!domain_.empty() && domain_ != *domain) {
        closeWithError(StreamCondition::HostUnknown, "the domain changed on a stream restart");
        return;
    }
    // RFC 6120 §4.7.5: without version='1.0' there are no stream features to offer.
    const std::string_view version = header.attr("version");
    if (version.empty() || version.front() < '1') {
        closeWithError(StreamCondition::UnsupportedVersion, "XMPP 1.0 streams only");
        return;
    }
    domain_ = *domain;
    sendFeatures();
    transitionTo(authenticated_ ? State::AwaitingBind : State::Negotiating);
}

void ClientStream::sendFeatures() {
    xml::Element features("features", std::string(xml::kStreamNs));
    const C2sSettings& settings = host_.c2sSettings();
    if (authenticated_) {
        features.addChild("bind", ns::kBind);
        // RFC 6121 §B: legacy session establishment, optional since RFC 6121.
        features.addChild("session", ns::kSession).addChild("optional");
        for (auto& extra : host_.postAuthFeatures()) {
            features.addChild(std::move(extra));
        }
    } else {
        const bool tls = conn_->encrypted();
        if (!tls && conn_->canStartTls()) {
            xml::Element& starttls = features.addChild("starttls", ns::kTls);
            if (!settings.allowPlaintext) {
                starttls.addChild("required");
            }
        }
        if (tls || settings.allowPlaintext) {
            const sasl::ChannelBindings bindings = channelBindings();
            sasl_->offered = sasl::mechanismsToOffer(settings.mechanisms, tls, bindings);
            xml::Element& mechs = features.addChild("mechanisms", ns::kSasl);
            for (const auto& m : sasl_->offered) {
                mechs.addTextChild("mechanism", m);
            }
            // XEP-0077: registration is offered only when the module enables it.
            if (host_.router().hooks().findPreAuthIq(ns::kRegister) != nullptr) {
                features.addChild("register", "http://jabber.org/features/iq-register");
            }
            // XEP-0440: which channel-binding types -PLUS may use here.
            auto types = sasl::channelBindingTypes(bindings);
            if (!types.empty()) {
                xml::Element& cb = features.addChild("sasl-channel-binding", kSaslCb);
                for (const auto& t : types) {
                    cb.addChild("channel-binding").setAttr("type", t);
                }
            }
        }
    }
    conn_->send(features);
}

void ClientStream::onStanza(xml::Element&& element) {
    switch (state_) {
        case State::Established:
            if (session_ != nullptr) {
                session_->fromClient(std::move(element));
            }
            return;
        case State::Connected:
        case State::Closed:
        case State::TlsHandshake:
            return;  // nothing may arrive here; the parser has been restarted or stopped
        default:
            handleNegotiation(std::move(element));
            return;
    }
}

void ClientStream::onStreamEnd() {
    if (session_ != nullptr) {
        session_->clientClosedStream();  // a clean end: the client does not want resumption
    }
    log::debug("c2s {}: client closed the stream", id_);
}

void ClientStream::onParseError(const xml::ParseError& error) {
    log::info("c2s {} {}: XML error: {}", id_, conn_->peerAddress(), error.detail);
}

void ClientStream::onTlsReady() {
    if (SSL* ssl = conn_->bindingTls()) {
        log::debug("c2s {}: TLS {} established", id_, SSL_get_version(ssl));
    }
    if (state_ == State::TlsHandshake) {
        transitionTo(State::Connected);
    }
}

void ClientStream::onIdleTimeout() {
    closeWithError(StreamCondition::ConnectionTimeout, "no data for too long");
}

void ClientStream::onClosed() {
    transitionTo(State::Closed);
    authTimer_.reset();
    if (ClientSession* session = std::exchange(session_, nullptr)) {
        session->transportGone();
    }
    host_.streamFinished(id_);
}

void ClientStream::sessionLeft() {
    session_ = nullptr;
    if (state_ == State::Established && !conn_->closing()) {
        // Nothing to carry any more (the session moved to another transport or ended).
        conn_->close();
    }
}

void ClientStream::closeWithError(StreamCondition condition, std::string_view text) {
    log::debug("c2s {}: closing with <{}/>: {}", id_, stanza::toString(condition), text);
    conn_->closeWithError(condition, text);
}

// --- negotiation ---

void ClientStream::handleNegotiation(xml::Element&& element) {
    const std::string& name = element.name();
    const std::string& elementNs = element.ns();
    const bool tls = conn_->encrypted();
    const C2sSettings& settings = host_.c2sSettings();

    if (elementNs == ns::kTls && name == "starttls") {
        if (tls || authenticated_ || state_ != State::Negotiating || !conn_->canStartTls()) {
            conn_->send(xml::Element("failure", std::string(ns::kTls)));
            conn_->close();
            return;
        }
        handleStartTls();
        return;
    }
    if (!tls && !settings.allowPlaintext) {
        // RFC 6120 §5.3.1: TLS is mandatory-to-negotiate here.
        if (elementNs == ns::kSasl && name == "auth") {
            saslFailure(sasl::Failure::EncryptionRequired);
            return;
        }
        closeWithError(StreamCondition::PolicyViolation,
                       "encryption-required: negotiate STARTTLS first");
        return;
    }
    if (elementNs == ns::kSasl && !authenticated_) {
        if (name == "auth") {
            handleAuth(element);
        } else if (name == "response") {
            handleSaslResponse(element);
        } else if (name == "abort") {
            saslFailure(sasl::Failure::Aborted);  // RFC 6120 §6.4.4
        } else {
            saslFailure(sasl::Failure::MalformedRequest);
        }
        return;
    }
    if (state_ == State::Negotiating && elementNs == ns::kClient && name == "iq") {
        // XEP-0077: in-band registration (when enabled) happens before authentication.
        const xml::Element* payload = element.firstChildElement();
        const auto* handler =
            payload ? host_.router().hooks().findPreAuthIq(payload->ns()) : nullptr;
        if (handler != nullptr && !element.attr("id").empty()) {
            StreamHost& host = host_;
            const StreamId id = id_;
            (*handler)(element, domain_, conn_->peerAddress(), [&host, id](xml::Element reply) {
                if (ClientStream* self = host.findStream(id);
                    self != nullptr && self->state_ == State::Negotiating) {
                    self->conn_->send(reply);
                }
            });
            return;
        }
    }
    if (state_ == State::AwaitingBind && elementNs == kSmNs && host_.c2sSettings().sm.enabled) {
        handleSmBeforeBind(element);
        return;
    }
    if (state_ == State::AwaitingBind && elementNs == ns::kClient && name == "iq") {
        const xml::Element* bind = element.findChild("bind", ns::kBind);
        if (bind != nullptr && element.attr("type") == "set") {
            handleBind(element);
            return;
        }
    }
    // RFC 6120 §7.1 / §6.4.?: no stanzas before authentication and binding.
    closeWithError(StreamCondition::NotAuthorized,
                   authenticated_ ? "bind a resource first" : "authenticate first");
}

void ClientStream::handleStartTls() {
    conn_->send(xml::Element("proceed", std::string(ns::kTls)));
    transitionTo(State::TlsHandshake);
    conn_->startTls(host_.tls().newServerSsl());
}

sasl::ChannelBindings ClientStream::channelBindings() const {
    sasl::ChannelBindings b;
    if (SSL* ssl = conn_->bindingTls()) {
        b.tlsExporter = net::TlsContexts::tlsExporter(ssl);
        b.tlsServerEndPoint = net::TlsContexts::tlsServerEndPoint(ssl);
        b.tlsUnique = net::TlsContexts::tlsUnique(ssl);
    }
    return b;
}

void ClientStream::handleAuth(const xml::Element& auth) {
    if (state_ == State::Authenticating) {
        saslFailure(sasl::Failure::MalformedRequest, "an exchange is already running");
        return;
    }
    if (host_.authThrottle().ipBlocked(conn_->peerAddress())) {
        saslFailure(sasl::Failure::TemporaryAuthFailure,
                    "too many failed attempts from your address; try again later");
        return;
    }
    const std::string mechanismName(auth.attr("mechanism"));
    // RFC 6120 §6.4.2: only what the features offered on this stream (PLAIN is never offered
    // without TLS); an empty list offers nothing, it does not mean "anything".
    if (std::find(sasl_->offered.begin(), sasl_->offered.end(), mechanismName) ==
        sasl_->offered.end()) {
        saslFailure(sasl::Failure::InvalidMechanism);
        return;
    }
    const C2sSettings& settings = host_.c2sSettings();
    sasl::MechanismOptions options;
    options.bindings = channelBindings();
    options.offered = sasl_->offered;
    options.offeredChannelBindings = sasl::channelBindingTypes(options.bindings);
    options.fakeSaltSecret = settings.fakeSaltSecret;
    options.fakeIterations = settings.scramIterations;
    options.prepUsername = [](std::string_view name) -> std::optional<std::string> {
        auto prepped = stanza::prepLocalpart(name);
        return prepped ? std::optional<std::string>(std::move(*prepped)) : std::nullopt;
    };
    options.prepPassword = [](std::string_view password) -> std::optional<std::string> {
        auto prepped = stanza::prepOpaqueString(password);
        return prepped ? std::optional<std::string>(std::move(*prepped)) : std::nullopt;
    };
    sasl::MechanismPtr mechanism = sasl::makeMechanism(mechanismName, options);
    if (!mechanism) {
        saslFailure(sasl::Failure::InvalidMechanism);
        return;
    }
    endExchange();  // (none is running here; this only makes the new exchange's id fresh)
    sasl_->mechanism = std::move(mechanism);
    // RFC 6120 §6.4.2: no text = no initial response; "=" = an empty one.
    const std::string text = auth.text();
    std::optional<std::string> initial;
    if (!text.empty()) {
        initial = sasl::decodeSaslData(text);
        if (!initial) {
            saslFailure(sasl::Failure::IncorrectEncoding);
            return;
        }
    }
    transitionTo(State::Authenticating);
    handleSaslStep(sasl_->mechanism->start(initial ? std::optional<std::string_view>(*initial)
                                                   : std::nullopt));
}

void ClientStream::handleSaslResponse(const xml::Element& response) {
    if (state_ != State::Authenticating || !sasl_->mechanism || sasl_->awaitingCredentials) {
        saslFailure(sasl::Failure::MalformedRequest, "no challenge is pending");
        return;
    }
    auto data = sasl::decodeSaslData(response.text());
    if (!data) {
        saslFailure(sasl::Failure::IncorrectEncoding);
        return;
    }
    handleSaslStep(sasl_->mechanism->respond(*data));
}

void ClientStream::handleSaslStep(sasl::Step step) {
    using Kind = sasl::Step::Kind;
    switch (step.kind) {
        case Kind::Challenge:
            conn_->send(saslElement("challenge", step.data));
            return;
        case Kind::NeedCredentials: {
            auto user = stanza::prepLocalpart(step.username);
            sasl_->user = user ? *user : step.username;
            AuthThrottle& throttle = host_.authThrottle();
            const std::string account = sasl_->user + "@" + domain_;
            if (!user || throttle.pairBlocked(conn_->peerAddress(), account)) {
                // Invalid names, and accounts this address has failed for too often, take the
                // unknown-user path: the client sees the same exchange and the same failure as
                // for a wrong password.
                handleSaslStep(sasl_->mechanism->provideCredentials(std::nullopt));
                return;
            }
            sasl_->awaitingCredentials = true;
            const auto delay = throttle.accountDelay(account);
            if (delay.count() == 0) {
                lookUpCredentials();
                return;
            }
            // Under attack from elsewhere: slowed down, not refused (AuthThrottle).
            sasl_->delay.reset(evtimer_new(
                host_.base(),
                [](evutil_socket_t, short, void* arg) {
                    static_cast<ClientStream*>(arg)->lookUpCredentials();
                },
                this));
            const timeval tv{static_cast<time_t>(delay.count() / 1000),
                             static_cast<suseconds_t>(delay.count() % 1000 * 1000)};
            evtimer_add(sasl_->delay.get(), &tv);
            return;
        }
        case Kind::Success: {
            auto user = stanza::prepLocalpart(step.username);
            auto bare = user ? Jid::make(*user, domain_, "") : std::unexpected(user.error());
            if (!bare) {
                saslFailure(sasl::Failure::NotAuthorized);
                return;
            }
            // Credentials prove only the account they were looked up for. The exchange-id checks
            // keep late results away from other exchanges; this is the last line behind them.
            if (sasl_->user.empty() || *user != sasl_->user) {
                log::error("c2s {} {}: SASL success for '{}' with the credentials of '{}'; refused",
                           id_, conn_->peerAddress(), *user, sasl_->user);
                saslFailure(sasl::Failure::NotAuthorized);
                return;
            }
            if (!step.authzid.empty()) {
                // RFC 6120 §6.3.8: we only let a user act as themselves.
                auto authz = Jid::parse(step.authzid);
                if (!authz || *authz != *bare) {
                    saslFailure(sasl::Failure::InvalidAuthzid);
                    return;
                }
            }
            if (step.data.empty()) {
                conn_->send(xml::Element("success", std::string(ns::kSasl)));
            } else {
                conn_->send(saslElement("success", step.data));
            }
            log::info("c2s {} {}: authenticated as {}@{} ({})", id_, conn_->peerAddress(), *user,
                      domain_, sasl_->mechanism->name());
            authenticated_ = true;
            user_ = std::move(*bare);  // the resource comes with binding
            // No SASL on this stream any more (RFC 6120 §6.4.6).
            sasl_.reset();
            conn_->setLimits(host_.c2sSettings().limits);
            conn_->restartStream();
            transitionTo(State::Connected);
            return;
        }
        case Kind::Failure:
            saslFailure(step.failure, {});
            return;
    }
}

void ClientStream::lookUpCredentials() {
    StreamHost& host = host_;
    const StreamId id = id_;
    const std::uint64_t exchange = sasl_->exchange;
    host_.lookupCredentials(sasl_->user, domain_, [&host, id, exchange](CredentialsResult result) {
        if (ClientStream* self = host.findStream(id)) {
            self->onCredentials(exchange, std::move(result));
        }
    });
}

bool ClientStream::awaiting(std::uint64_t exchange) const {
    return sasl_ && sasl_->awaitingCredentials && sasl_->exchange == exchange && sasl_->mechanism &&
           state_ == State::Authenticating;
}

void ClientStream::onCredentials(std::uint64_t exchange, CredentialsResult result) {
    if (!awaiting(exchange)) {
        return;  // that exchange was aborted, failed or replaced meanwhile
    }
    if (!result) {
        // RFC 6120 §6.5.12: the database is away; the client may retry later.
        saslFailure(sasl::Failure::TemporaryAuthFailure, "account database unavailable");
        return;
    }
    if (sasl_->mechanism->name() != "PLAIN") {
        sasl_->awaitingCredentials = false;
        handleSaslStep(sasl_->mechanism->provideCredentials(std::move(*result)));
        return;
    }
    // PLAIN derives keys from the password (PBKDF2, thousands of rounds): a worker does it, the
    // loop goes on. The mechanism travels with the job and comes back with the step.
    struct Check {
        sasl::MechanismPtr mechanism;
        sasl::Step step;
    };
    auto check = std::make_unique<Check>();
    check->mechanism = std::move(sasl_->mechanism);
    Check* job = check.get();
    StreamHost& host = host_;
    const StreamId id = id_;
    const auto posted = host_.workers().post(
        [job, credentials = std::move(*result)]() mutable {
            job->step = job->mechanism->provideCredentials(std::move(credentials));
        },
        [check = std::move(check), &host, id, exchange]() mutable {
            if (ClientStream* self = host.findStream(id)) {
                self->onPlainChecked(exchange, std::move(check->mechanism), std::move(check->step));
            }
        });
    if (!posted) {
        // RFC 6120 §6.5.12: too many passwords are being hashed; the client may retry later.
        saslFailure(sasl::Failure::TemporaryAuthFailure, "the server is busy; try again later");
        return;
    }
    sasl_->job = posted;
}

void ClientStream::onPlainChecked(std::uint64_t exchange, sasl::MechanismPtr mechanism,
                                  sasl::Step step) {
    // While the worker held the mechanism, sasl_->mechanism was empty: an <abort/> or a new
    // <auth/> meanwhile bumped the exchange id, which is what tells them apart.
    if (!sasl_ || !sasl_->awaitingCredentials || sasl_->exchange != exchange || sasl_->mechanism ||
        state_ != State::Authenticating) {
        return;
    }
    sasl_->awaitingCredentials = false;
    sasl_->job.reset();
    sasl_->mechanism = std::move(mechanism);
    handleSaslStep(std::move(step));
}

void ClientStream::endExchange() {
    ++sasl_->exchange;
    sasl_->delay.reset();
    // Nobody waits for its check any more: a job still queued never costs its PBKDF2.
    if (sasl_->job) {
        host_.workers().cancel(*std::exchange(sasl_->job, std::nullopt));
    }
    sasl_->mechanism.reset();
    sasl_->awaitingCredentials = false;
    sasl_->user.clear();
}

void ClientStream::saslFailure(sasl::Failure failure, std::string_view text) {
    xml::Element e("failure", std::string(ns::kSasl));
    e.addChild(std::string(sasl::toString(failure)));
    if (!text.empty()) {
        e.addTextChild("text", text);
    }
    conn_->send(e);
    if (!sasl_) {
        return;  // authenticated already: no exchange to end (not expected to happen)
    }
    // Only exchanges that got as far as looking credentials up count against the throttle.
    // Failing earlier costs the server nothing and guesses nothing: a client probing which
    // channel binding works (slixmpp tries p=tls-unique, then the "y" flag, then PLAIN) must not
    // lock itself out.
    const bool lookedUp = !sasl_->user.empty();
    if (lookedUp &&
        (failure == sasl::Failure::NotAuthorized || failure == sasl::Failure::InvalidAuthzid)) {
        host_.authThrottle().recordFailure(conn_->peerAddress(), sasl_->user + "@" + domain_);
        log::info("c2s {} {}: authentication failed for '{}'", id_, conn_->peerAddress(),
                  sasl_->user);
    } else if (lookedUp && state_ == State::Authenticating &&
               failure != sasl::Failure::TemporaryAuthFailure) {
        // An exchange abandoned after its look-up (<abort/>, a second <auth/>, garbage) counts
        // against the address like a failure: otherwise starting and abandoning exchanges would
        // be a free way to make the server look credentials up and derive keys over and over.
        host_.authThrottle().recordFailure(conn_->peerAddress(), "");
    }
    endExchange();
    if (state_ == State::Authenticating) {
        transitionTo(State::Negotiating);
    }
}

// --- resource binding (RFC 6120 §7) ---

void ClientStream::handleSmBeforeBind(const xml::Element& element) {
    auto failed = [&](std::string_view condition, std::string_view text) {
        xml::Element f("failed", std::string(kSmNs));
        f.addChild(std::string(condition), std::string(ns::kStanzas));
        f.addChild("text", std::string(ns::kStanzas)).addText(std::string(text));
        conn_->send(f);
    };
    if (element.name() != "resume") {
        // <enable/> needs a bound resource (XEP-0198 §3); so does everything else.
        failed("unexpected-request", "bind a resource (or resume a session) first");
        return;
    }
    const std::string_view previd = element.attr("previd");
    const std::string_view hText = element.attr("h");
    std::uint32_t h = 0;
    const auto [end, ec] = std::from_chars(hText.data(), hText.data() + hText.size(), h);
    if (previd.empty() || hText.empty() || ec != std::errc() ||
        end != hText.data() + hText.size()) {
        failed("bad-request", "<resume/> needs previd and h");
        return;
    }
    auto resumed = host_.resume(previd, *user_, h, *this);
    if (!resumed) {
        log::info("c2s {} {}: no session {} of {} to resume", id_, conn_->peerAddress(), previd,
                  user_->full());
        failed("item-not-found", "that session is gone or was never yours; bind a new one");
        return;
    }
    session_ = *resumed;
    transitionTo(State::Established);
    authTimer_.reset();
    conn_->setIdleTimeout(host_.c2sSettings().idleTimeoutSeconds);
    xml::Element ok("resumed", std::string(kSmNs));
    ok.setAttr("previd", std::string(previd));
    ok.setAttr("h", std::to_string(session_->smInbound()));
    conn_->send(ok);
    log::info("c2s {} {}: resumed {} ({} unacknowledged sent again)", id_, conn_->peerAddress(),
              session_->jid().full(), session_->smUnacked());
    session_->resendUnacked();
}

void ClientStream::handleBind(const xml::Element& iq) {
    auto reply = [&](StanzaCondition condition, std::string_view text) {
        xml::Element error = stanza::makeStanzaError(iq, condition, text);
        error.removeAttr("from");
        conn_->send(error);
    };
    const xml::Element* bind = iq.findChild("bind", ns::kBind);
    std::string requested = bind->childText("resource");
    std::string resource;
    if (requested.empty()) {
        resource = util::randomId(12);
    } else {
        auto prepped = stanza::prepResourcepart(requested);
        if (!prepped) {
            reply(StanzaCondition::BadRequest, prepped.error().reason);
            return;
        }
        resource = std::move(*prepped);
    }
    const std::string_view username = user_->local();
    auto full = Jid::make(username, domain_, resource);
    if (!full) {
        reply(StanzaCondition::BadRequest, full.error().reason);
        return;
    }
    auto session = host_.bind(std::move(*full), *this);
    if (!session) {
        reply(session.error().condition, session.error().text);
        return;
    }
    session_ = *session;
    transitionTo(State::Established);
    authTimer_.reset();
    conn_->setIdleTimeout(host_.c2sSettings().idleTimeoutSeconds);
    xml::Element result = iqResult(iq);
    result.addChild("bind", ns::kBind).addTextChild("jid", session_->jid().full());
    conn_->send(result);
    log::info("c2s {} {}: bound {}", id_, conn_->peerAddress(), session_->jid().full());
    session_->announce();  // after the result: what modules send on Bound comes after it
}

}  // namespace corvid::c2s
