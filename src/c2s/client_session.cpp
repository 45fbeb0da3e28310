#include "c2s/client_session.h"

#include <charconv>

#include "stanza/delay.h"
#include "stanza/ns.h"
#include "util/log.h"
#include "util/random.h"

namespace corvid::c2s {

using stanza::Jid;
using stanza::StanzaCondition;
using stanza::StreamCondition;
namespace ns = stanza::ns;

namespace {

bool validMessageType(std::string_view t) {
    return t.empty() || t == "normal" || t == "chat" || t == "groupchat" || t == "headline" ||
           t == "error";
}

bool validPresenceType(std::string_view t) {
    return t.empty() || t == "unavailable" || t == "subscribe" || t == "subscribed" ||
           t == "unsubscribe" || t == "unsubscribed" || t == "probe" || t == "error";
}

}  // namespace

ClientSession::ClientSession(SessionHost& host, router::SessionId id, Jid full,
                             Transport& transport)
    : host_(host), id_(id), jid_(std::move(full)), transport_(&transport) {}

ClientSession::~ClientSession() {
    // The manager ends a session before destroying it; this only covers server teardown.
    end();
}

void ClientSession::announce() {
    host_.router().hooks().fireSession(router::SessionEvent::Bound, *this);
}

void ClientSession::deliver(const xml::Element& stanza) {
    if (ended_) {
        return;
    }
    if (sm_) {
        // XEP-0198: kept until the client acknowledges it, so that nothing is lost with the
        // connection. A client that never acknowledges is not allowed to grow it forever.
        sm_->queue.sent(stanza, std::chrono::system_clock::now());
        if (sm_->queue.size() > host_.smSettings().maxUnacked) {
            log::info("c2s session {} ({}): {} stanzas unacknowledged; closing", id_, jid_.full(),
                      sm_->queue.size());
            keepWhenDetached_ = false;
            terminate(StreamCondition::PolicyViolation,
                      "too many unacknowledged stanzas (XEP-0198)");
            return;
        }
        if (transport_ != nullptr) {
            transport_->send(stanza);
            requestAckSoon();
        }
        return;
    }
    if (transport_ != nullptr) {
        transport_->send(stanza);
        return;
    }
    ++droppedWhileDetached_;
    log::debug("c2s session {} ({}): detached, a <{}/> was dropped", id_, jid_.full(),
               stanza.name());
}

void ClientSession::terminate(StreamCondition condition, std::string_view text) {
    // The error first: once the session has left it, the transport would just close.
    if (transport_ != nullptr) {
        transport_->closeWithError(condition, text);
    }
    end();
}

void ClientSession::transportGone() {
    if (ended_) {
        return;
    }
    if (keepWhenDetached_ && sm_ && !host_.stopping()) {
        detach();
        // XEP-0198 §5: resumable for a while; presence stays as it was meanwhile.
        sm_->expiry.reset(evtimer_new(
            host_.base(),
            [](evutil_socket_t, short, void* arg) {
                static_cast<ClientSession*>(arg)->onResumeTimeout();
            },
            this));
        const timeval tv{sm_->resumeSeconds, 0};
        evtimer_add(sm_->expiry.get(), &tv);
        return;
    }
    end();
}

void ClientSession::onResumeTimeout() {
    log::info("c2s session {} ({}): not resumed within {} s; ending it ({} unacknowledged)", id_,
              jid_.full(), sm_->resumeSeconds, smUnacked());
    end();
}

void ClientSession::detach() {
    if (transport_ == nullptr || ended_) {
        return;
    }
    std::exchange(transport_, nullptr)->sessionLeft();
    log::debug("c2s session {} ({}): detached", id_, jid_.full());
    host_.router().hooks().fireSession(router::SessionEvent::Detached, *this);
}

void ClientSession::attach(Transport& transport) {
    if (ended_ || transport_ == &transport) {
        return;
    }
    if (transport_ != nullptr) {
        std::exchange(transport_, nullptr)->sessionLeft();
    }
    transport_ = &transport;
    if (sm_) {
        sm_->expiry.reset();
        sm_->ackRequested = false;
    }
    log::debug("c2s session {} ({}): attached to a transport from {}", id_, jid_.full(),
               transport.peerAddress());
    host_.router().hooks().fireSession(router::SessionEvent::Resumed, *this);
}

void ClientSession::end() {
    if (ended_) {
        return;
    }
    ended_ = true;
    if (transport_ != nullptr) {
        std::exchange(transport_, nullptr)->sessionLeft();
    }
    router::Router& router = host_.router();
    if (availability().available) {
        // RFC 6121 §4.6.1 / §4.5.3: the server sends unavailable presence on the client's behalf,
        // however the connection ended.
        xml::Element presence("presence", std::string(ns::kClient));
        presence.setAttr("type", "unavailable");
        presence.setAttr("from", jid_.full());
        router.route(std::move(presence), this);
    }
    router.hooks().fireSession(router::SessionEvent::Unavailable, *this);
    router.sessions().remove(*this);
    router.hooks().fireSession(router::SessionEvent::Closed, *this);
    if (sm_) {
        if (!sm_->resumeId.empty()) {
            host_.notResumable(sm_->resumeId);
        }
        sm_->ackTimer.reset();
        sm_->expiry.reset();
        rerouteUnacked();
    }
    host_.sessionEnded(id_);
}

// --- stream management (XEP-0198) ---

void ClientSession::handleSm(const xml::Element& nonza) {
    const std::string& name = nonza.name();
    if (name == "enable") {
        enableSm(nonza);
        return;
    }
    if (!sm_) {
        // §3: nothing but <enable/> before it is enabled.
        smFailed("unexpected-request", "stream management is not enabled on this stream");
        return;
    }
    if (name == "r") {
        xml::Element a("a", std::string(kSmNs));
        a.setAttr("h", std::to_string(sm_->queue.inbound()));
        if (transport_ != nullptr) {
            transport_->send(a);
        }
        return;
    }
    if (name == "a") {
        const std::string_view text = nonza.attr("h");
        std::uint32_t h = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), h);
        if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
            terminate(StreamCondition::InvalidXml, "<a/> needs an h between 0 and 4294967295");
            return;
        }
        if (!sm_->queue.acknowledge(h)) {
            // §4: acknowledging stanzas that were never sent is an error of the client.
            log::info("c2s session {} ({}): acknowledged {} but only {} were sent", id_,
                      jid_.full(), h, sm_->queue.outbound());
            keepWhenDetached_ = false;
            terminate(StreamCondition::UndefinedCondition,
                      "you acknowledged more stanzas than were sent");
            return;
        }
        sm_->ackRequested = false;
        return;
    }
    smFailed("feature-not-implemented", "unknown stream management element");
}

