#include "component/component_session.h"

#include "component/component_manager.h"
#include "component/handshake.h"
#include "stanza/jid.h"
#include "stanza/ns.h"
#include "util/log.h"

namespace corvid::component {

namespace ns = stanza::ns;
using stanza::Jid;
using stanza::StreamCondition;

std::string_view toString(ComponentSession::State state) {
    switch (state) {
        case ComponentSession::State::AwaitingHeader:
            return "awaiting-header";
        case ComponentSession::State::AwaitingHandshake:
            return "awaiting-handshake";
        case ComponentSession::State::Established:
            return "established";
        case ComponentSession::State::Closed:
            return "closed";
    }
    return "?";
}

namespace {

stream::XmppStream::Options streamOptions(const ComponentSettings& s) {
    stream::XmppStream::Options o;
    o.limits = s.preAuthLimits;
    o.maxOutputBytes = s.maxOutputBytes;
    o.contentNs = std::string(ns::kComponentAccept);
    // Components are often quiet for long; a silent one is not a dead one. A dead connection
    // is replaced when the component reconnects.
    o.idleTimeoutSeconds = 0;
    return o;
}

bool isComponentStanza(const xml::Element& e) {
    const std::string& name = e.name();
    return e.ns() == ns::kComponentAccept &&
           (name == "message" || name == "presence" || name == "iq");
}

/// Stanzas enter the router in jabber:client: the stanza and its children in the component
/// namespace move there; payloads in their own namespaces are left alone.
void toClientNamespace(xml::Element& e) {
    if (e.ns() != ns::kComponentAccept) {
        return;
    }
    e.setNs(xml::Ns(ns::kClient));
    for (auto& child : e.children()) {
        if (auto* element = std::get_if<xml::Element>(&child)) {
            toClientNamespace(*element);
        }
    }
}

}  // namespace

ComponentSession::ComponentSession(ComponentManager& manager, std::uint64_t id, evutil_socket_t fd,
                                   std::string peerAddress)
    : manager_(manager),
      id_(id),
      stream_(manager.base(), fd, std::move(peerAddress), *this, streamOptions(manager.settings()),
              nullptr) {
    const ComponentSettings& s = manager_.settings();
    armTimer(std::min(s.streamHeaderTimeoutSeconds, s.authTimeoutSeconds));
}

ComponentSession::~ComponentSession() = default;

void ComponentSession::transitionTo(State next) {
    log::trace("component {} {}: {} -> {}", id_, stream_.peerAddress(), toString(state_),
               toString(next));
    state_ = next;
}

void ComponentSession::closeWithError(StreamCondition condition, std::string_view text) {
    log::info("component {} {}{}{}: closing with <{}/>: {}", id_, stream_.peerAddress(),
              domain_.empty() ? "" : " ", domain_, stanza::toString(condition), text);
    stream_.closeWithError(condition, text);
}

// --- deadlines ---

void ComponentSession::armTimer(int seconds) {
    if (!timer_) {
        timer_.reset(evtimer_new(
            manager_.base(),
            [](evutil_socket_t, short, void* arg) {
                static_cast<ComponentSession*>(arg)->onTimer();
            },
            this));
    }
    const timeval tv{std::max(seconds, 0), 0};
    evtimer_add(timer_.get(), &tv);
}

void ComponentSession::onTimer() {
    if (state_ == State::AwaitingHeader) {
        closeWithError(StreamCondition::ConnectionTimeout, "no stream header in time");
        return;
    }
    if (state_ != State::AwaitingHandshake) {
        return;
    }
    // The handshake deadline counts from the connection, like the client's authentication one.
    const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::steady_clock::now() - connectedAt_);
    const int left = manager_.settings().authTimeoutSeconds - static_cast<int>(elapsed.count());
    if (left > 0) {
        armTimer(left);
        return;
    }
    closeWithError(StreamCondition::ConnectionTimeout, "no successful handshake in time");
}

// --- stream events ---

