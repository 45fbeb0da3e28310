#include "router/router.h"

#include <algorithm>
#include <cassert>

#include "stanza/ns.h"
#include "stanza/stanza.h"

namespace corvid::router {

using stanza::Jid;
using stanza::StanzaCondition;

namespace {

bool isSubscriptionType(std::string_view type) {
    return type == "subscribe" || type == "subscribed" || type == "unsubscribe" ||
           type == "unsubscribed" || type == "probe";
}

bool isRequest(const xml::Element& iq) {
    const std::string_view type = iq.attr("type");
    return type == "get" || type == "set";
}

/// Call signalling (XEP-0353 Jingle Message Initiation: propose, retract, accept, proceed,
/// reject): every device of the callee must ring, and stop ringing when one of them answers.
bool isCallSignal(const xml::Element& message) {
    return message.findChildNs(stanza::ns::kJingleMessage) != nullptr;
}

constexpr std::string_view kGroupchatToAccount =
    "groupchat messages go to chat rooms; this address is an account";

}  // namespace

void Router::deliver(LocalSession& session, const xml::Element& stanza) {
    ++stats_.delivered;
    session.deliver(stanza);
}

void Router::bounce(const xml::Element& original, StanzaCondition condition,
                    std::string_view text) {
    if (stanza::isErrorStanza(original)) {
        return;
    }
    const std::string_view name = original.name();
    if (name != "message" && name != "presence" && name != "iq") {
        return;
    }
    ++stats_.bounced;
    xml::Element error = stanza::makeStanzaError(original, condition, text);
    if (auto sender = Jid::parse(original.attr("from"))) {
        if (!error.hasAttr("from")) {
            // A stanza without 'to' was for the sender's own account (RFC 6120 §10.3).
            error.setAttr("from", sender->bare().full());
        } else if (!Jid::parse(error.attr("from"))) {
            // The 'to' was malformed: the answer comes from the sender's server.
            error.setAttr("from", std::string(sender->domain()));
        }
    }
    route(std::move(error), nullptr);
}

HookHandle Router::addDomainService(std::string domain, DomainHandler handler) {
    assert(!isLocalDomain(domain) && !isServiceDomain(domain));
    auto it = services_.emplace(std::move(domain), std::move(handler)).first;
    return HookHandle([this, it] { services_.erase(it); });
}

std::vector<std::string> Router::serviceDomains() const {
    std::vector<std::string> out;
    out.reserve(services_.size());
    for (const auto& [domain, handler] : services_) {
        out.push_back(domain);
    }
    return out;
}

void Router::route(xml::Element&& stanza, LocalSession* origin) {
    ++stats_.routed;
    auto from = Jid::parse(stanza.attr("from"));
    if (!from) {
        return;  // the stream layer stamps 'from'; an unparsable one cannot be answered
    }
    const std::string* toAttr = stanza.findAttr("to");
    std::optional<Jid> to;
    if (toAttr == nullptr) {
        to = from->bare();  // RFC 6120 §10.3: no 'to' means the sender's account
    } else {
        auto parsed = Jid::parse(*toAttr);
        if (!parsed) {
            bounce(stanza, StanzaCondition::JidMalformed, parsed.error().reason);
            return;
        }
        to = std::move(*parsed);
    }

    if (origin != nullptr) {
        StanzaContext ctx{stanza, *from, *to, origin};
        if (hooks_.fire(Event::OutboundFromLocal, ctx) == HookResult::Handled) {
            return;
        }
        if (toAttr == nullptr && stanza.name() == "presence") {
            broadcastPresence(stanza, *from, origin);
            return;
        }
    }

    if (auto service = services_.find(to->domain()); service != services_.end()) {
        service->second(std::move(stanza), *from, *to, origin);
        return;
    }
    if (!isLocalDomain(to->domain())) {
        StanzaContext ctx{stanza, *from, *to, origin};
        if (hooks_.fire(Event::ToRemote, ctx) == HookResult::Pass) {
            // No taker: s2s is off, or shutting down.
            bounce(stanza, StanzaCondition::RemoteServerNotFound,
                   "this server does not connect to " + std::string(to->domain()));
        }
        return;
    }
    if (to->local().empty()) {
        routeToHost(stanza, *from, *to, origin);
        return;
    }
    {
        StanzaContext ctx{stanza, *from, *to, origin};
        if (hooks_.fire(Event::ToLocalAccount, ctx) == HookResult::Handled) {
            return;
        }
    }
    if (to->hasResource()) {
        routeToFull(stanza, *from, *to, origin);
    } else {
        deliverToBare(stanza, *from, *to, origin);
    }
}

void Router::handleIq(IqTarget target, xml::Element& iq, const Jid& from, const Jid& to,
                      LocalSession* origin) {
    if (!isRequest(iq)) {
        // Results and errors for the server or an account end here: answers to sendIq().
        resolvePendingIq(iq, from);
        return;
    }
    const xml::Element* payload = iq.firstChildElement();
    if (payload == nullptr) {
        bounce(iq, StanzaCondition::BadRequest, "iq get/set needs a payload");
        return;
    }
    if (const IqHandler* handler = hooks_.findIq(target, payload->ns(), payload->name())) {
        (*handler)(iq, from, to, origin);
        return;
    }
    if (target == IqTarget::Host) {
        bounce(iq, StanzaCondition::ServiceUnavailable,
               "this server does not support <" + payload->name() + " xmlns='" + payload->ns() +
                   "'/>");
        return;
    }
    // For an account, the default text only: the answer must not differ from the one a blocked
    // sender gets (XEP-0191 §3.5), nor tell whether the account exists (RFC 6121 §8.5.1).
    bounce(iq, StanzaCondition::ServiceUnavailable);
}

void Router::routeToHost(xml::Element& stanza, const Jid& from, const Jid& to,
                         LocalSession* origin) {
    const std::string& name = stanza.name();
    if (name == "iq") {
        handleIq(IqTarget::Host, stanza, from, to, origin);
        return;
    }
    StanzaContext ctx{stanza, from, to, origin};
    if (name == "message") {
        hooks_.fire(Event::MessageToHost, ctx);
    } else if (name == "presence") {
        hooks_.fire(Event::PresenceToHost, ctx);
    }
}

void Router::routeToFull(xml::Element& stanza, const Jid& from, const Jid& to,
                         LocalSession* origin) {
    LocalSession* session = sessions_.find(to);
    const std::string& name = stanza.name();
    const std::string_view type = stanza.attr("type");
    if (name == "iq") {
        if (session != nullptr) {
            deliver(*session, stanza);
        } else if (isRequest(stanza)) {
            bounce(stanza, StanzaCondition::ServiceUnavailable);
        }
        return;
    }
    if (name == "message") {
        if (session != nullptr) {
            StanzaContext ctx{stanza, from, to, origin};
            if (hooks_.fire(Event::MessageToFull, ctx) == HookResult::Pass) {
                deliver(*session, stanza);
            }
            return;
        }
        // RFC 6121 §8.5.3.2.1: no such resource.
        if (type.empty() || type == "normal" || type == "chat") {
            deliverToBare(stanza, from, to.bare(), origin);
        } else if (type == "groupchat") {
            bounce(stanza, StanzaCondition::ServiceUnavailable, kGroupchatToAccount);
        }
        return;  // headline and error are silently dropped
    }
    if (name == "presence") {
        if (isSubscriptionType(type)) {
            deliverToBare(stanza, from, to.bare(), origin);  // RFC 6121 §3: bare JID semantics
            return;
        }
        if (session != nullptr) {
            StanzaContext ctx{stanza, from, to, origin};
            if (hooks_.fire(Event::PresenceToFull, ctx) == HookResult::Pass) {
                deliver(*session, stanza);
            }
        }
        return;  // RFC 6121 §8.5.3.2.2: otherwise ignored
    }
}

void Router::deliverToBare(xml::Element& stanza, const Jid& from, const Jid& to,
                           LocalSession* origin) {
    const std::string& name = stanza.name();
    const std::string_view type = stanza.attr("type");
    if (name == "iq") {
        handleIq(IqTarget::Account, stanza, from, to, origin);
        return;
    }
    StanzaContext ctx{stanza, from, to, origin};
    if (name == "message") {
        if (hooks_.fire(Event::MessageToBare, ctx) == HookResult::Handled) {
            return;
        }
        if (type == "error") {
            return;
        }
        if (type == "groupchat") {
            bounce(stanza, StanzaCondition::ServiceUnavailable, kGroupchatToAccount);
            return;
        }
        // RFC 6121 §8.5.2.1.1: headline to every non-negative resource; chat and normal to the
        // highest-priority ones, except call signalling, which goes to every non-negative
        // resource (the rule's option (b)) so that all the callee's devices ring.
        auto targets = type == "headline" || isCallSignal(stanza) ? sessions_.deliverable(to)
                                                                  : sessions_.highestPriority(to);
        if (!targets.empty()) {
            for (LocalSession* s : targets) {
                deliver(*s, stanza);
            }
            return;
        }
        if (type == "headline") {
            return;
        }
        if (hooks_.fire(Event::MessageOffline, ctx) == HookResult::Pass) {
            bounce(stanza, StanzaCondition::ServiceUnavailable,
                   "the recipient is offline and messages are not stored for later");
        }
        return;
    }
    if (name == "presence") {
        if (hooks_.fire(Event::PresenceToBare, ctx) == HookResult::Handled) {
            return;
        }
        if (type.empty() || type == "unavailable") {
            // RFC 6121 §8.5.2.1.1: directed presence to every available resource.
            for (LocalSession* s : sessions_.resources(to)) {
                if (s->availability().available) {
                    deliver(*s, stanza);
                }
            }
        }
        return;
    }
}

void Router::broadcastPresence(xml::Element& presence, const Jid& from, LocalSession* origin) {
    // RFC 6121 §4.2, §4.4: what the delivery rules know of the sender changes first, so that every
    // handler sees the session as it now is (and what it was in `previous`). A priority that is
    // not an integer from -128 to 127 (§4.7.2.3) counts as 0.
    const Availability previous = origin->availability();
    const stanza::PresenceView view(presence);
    const stanza::PresenceType type = view.type();
    if (type == stanza::PresenceType::Available) {
        const auto priority = static_cast<std::int8_t>(view.priority().value_or(0));
        origin->setAvailability({.available = true, .priority = priority}, RouterKey());
    } else if (type == stanza::PresenceType::Unavailable) {
        origin->setAvailability({.available = false, .priority = previous.priority}, RouterKey());
    }
    const Jid account = from.bare();
    StanzaContext ctx{presence, from, account, origin, previous};
    if (hooks_.fire(Event::PresenceBroadcast, ctx) == HookResult::Handled) {
        return;
    }
    // Without the presence module: reflect the presence to the account's own available resources
    // (RFC 6121 §4.2.2, §4.4.2), the sender included.
    if (type != stanza::PresenceType::Available && type != stanza::PresenceType::Unavailable) {
        return;
    }
    for (LocalSession* s : sessions_.resources(account)) {
        if (s->availability().available || s == origin) {
            deliver(*s, presence);
        }
    }
}

}  // namespace corvid::router

