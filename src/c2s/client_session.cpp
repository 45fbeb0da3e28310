#include "c2s/client_session.h"

#include "stanza/ns.h"
#include "util/log.h"

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
    if (keepWhenDetached_) {
        detach();
        return;
    }
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
    if (available) {
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
    host_.sessionEnded(id_);
}

// --- from the client ---

void ClientSession::fromClient(xml::Element&& element) {
    if (ended_) {
        return;
    }
    const std::string& name = element.name();
    const bool isStanza =
        element.ns() == ns::kClient && (name == "message" || name == "presence" || name == "iq");
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