void ClientSession::enableSm(const xml::Element& enable) {
    if (sm_) {
        smFailed("unexpected-request", "stream management is already enabled");
        return;
    }
    const SmSettings& settings = host_.smSettings();
    sm_ = std::make_unique<SmState>();
    xml::Element enabled("enabled", std::string(kSmNs));
    const std::string_view resume = enable.attr("resume");
    if ((resume == "true" || resume == "1") && settings.resumeTimeoutSeconds > 0) {
        // §5: unguessable, and only ever resumable by the same account (C2sManager checks).
        sm_->resumeId = util::randomId(24);
        keepWhenDetached_ = true;
        host_.resumable(sm_->resumeId, id_);
        // §5: the client may ask for a shorter window (max), never a longer one.
        sm_->resumeSeconds = settings.resumeTimeoutSeconds;
        if (const std::string_view asked = enable.attr("max"); !asked.empty()) {
            int wanted = 0;
            std::from_chars(asked.data(), asked.data() + asked.size(), wanted);
            if (wanted > 0) {
                sm_->resumeSeconds = std::min(sm_->resumeSeconds, wanted);
            }
        }
        enabled.setAttr("id", sm_->resumeId);
        enabled.setAttr("resume", "true");
        enabled.setAttr("max", std::to_string(sm_->resumeSeconds));
    }
    transport_->send(enabled);
    log::debug("c2s session {} ({}): stream management enabled{}", id_, jid_.full(),
               sm_->resumeId.empty() ? "" : " with resumption");
}

void ClientSession::smFailed(std::string_view condition, std::string_view text) {
    xml::Element failed("failed", std::string(kSmNs));
    failed.addChild(std::string(condition), std::string(ns::kStanzas));
    failed.addChild("text", std::string(ns::kStanzas)).addText(std::string(text));
    if (transport_ != nullptr) {
        transport_->send(failed);
    }
}

void ClientSession::requestAck() {
    if (!sm_ || sm_->ackRequested || sm_->queue.size() == 0 || transport_ == nullptr) {
        return;
    }
    sm_->ackRequested = true;
    transport_->send(xml::Element("r", std::string(kSmNs)));
}

void ClientSession::requestAckSoon() {
    // At once when a good part of the allowance is unacknowledged, else after a short quiet
    // moment, so that a burst of stanzas costs one <r/>.
    if (sm_->queue.size() >= host_.smSettings().maxUnacked / 2) {
        requestAck();
        return;
    }
    if (sm_->ackRequested || (sm_->ackTimer && evtimer_pending(sm_->ackTimer.get(), nullptr))) {
        return;
    }
    if (!sm_->ackTimer) {
        sm_->ackTimer.reset(evtimer_new(
            host_.base(),
            [](evutil_socket_t, short, void* arg) {
                static_cast<ClientSession*>(arg)->requestAck();
            },
            this));
    }
    const timeval tv{0, 500 * 1000};
    evtimer_add(sm_->ackTimer.get(), &tv);
}

bool ClientSession::resume(Transport& transport, std::uint32_t clientH) {
    if (!sm_ || ended_ || !sm_->queue.acknowledge(clientH)) {
        return false;
    }
    if (transport_ != nullptr) {
        // The client came back before we noticed its old connection had gone.
        transport_->closeWithError(StreamCondition::Conflict, "resumed on another connection");
    }
    attach(transport);
    return true;
}

void ClientSession::resendUnacked() {
    if (!sm_ || transport_ == nullptr) {
        return;
    }
    for (const SmQueue::Sent& s : sm_->queue.unacked()) {
        transport_->send(s.stanza);
    }
    requestAck();
}