void ComponentSession::onStreamHeader(xml::StreamHeader&& header) {
    if (state_ != State::AwaitingHeader) {
        // Component streams are never restarted.
        closeWithError(StreamCondition::BadFormat, "unexpected stream header");
        return;
    }
    const std::string_view to = header.attr("to");
    std::optional<std::string> domain;
    if (auto prepared = stanza::prepDomainpart(to); prepared && !to.empty()) {
        domain = std::move(*prepared);
    }
    const bool known = domain && manager_.secretFor(*domain) != nullptr;
    streamId_ = newStreamId();
    // XEP-0114 §3: the answer names the component's domain and carries the stream id.
    stream_.sendRaw(stream::makeStreamHeader(ns::kComponentAccept,
                                             known ? std::string_view(*domain) : std::string_view(),
                                             {}, streamId_, {}, false));
    stream_.markHeaderSent();
    if (header.defaultNs != ns::kComponentAccept) {
        closeWithError(StreamCondition::InvalidNamespace,
                       "the content namespace must be jabber:component:accept");
        return;
    }
    if (!known) {
        closeWithError(StreamCondition::HostUnknown,
                       to.empty() ? "the stream header needs a 'to' naming the component's domain"
                                  : "no component is configured for that domain");
        return;
    }
    domain_ = std::move(*domain);
    transitionTo(State::AwaitingHandshake);
}

void ComponentSession::onStanza(xml::Element&& element) {
    const std::string& name = element.name();
    const std::string& elementNs = element.ns();
    if (elementNs == ns::kStreams && name == "error") {
        auto condition = stanza::parseStreamError(element);
        log::info("component {} {} {}: peer sent stream error <{}/>", id_, stream_.peerAddress(),
                  domain_,
                  stanza::toString(condition.value_or(StreamCondition::UndefinedCondition)));
        return;
    }
    const bool handshake = elementNs == ns::kComponentAccept && name == "handshake";
    switch (state_) {
        case State::AwaitingHandshake:
            if (!handshake) {
                closeWithError(StreamCondition::NotAuthorized, "the handshake comes first");
                return;
            }
            handleHandshake(element);
            return;
        case State::Established:
            if (isComponentStanza(element)) {
                handleStanza(std::move(element));
                return;
            }
            closeWithError(StreamCondition::UnsupportedStanzaType,
                           handshake ? "the handshake is done already" : name);
            return;
        case State::AwaitingHeader:
        case State::Closed:
            return;
    }
}

void ComponentSession::handleHandshake(const xml::Element& handshake) {
    const std::string* secret = manager_.secretFor(domain_);
    if (secret == nullptr || !handshakeMatches(streamId_, *secret, handshake.text())) {
        // XEP-0114 §3: a wrong handshake is <not-authorized/>. Neither the secret nor the
        // digest is logged.
        log::warn("component {} {}: wrong handshake for {}", id_, stream_.peerAddress(), domain_);
        closeWithError(StreamCondition::NotAuthorized, "wrong handshake");
        return;
    }
    stream_.send(xml::Element("handshake", std::string(ns::kComponentAccept)));
    timer_.reset();
    stream_.setLimits(manager_.settings().limits);
    transitionTo(State::Established);
    manager_.authenticated(*this);
}

// --- stanzas ---

void ComponentSession::handleStanza(xml::Element&& stanza) {
    const std::string* fromAttr = stanza.findAttr("from");
    if (fromAttr == nullptr || stanza.findAttr("to") == nullptr) {
        closeWithError(StreamCondition::ImproperAddressing,
                       "stanzas from a component need 'from' and 'to'");
        return;
    }
    auto from = Jid::parse(*fromAttr);
    if (!from) {
        closeWithError(StreamCondition::InvalidFrom, "malformed 'from'");
        return;
    }
    if (from->domain() != domain_) {
        closeWithError(StreamCondition::InvalidFrom,
                       "'from' must be " + domain_ + " or an address at it");
        return;
    }
    // Normalised, so that the router and the recipients see one spelling of the address.
    stanza.setAttr("from", from->full());
    toClientNamespace(stanza);
    manager_.router().route(std::move(stanza), nullptr);
}

void ComponentSession::onStreamEnd() {
    log::debug("component {} {}: peer closed the stream", id_, stream_.peerAddress());
}

void ComponentSession::onParseError(const xml::ParseError& error) {
    log::info("component {} {}: XML error: {}", id_, stream_.peerAddress(), error.detail);
}

void ComponentSession::onIdleTimeout() {
    closeWithError(StreamCondition::ConnectionTimeout, "no data for too long");
}

void ComponentSession::onClosed() {
    transitionTo(State::Closed);
    timer_.reset();
    manager_.sessionClosed(id_);
}

}  // namespace corvid::component
