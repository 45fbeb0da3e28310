// Room: entering, presence updates, nickname changes and exits (XEP-0045 §7.2, §7.6, §7.7,
// §7.14).

#include <algorithm>

#include "modules/muc/room.h"
#include "stanza/ns.h"

namespace corvid::modules::muc {

namespace ns = stanza::ns;
using stanza::ErrorType;
using stanza::Jid;
using stanza::StanzaCondition;

namespace {

constexpr int kSelf = 110;          // the presence is the recipient's own
constexpr int kNonAnonymous = 100;  // everyone sees the real JIDs
constexpr int kCreated = 201;
constexpr int kNickModified = 210;
constexpr int kNewNick = 303;
constexpr int kKicked = 307;
constexpr int kTechnical = 333;

bool isSubscriptionType(std::string_view type) {
    return type == "subscribe" || type == "subscribed" || type == "unsubscribe" ||
           type == "unsubscribed";
}

/// What a session's presence carries into the room: everything but the addressing and the MUC
/// extensions, which only the room writes (XEP-0045 §17.3, rule 6).
xml::Element roomPresence(const xml::Element& presence) {
    xml::Element p("presence", presence.nsHandle());
    for (const xml::Attribute& a : presence.attributes()) {
        if (!a.ns.empty() || (a.name != "to" && a.name != "from" && a.name != "id")) {
            p.attributes().push_back(a);
        }
    }
    for (const xml::Node& child : presence.children()) {
        const auto* e = std::get_if<xml::Element>(&child);
        if (e != nullptr &&
            ((e->name() == "x" && (e->ns() == ns::kMuc || e->ns() == ns::kMucUser)) ||
             e->ns() == ns::kOccupantId)) {
            continue;
        }
        p.children().push_back(child);
    }
    return p;
}

/// An unavailable presence carrying the <status/> of `presence`, if any.
xml::Element unavailablePresence(const xml::Element* presence) {
    xml::Element p("presence", std::string(ns::kClient));
    p.setAttr("type", "unavailable");
    if (presence != nullptr) {
        if (const xml::Element* status = presence->findChild("status", ns::kClient)) {
            p.addChild(*status);
        }
    }
    return p;
}

bool blank(std::string_view nick) {
    return std::all_of(nick.begin(), nick.end(), [](char c) { return c == ' '; });
}

std::vector<int> withSelf(std::vector<int> codes) {
    codes.insert(codes.begin(), kSelf);
    std::sort(codes.begin(), codes.end());
    return codes;
}

}  // namespace

void Room::handlePresence(xml::Element&& presence, const Jid& from, const Jid& to) {
    const std::string type(presence.attr("type"));
    if (type == "error") {
        deliveryError(presence, from);
        return;
    }
    if (!to.hasResource()) {
        if (type.empty()) {
            // XEP-0045 §7.2.1.
            fail(presence, StanzaCondition::JidMalformed,
                 "give a nickname to enter the room: " + jid_.full() + "/nickname",
                 ErrorType::Modify);
        }
        return;  // probes and subscriptions to the room itself are not handled
    }
    Occupant* occupant = occupants_.byRealJid(from);
    if (type == "unavailable") {
        if (occupant != nullptr) {
            leave(*occupant, from, &presence, {});
        }
        return;  // XEP-0045 §17.3 rule 5: ignored from non-occupants
    }
    if (!type.empty()) {
        if (type != "probe" && !isSubscriptionType(type)) {
            fail(presence, StanzaCondition::BadRequest, "unknown presence type");
        }
        return;
    }
    const xml::Element* mucX = presence.findChild("x", ns::kMuc);
    if (occupant == nullptr) {
        if (mucX == nullptr) {
            send(desyncKick(presence, from, to));
        } else {
            join(std::move(presence), from, to, *mucX);
        }
        return;
    }
    if (occupant->nick != to.resource()) {
        changeNick(*occupant, std::move(presence), from, to);
        return;
    }
    updatePresence(*occupant, std::move(presence), from, mucX != nullptr);
}

std::optional<Room::Refusal> Room::refuseEntry(const Jid& from, std::string_view nick,
                                               const xml::Element& mucX) const {
    const Affiliation affiliation = affiliationOf(from);
    if (affiliation == Affiliation::Outcast) {
        return Refusal{StanzaCondition::Forbidden, "you are banned from this room"};
    }
    if (locked_ && affiliation != Affiliation::Owner) {
        return Refusal{StanzaCondition::ItemNotFound, "this room is being set up by its owner"};
    }
    if (config_.membersOnly && affiliation < Affiliation::Member) {
        return Refusal{StanzaCondition::RegistrationRequired, "this room is for members only"};
    }
    if (!config_.password.empty()) {
        const xml::Element* password = mucX.findChild("password", ns::kMuc);
        if (password == nullptr) {
            return Refusal{StanzaCondition::NotAuthorized, "this room needs a password"};
        }
        if (password->text() != config_.password) {
            return Refusal{StanzaCondition::NotAuthorized, "wrong password"};
        }
    }
    const Occupant* holder = occupants_.byNick(nick);
    if (holder != nullptr && holder->bare != from.bare()) {
        return Refusal{StanzaCondition::Conflict, "this nickname is in use in the room"};
    }
    const std::string bare = from.bare().full();
    for (const auto& [jid, entry] : affiliations_) {
        if (entry.nick == nick && jid != bare) {
            return Refusal{StanzaCondition::Conflict, "this nickname is reserved by a member"};
        }
    }
    // muc#roomconfig_maxusers, or the service's limit when the owner set none.
    const int maxUsers =
        config_.maxUsers != 0 ? config_.maxUsers : host_.settings().limits.maxUsers;
    const auto limit = static_cast<std::size_t>(maxUsers);
    if (holder == nullptr && limit != 0 && occupants_.size() >= limit &&
        affiliation < Affiliation::Admin) {
        return Refusal{StanzaCondition::ServiceUnavailable, "the room is full"};
    }
    return std::nullopt;
}

void Room::join(xml::Element&& presence, const Jid& from, const Jid& to, const xml::Element& mucX) {
    const std::string nick(to.resource());
    if (blank(nick)) {
        // XEP-0045 §17.1: no empty or invisible nicknames.
        fail(presence, StanzaCondition::JidMalformed, "a nickname must not be blank",
             ErrorType::Modify);
        return;
    }
    if (auto refusal = refuseEntry(from, nick, mucX)) {
        const bool full = refusal->first == StanzaCondition::ServiceUnavailable;
        fail(presence, refusal->first, refusal->second,
             full ? std::optional(ErrorType::Wait) : std::nullopt);
        return;
    }
    auto history = parseHistoryRequest(mucX.findChild("history", ns::kMuc));
    if (!history) {
        fail(presence, StanzaCondition::BadRequest, history.error(), ErrorType::Modify);
        return;
    }
    std::vector<int> selfCodes;
    if (config_.whois == Whois::Anyone) {
        selfCodes.push_back(kNonAnonymous);
    }
    if (locked_ && occupants_.empty()) {
        selfCodes.push_back(kCreated);  // XEP-0045 §10.1.1
    }
    // The nickname as prepared (RFC 7622 §3.4) is not the one the client typed.
    const std::string_view asked = presence.attr("to");
    if (auto slash = asked.find('/');
        slash == std::string_view::npos || asked.substr(slash + 1) != nick) {
        selfCodes.push_back(kNickModified);
    }
    const std::string id(presence.attr("id"));
    const Affiliation affiliation = affiliationOf(from);
    Occupant* occupant = occupants_.byNick(nick);
    if (occupant != nullptr) {
        // Another resource of the same account (XEP-0045 §7.2.9).
        occupants_.setSession(*occupant, from, roomPresence(presence));
    } else {
        occupant = &occupants_.add(nick, from, defaultRole(affiliation, config_.moderated),
                                   roomPresence(presence));
    }
    broadcastPresence(occupant->current().presence, *occupant, from, occupant->role, {}, {}, {},
                      &from);
    sendRoomState(*occupant, from, selfCodes, id, *history);
}

void Room::changeNick(Occupant& occupant, xml::Element&& presence, const Jid& from, const Jid& to) {
    const std::string nick(to.resource());
    if (blank(nick)) {
        fail(presence, StanzaCondition::JidMalformed, "a nickname must not be blank",
             ErrorType::Modify);
        return;
    }
    if (occupant.sessions.size() > 1) {
        fail(presence, StanzaCondition::NotAcceptable,
             "leave the room from your other clients before changing your nickname");
        return;
    }
    if (occupants_.byNick(nick) != nullptr) {
        fail(presence, StanzaCondition::Conflict, "this nickname is in use in the room");
        return;
    }
    const std::string bare = from.bare().full();
    for (const auto& [jid, entry] : affiliations_) {
        if (entry.nick == nick && jid != bare) {
            fail(presence, StanzaCondition::Conflict, "this nickname is reserved by a member");
            return;
        }
    }
    // XEP-0045 §7.6: unavailable from the old nickname with 303 and the new one, then available
    // from the new nickname.
    broadcastPresence(unavailablePresence(nullptr), occupant, from, Role::None, {kNewNick},
                      {kNewNick}, nick);
    Occupant& renamed = occupants_.rename(occupant, nick);
    occupants_.setSession(renamed, from, roomPresence(presence));
    broadcastPresence(renamed.current().presence, renamed, from, renamed.role, {}, {});
}

void Room::updatePresence(Occupant& occupant, xml::Element&& presence, const Jid& from,
                          bool resync) {
    const std::string id(presence.attr("id"));
    occupants_.setSession(occupant, from, roomPresence(presence));
    if (!resync) {
        broadcastPresence(occupant.current().presence, occupant, from, occupant.role, {}, {});
        return;
    }
    // XEP-0045 §7.2.1: a join from a session that is in the room already: it lost track, and
    // gets what a joining session gets.
    broadcastPresence(occupant.current().presence, occupant, from, occupant.role, {}, {}, {},
                      &from);
    const xml::Element* mucX = presence.findChild("x", ns::kMuc);
    auto history = parseHistoryRequest(mucX->findChild("history", ns::kMuc));
    std::vector<int> selfCodes;
    if (config_.whois == Whois::Anyone) {
        selfCodes.push_back(kNonAnonymous);
    }
    sendRoomState(occupant, from, selfCodes, id, history.value_or(HistoryRequest{}));
}

void Room::leave(Occupant& occupant, const Jid& from, const xml::Element* presence,
                 std::initializer_list<int> codes) {
    const std::vector<int> extra(codes);
    const xml::Element gone = unavailablePresence(presence);
    if (occupant.sessions.size() == 1) {
        broadcastPresence(gone, occupant, from, Role::None, extra, extra);
        occupants_.removeSession(occupant, from);
        return;
    }
    // One of several sessions: only it hears that it left; if the room showed its presence,
    // the others see the presence of one that stays.
    xml::Element self =
        mucPresence(gone, occupant.nick, affiliationOf(from), Role::None, &from, withSelf(extra));
    self.setAttr("to", from.full());
    send(std::move(self));
    const bool shown = occupant.current().jid == from;
    occupants_.removeSession(occupant, from);
    if (shown) {
        const OccupantSession& next = occupant.current();
        broadcastPresence(next.presence, occupant, next.jid, occupant.role, {}, {});
    }
}

void Room::removeOccupant(Occupant& occupant, const std::vector<int>& codes, const ItemNote& note) {
    const Jid shown = occupant.current().jid;
    broadcastPresence(unavailablePresence(nullptr), occupant, shown, Role::None, codes, codes, {},
                      nullptr, note);
    std::vector<Jid> sessions;
    for (const auto& s : occupant.sessions) {
        sessions.push_back(s.jid);
    }
    for (const Jid& s : sessions) {
        occupants_.removeSession(occupant, s);  // the last one takes the occupant
    }
}

xml::Element Room::desyncKick(const xml::Element& presence, const Jid& from, const Jid& to) {
    // XEP-0045 §7.2.1 (since 1.32): presence without <x/> from someone who is not in the room
    // is a client that lost track of it; it learns so from a kick with 110, 307 and 333.
    xml::Element kick("presence", std::string(ns::kClient));
    kick.setAttr("from", to.full());
    kick.setAttr("to", from.full());
    kick.setAttr("type", "unavailable");
    if (presence.hasAttr("id")) {
        kick.setAttr("id", std::string(presence.attr("id")));
    }
    xml::Element& x = kick.addChild("x", ns::kMucUser);
    xml::Element& item = x.addChild("item");
    item.setAttr("affiliation", "none");
    item.setAttr("role", "none");
    item.addTextChild("reason", "You are not in the room.");
    for (int code : {kSelf, kKicked, kTechnical}) {
        x.addChild("status").setAttr("code", std::to_string(code));
    }
    return kick;
}

xml::Element Room::mucPresence(const xml::Element& base, std::string_view nick,
                               Affiliation affiliation, Role role, const Jid* real,
                               const std::vector<int>& codes, std::string_view newNick,
                               const ItemNote& note) const {
    xml::Element p = base;
    p.setAttr("from", occupantJid(nick).full());
    xml::Element& x = p.addChild("x", ns::kMucUser);
    xml::Element& item = x.addChild("item");
    item.setAttr("affiliation", std::string(toString(affiliation)));
    item.setAttr("role", std::string(toString(role)));
    if (real != nullptr) {
        item.setAttr("jid", real->full());
    }
    if (!newNick.empty()) {
        item.setAttr("nick", std::string(newNick));
    }
    if (!note.actor.empty()) {
        item.addChild("actor").setAttr("nick", std::string(note.actor));
    }
    if (!note.reason.empty()) {
        item.addTextChild("reason", note.reason);
    }
    for (int code : codes) {
        x.addChild("status").setAttr("code", std::to_string(code));
    }
    return p;
}

void Room::broadcastPresence(const xml::Element& base, const Occupant& occupant, const Jid& real,
                             Role role, const std::vector<int>& codes,
                             const std::vector<int>& selfCodes, std::string_view newNick,
                             const Jid* except, const ItemNote& note) {
    const Affiliation affiliation = affiliationOf(real);
    const std::string nick = occupant.nick;
    // Built once per kind of recipient; each copy only gets its 'to'.
    const xml::Element withJid =
        mucPresence(base, nick, affiliation, role, &real, codes, newNick, note);
    const xml::Element withoutJid =
        mucPresence(base, nick, affiliation, role, nullptr, codes, newNick, note);
    const xml::Element self =
        mucPresence(base, nick, affiliation, role, &real, withSelf(selfCodes), newNick, note);
    for (const auto& [n, viewer] : occupants_) {
        const bool own = &viewer == &occupant;
        const xml::Element& variant = own ? self : seesRealJids(viewer) ? withJid : withoutJid;
        for (const auto& session : viewer.sessions) {
            if (except != nullptr && session.jid == *except) {
                continue;
            }
            xml::Element copy = variant;
            copy.setAttr("to", session.jid.full());
            send(std::move(copy));
        }
    }
}

void Room::sendRoomState(const Occupant& occupant, const Jid& to, const std::vector<int>& selfCodes,
                         std::string_view id, const HistoryRequest& history) {
    // XEP-0045 §7.1: the others' presence, then the self-presence, history, the subject.
    const bool seesJids = seesRealJids(occupant);
    for (const auto& [nick, other] : occupants_) {
        if (&other == &occupant) {
            continue;
        }
        const OccupantSession& shown = other.current();
        xml::Element p = mucPresence(shown.presence, nick, affiliationOf(shown.jid), other.role,
                                     seesJids ? &shown.jid : nullptr, {});
        p.setAttr("to", to.full());
        send(std::move(p));
    }
    const OccupantSession* own = occupant.session(to);
    xml::Element self = mucPresence(own->presence, occupant.nick, affiliationOf(to), occupant.role,
                                    &to, withSelf(selfCodes));
    self.setAttr("to", to.full());
    if (!id.empty()) {
        self.setAttr("id", std::string(id));
    }
    send(std::move(self));
    for (const RoomHistory::Entry* entry :
         history_.select(history, static_cast<std::size_t>(config_.historyLength), Clock::now())) {
        xml::Element copy = entry->message;
        copy.setAttr("to", to.full());
        send(std::move(copy));
    }
    send(subjectMessage(to));
}

}  // namespace corvid::modules::muc
