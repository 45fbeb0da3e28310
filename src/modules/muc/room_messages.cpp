// Room: messages to all occupants, the subject, private messages, and what the room does with
// the errors its stanzas come back with (XEP-0045 §7.4, §7.5, §8.1, §18.1).

#include "modules/muc/room.h"
#include "stanza/delay.h"
#include "stanza/ns.h"
#include "util/log.h"
#include "util/random.h"

namespace corvid::modules::muc {

namespace ns = stanza::ns;
using stanza::ErrorType;
using stanza::Jid;
using stanza::StanzaCondition;

namespace {

constexpr int kTechnical = 333;

/// The message with everything the room writes itself taken out (occupant ids, the muc#user
/// extension), from the occupant JID `from` and with an id (XEP-0045 §7.4: the sender's, or one
/// the room makes, the same in every copy).
xml::Element fromOccupant(xml::Element&& message, const Jid& from) {
    message.removeAttr("to");
    message.setAttr("from", from.full());
    if (message.attr("id").empty()) {
        message.setAttr("id", util::randomId(16));
    }
    message.removeChildren("occupant-id", ns::kOccupantId);
    return std::move(message);
}

/// Errors that say the session is not there any more (XEP-0045 §18.1): the room drops it.
bool sessionGone(stanza::StanzaCondition c) {
    switch (c) {
        case StanzaCondition::Gone:
        case StanzaCondition::ItemNotFound:
        case StanzaCondition::RecipientUnavailable:
        case StanzaCondition::Redirect:
        case StanzaCondition::RemoteServerNotFound:
        case StanzaCondition::RemoteServerTimeout:
        case StanzaCondition::ServiceUnavailable:
            return true;
        default:
            return false;
    }
}

}  // namespace

void Room::handleMessage(xml::Element&& message, const Jid& from, const Jid& to) {
    const std::string type(message.attr("type"));
    if (type == "error") {
        deliveryError(message, from);
        return;
    }
    Occupant* sender = occupants_.byRealJid(from);
    if (!to.hasResource()) {
        const xml::Element* x = message.findChild("x", ns::kMucUser);
        if (type != "groupchat" && x != nullptr &&
            (x->findChild("invite", ns::kMucUser) != nullptr ||
             x->findChild("decline", ns::kMucUser) != nullptr)) {
            invitations(message, from, *x);
            return;
        }
        if (type != "groupchat") {
            fail(message, StanzaCondition::BadRequest,
                 "messages to the room must be of type groupchat", ErrorType::Modify);
            return;
        }
        if (sender == nullptr) {
            // XEP-0045 §7.4 and §17.2 rule 3.
            if (locked_) {
                fail(message, StanzaCondition::ItemNotFound,
                     "this room is being set up by its owner");
            } else {
                fail(message, StanzaCondition::NotAcceptable,
                     "only occupants may send messages to the room; join it first");
            }
            return;
        }
        if (sender->role < Role::Participant) {
            fail(message, StanzaCondition::Forbidden,
                 "you need voice to speak in this moderated room");
            return;
        }
        // XEP-0045 §8.1: a subject and no body is a change of subject.
        if (message.findChild("subject", ns::kClient) != nullptr &&
            message.findChild("body", ns::kClient) == nullptr) {
            changeSubject(message, *sender);
        } else {
            groupchat(std::move(message), *sender);
        }
        return;
    }
    if (type == "groupchat") {
        // XEP-0045 §7.5.
        fail(message, StanzaCondition::BadRequest, "private messages must not be of type groupchat",
             ErrorType::Modify);
        return;
    }
    if (sender == nullptr) {
        fail(message, StanzaCondition::NotAcceptable,
             "only occupants may send private messages; join the room first");
        return;
    }
    privateMessage(std::move(message), *sender, to);
}

void Room::groupchat(xml::Element&& message, Occupant& sender) {
    xml::Element out = fromOccupant(std::move(message), occupantJid(sender.nick));
    history_.add(out, jid_.full(), Clock::now(), static_cast<std::size_t>(config_.historyLength));
    broadcast(out);
}

void Room::changeSubject(const xml::Element& message, Occupant& sender) {
    const bool allowed = sender.role == Role::Moderator ||
                         (config_.changeSubject && sender.role >= Role::Participant);
    if (!allowed) {
        fail(message, StanzaCondition::Forbidden,
             "only moderators may change the subject of this room");
        return;
    }
    if (config_.persistent && writeQueueFull()) {
        fail(message, StanzaCondition::ResourceConstraint,
             "too many changes to this room are waiting for the database", ErrorType::Wait);
        return;
    }
    subject_ = Subject{message.childText("subject", ns::kClient), sender.nick, Clock::now()};
    xml::Element out = fromOccupant(xml::Element(message), occupantJid(sender.nick));
    broadcast(out);
    persistSubject();
}

void Room::persistSubject() {
    if (!config_.persistent) {
        return;
    }
    enqueueWrite(xml::Element("message", std::string(ns::kClient)), [](Room& room) {
        const auto at = std::chrono::duration_cast<std::chrono::milliseconds>(
                            room.subject_.at.value_or(Clock::now()).time_since_epoch())
                            .count();
        room.host_.store().saveSubject(
            room.host_.settings().domain, room.jid_.local(), room.subject_.text, room.subject_.nick,
            at, room.later<std::expected<bool, storage::StoreError>>([](Room& r, auto result) {
                if (!result) {
                    log::warn("MUC {}: the subject could not be stored: {}", r.jid_.full(),
                              result.error().message);
                }
                r.writeDone();
            }));
    });
}

void Room::privateMessage(xml::Element&& message, Occupant& sender, const Jid& to) {
    Occupant* target = occupants_.byNick(to.resource());
    if (target == nullptr) {
        fail(message, StanzaCondition::ItemNotFound, "no occupant has this nickname");
        return;
    }
    bool allowed = false;
    switch (config_.allowPm) {
        case AllowPm::Anyone:
            allowed = true;
            break;
        case AllowPm::Participants:
            allowed = sender.role >= Role::Participant;
            break;
        case AllowPm::Moderators:
            allowed = sender.role == Role::Moderator;
            break;
        case AllowPm::None:
            break;
    }
    if (!allowed) {
        fail(message, StanzaCondition::Forbidden,
             config_.allowPm == AllowPm::None
                 ? "private messages are not allowed in this room"
                 : "your role in this room does not allow private messages");
        return;
    }
    xml::Element out = fromOccupant(std::move(message), occupantJid(sender.nick));
    // XEP-0045 §7.5: marked, so that carbons (XEP-0280) can tell a private message.
    if (out.findChild("x", ns::kMucUser) == nullptr) {
        out.addChild("x", ns::kMucUser);
    }
    for (const auto& session : target->sessions) {
        xml::Element copy = out;
        copy.setAttr("to", session.jid.full());
        send(std::move(copy));
    }
}

void Room::deliveryError(const xml::Element& error, const Jid& from) {
    Occupant* occupant = occupants_.byRealJid(from);
    if (occupant == nullptr) {
        return;
    }
    auto info = stanza::parseStanzaError(error);
    if (info && sessionGone(info->condition)) {
        leave(*occupant, from, nullptr, {kTechnical});
    }
}

xml::Element Room::subjectMessage(const Jid& to) const {
    xml::Element m("message", std::string(ns::kClient));
    m.setAttr("from", subject_.nick.empty() ? jid_.full() : occupantJid(subject_.nick).full());
    m.setAttr("to", to.full());
    m.setAttr("type", "groupchat");
    m.setAttr("id", util::randomId(16));
    m.addTextChild("subject", subject_.text);
    if (subject_.at) {
        // XEP-0045 §7.2.15: when it was set.
        m.addChild(stanza::delayElement(jid_.full(), *subject_.at));
    }
    return m;
}

}  // namespace corvid::modules::muc
