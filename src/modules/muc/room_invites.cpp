// Room: mediated invitations and declines (XEP-0045 §7.8.2, §7.8.3). The room passes an
// occupant's <invite/> on to the invitee from its own address, and an invitee's <decline/> back
// to whoever invited it.

#include "modules/muc/room.h"
#include "stanza/ns.h"
#include "util/random.h"

namespace corvid::modules::muc {

namespace ns = stanza::ns;
using stanza::ErrorType;
using stanza::Jid;
using stanza::StanzaCondition;

namespace {

// Invitations in one message, and remembered per room (for declines); the oldest are forgotten.
constexpr std::size_t kMaxInvitesPerMessage = 10;
constexpr std::size_t kMaxRememberedInvitations = 100;
constexpr std::size_t kMaxReasonBytes = 1024;

xml::Element roomMessage(const Jid& room, const Jid& to) {
    xml::Element m("message", std::string(ns::kClient));
    m.setAttr("from", room.full());
    m.setAttr("to", to.full());
    m.setAttr("id", util::randomId(16));
    return m;
}

}  // namespace

void Room::invitations(const xml::Element& message, const Jid& from, const xml::Element& x) {
    std::vector<const xml::Element*> invites;
    const xml::Element* declined = nullptr;
    for (const xml::Element* e : x.childElements()) {
        if (e->is("invite", ns::kMucUser)) {
            invites.push_back(e);
        } else if (e->is("decline", ns::kMucUser)) {
            declined = e;
        }
    }
    for (const xml::Element* e : invites) {
        if (e->childText("reason", ns::kMucUser).size() > kMaxReasonBytes) {
            fail(message, StanzaCondition::NotAcceptable, "the reason is too long");
            return;
        }
    }
    if (declined != nullptr) {
        if (!invites.empty()) {
            fail(message, StanzaCondition::BadRequest, "invite or decline, not both",
                 ErrorType::Modify);
            return;
        }
        decline(message, from, *declined);
        return;
    }
    if (invites.size() > kMaxInvitesPerMessage) {
        fail(message, StanzaCondition::PolicyViolation,
             "at most " + std::to_string(kMaxInvitesPerMessage) + " invitations per message");
        return;
    }
    const Occupant* sender = occupants_.byRealJid(from);
    if (sender == nullptr) {
        fail(message, StanzaCondition::NotAcceptable, "only occupants may invite; join first");
        return;
    }
    // muc#roomconfig_allowinvites: occupants may invite; otherwise moderators only.
    if (!config_.allowInvites && sender->role != Role::Moderator) {
        fail(message, StanzaCondition::Forbidden, "only moderators may invite to this room");
        return;
    }
    // All checked before any is sent: one bad address refuses the message.
    for (const xml::Element* e : invites) {
        auto to = Jid::parse(e->attr("to"));
        if (!to) {
            fail(message, StanzaCondition::JidMalformed,
                 "the invitee is not a valid JID: " + to.error().reason, ErrorType::Modify);
            return;
        }
    }
    for (const xml::Element* e : invites) {
        invite(from, *e);
    }
}

void Room::invite(const Jid& from, const xml::Element& request) {
    const Jid invitee = *Jid::parse(request.attr("to"));
    const std::string reason = request.childText("reason", ns::kMucUser);
    // §7.8.2 example 57: from the room, naming the inviter by bare JID, with the password.
    xml::Element m = roomMessage(jid_, invitee);
    xml::Element& x = m.addChild("x", ns::kMucUser);
    xml::Element& invite = x.addChild("invite");
    invite.setAttr("from", from.bare().full());
    if (!reason.empty()) {
        invite.addTextChild("reason", reason);
    }
    if (!config_.password.empty()) {
        x.addTextChild("password", config_.password);
    }
    m.addTextChild("body", from.bare().full() + " invites you to the room " + jid_.full() +
                               (reason.empty() ? std::string() : ": " + reason));
    send(std::move(m));
    std::erase_if(invitations_, [&](const Invitation& i) {
        return i.invitee == invitee.bare().full() && i.inviter == from.bare();
    });
    invitations_.push_back({invitee.bare().full(), from.bare()});
    if (invitations_.size() > kMaxRememberedInvitations) {
        invitations_.pop_front();
    }
}

void Room::decline(const xml::Element& message, const Jid& from, const xml::Element& request) {
    auto to = Jid::parse(request.attr("to"));
    if (!to) {
        fail(message, StanzaCondition::JidMalformed, "the inviter is not a valid JID",
             ErrorType::Modify);
        return;
    }
    // Only to someone who invited the sender: a decline is no way to message strangers.
    const std::string invitee = from.bare().full();
    auto it = std::find_if(invitations_.begin(), invitations_.end(), [&](const Invitation& i) {
        return i.invitee == invitee && i.inviter == to->bare();
    });
    if (it == invitations_.end()) {
        fail(message, StanzaCondition::ItemNotFound, "no invitation from that JID to decline");
        return;
    }
    const Jid inviter = it->inviter;
    invitations_.erase(it);
    // §7.8.3 example 61.
    xml::Element m = roomMessage(jid_, inviter);
    xml::Element& x = m.addChild("x", ns::kMucUser);
    xml::Element& d = x.addChild("decline");
    d.setAttr("from", invitee);
    const std::string reason = request.childText("reason", ns::kMucUser);
    if (!reason.empty()) {
        d.addTextChild("reason", reason.substr(0, kMaxReasonBytes));
    }
    send(std::move(m));
}

}  // namespace corvid::modules::muc