namespace corvid::router {

void Router::sendIq(xml::Element&& iq, IqCallback done, std::chrono::seconds timeout) {
    std::string id = "corvid-" + std::to_string(nextIqId_++);
    iq.setAttr("id", id);
    pendingIqs_[id] = PendingIq{std::string(iq.attr("to")), std::move(done),
                                std::chrono::steady_clock::now() + timeout};
    route(std::move(iq));
}

bool Router::resolvePendingIq(const xml::Element& iq, const Jid& from) {
    auto it = pendingIqs_.find(std::string(iq.attr("id")));
    if (it == pendingIqs_.end()) {
        return false;
    }
    // Only the entity we asked may answer (a full JID we asked must answer from itself).
    auto asked = Jid::parse(it->second.to);
    if (!asked || *asked != from) {
        return false;
    }
    IqCallback done = std::move(it->second.done);
    pendingIqs_.erase(it);
    done(&iq);
    return true;
}

void Router::expireIqs(std::chrono::steady_clock::time_point now) {
    std::vector<IqCallback> expired;
    for (auto it = pendingIqs_.begin(); it != pendingIqs_.end();) {
        if (it->second.deadline <= now) {
            expired.push_back(std::move(it->second.done));
            it = pendingIqs_.erase(it);
        } else {
            ++it;
        }
    }
    for (auto& done : expired) {
        done(nullptr);
    }
}

}  // namespace corvid::router