void ClientSession::rerouteUnacked() {
    std::deque<SmQueue::Sent> unacked = std::move(sm_->queue.unacked());
    sm_->queue.unacked().clear();
    if (unacked.empty()) {
        return;
    }
    log::info("c2s session {} ({}): {} unacknowledged stanza(s) routed elsewhere", id_, jid_.full(),
              unacked.size());
    router::Router& router = host_.router();
    for (SmQueue::Sent& s : unacked) {
        xml::Element& stanza = s.stanza;
        const std::string& name = stanza.name();
        const std::string_view type = stanza.attr("type");
        if (name == "message" && (type.empty() || type == "chat" || type == "normal")) {
            if (stanza.findChild("delay", ns::kDelay) == nullptr) {
                stanza.addChild(stanza::delayElement(jid_.domain(), s.at));
            }
            // This resource is gone from the directory: the router takes the message where a
            // message to an absent resource goes (RFC 6121 §8.5.3.2.1: the bare JID's rules,
            // then offline storage), or bounces it.
            router.route(std::move(stanza), nullptr);
        } else if (name == "iq") {
            if (type == "get" || type == "set") {
                router.bounce(stanza, StanzaCondition::RecipientUnavailable,
                              "the client went away before it received this request");
            }
        }
        // Presence is state, not history: the next presence of the contact replaces it.
        // Groupchat and headline messages went to every occupant or resource; the room's
        // history has them. Errors are never answered.
    }
}

// --- from the client ---

void ClientSession::fromClient(xml::Element&& element) {
    if (ended_) {
        return;
    }
    const std::string& name = element.name();
    const bool isStanza =
        element.ns() == ns::kClient && (name == "message" || name == "presence" || name == "iq");
    if (!isStanza && element.ns() == kSmNs && host_.smSettings().enabled) {
        handleSm(element);
        return;
    }
    if (isStanza && sm_) {
        sm_->queue.received();  // handled, whatever the answer (XEP-0198 §4)
    }
    if (!isStanza) {
        if (const auto* handler = host_.router().hooks().findNonza(element.ns(), name)) {
            (*handler)(*this, element);
            return;
        }
        log::info("c2s session {} ({}): unknown top-level element <{} xmlns='{}'/>; closing", id_,
                  jid_.full(), name, element.ns());
        terminate(StreamCondition::UnsupportedStanzaType,
                  "<" + name + " xmlns='" + element.ns() + "'/> is not understood here");
        return;
    }
    if (checkStanza(element)) {
        handleStanza(std::move(element));
    }
}

void ClientSession::sendError(const xml::Element& stanza, StanzaCondition condition,
                              std::string_view text) {
    xml::Element error = stanza::makeStanzaError(stanza, condition, text);
    error.removeAttr("from");
    deliver(error);
}

bool ClientSession::checkStanza(xml::Element& stanza) {
    auto badRequest = [&](std::string_view text) {
        sendError(stanza, StanzaCondition::BadRequest, text);
        return false;
    };
    // RFC 6120 §8.1.2.1: the server stamps the full JID; a client may only give its own.
    if (const std::string* from = stanza.findAttr("from")) {
        auto claimed = Jid::parse(*from);
        if (!claimed || (*claimed != jid_ && *claimed != jid_.bare())) {
            log::info("c2s session {} ({}): 'from' {} is not its JID; closing", id_, jid_.full(),
                      *from);
            terminate(StreamCondition::InvalidFrom, "'from' is not your JID");
            return false;
        }
    }
    stanza.setAttr("from", jid_.full());
    const std::string_view type = stanza.attr("type");
    const std::string& name = stanza.name();
    if (name == "iq") {
        // RFC 6120 §8.2.3: id and type are required; get/set carry exactly one payload.
        if (stanza.attr("id").empty()) {
            return badRequest("iq needs an id");
        }
        if (type == "get" || type == "set") {
            if (stanza.childElements().size() != 1) {
                return badRequest("iq get/set needs exactly one payload");
            }
        } else if (type != "result" && type != "error") {
            return badRequest("invalid iq type");
        }
    } else if (name == "message") {
        if (!validMessageType(type)) {
            return badRequest("invalid message type");
        }
    } else if (!validPresenceType(type)) {
        return badRequest("invalid presence type");
    }
    return true;
}

void ClientSession::handleStanza(xml::Element&& stanza) {
    if (stanza.name() == "iq" && !stanza.hasAttr("to")) {
        if (stanza.findChild("session", ns::kSession) != nullptr && stanza.attr("type") == "set") {
            // RFC 6121 §B: legacy session establishment, nothing to do.
            xml::Element result("iq", std::string(ns::kClient));
            result.setAttr("type", "result");
            result.setAttr("id", std::string(stanza.attr("id")));
            deliver(result);
            return;
        }
        if (stanza.findChild("bind", ns::kBind) != nullptr) {
            sendError(stanza, StanzaCondition::NotAllowed, "already bound");
            return;
        }
    }
    host_.router().route(std::move(stanza), this);
}

}  // namespace corvid::c2s
