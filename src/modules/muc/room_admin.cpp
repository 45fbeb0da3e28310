// Room: roles and affiliations with http://jabber.org/protocol/muc#admin (XEP-0045 §8: kick,
// voice; §9: ban, membership, moderators; §10.3-§10.8: owners and admins), and the lists of each.

#include <algorithm>
#include <set>

#include "modules/muc/room.h"
#include "stanza/ns.h"
#include "util/log.h"

namespace corvid::modules::muc {

namespace ns = stanza::ns;
using stanza::ErrorType;
using stanza::Jid;
using stanza::StanzaCondition;

namespace {

constexpr int kBanned = 301;
constexpr int kKicked = 307;
constexpr int kAffiliationChanged = 321;
constexpr int kMembersOnly = 322;

// Items of one muc#admin request: more are refused (a list of bans is seldom longer).
constexpr std::size_t kMaxItems = 100;

}  // namespace

void Room::handleAdmin(const xml::Element& iq, const Jid& from) {
    const xml::Element& query = *iq.firstChildElement();
    std::vector<const xml::Element*> items;
    for (const xml::Element* e : query.childElements()) {
        if (e->is("item", ns::kMucAdmin)) {
            items.push_back(e);
        }
    }
    if (items.empty()) {
        fail(iq, StanzaCondition::BadRequest, "expected an <item/>", ErrorType::Modify);
        return;
    }
    if (iq.attr("type") == "get") {
        if (items.size() != 1) {
            fail(iq, StanzaCondition::BadRequest, "ask for one list at a time", ErrorType::Modify);
            return;
        }
        adminList(iq, from, *items.front());
        return;
    }
    if (items.size() > kMaxItems) {
        fail(iq, StanzaCondition::PolicyViolation,
             "at most " + std::to_string(kMaxItems) + " items per request");
        return;
    }
    auto changes = parseAdminItems(query, from);
    if (!changes) {
        fail(iq, changes.error().first, changes.error().second);
        return;
    }
    if (auto refusal = refuseAdmin(from, *changes)) {
        fail(iq, refusal->first, refusal->second);
        return;
    }
    const bool affiliations = std::any_of(changes->begin(), changes->end(),
                                          [](const AdminChange& c) { return !c.isRole; });
    if (!affiliations || !config_.persistent) {
        applyAdmin(from, *changes);
        reply(iq);
        return;
    }
    // Affiliations of a persistent room: stored first, applied once the database has them.
    enqueueWrite(iq, [iq, from, changes = std::move(*changes)](Room& room) {
        if (auto refusal = room.refuseAdmin(from, changes)) {  // the room changed meanwhile
            room.fail(iq, refusal->first, refusal->second);
            room.writeDone();
            return;
        }
        std::vector<storage::MucAffiliationRecord> records;
        for (const AdminChange& c : changes) {
            if (!c.isRole) {
                records.push_back({c.jid, std::string(toString(c.affiliation)), c.nick, c.reason});
            }
        }
        room.host_.store().setAffiliations(
            room.host_.settings().domain, room.jid_.local(), std::move(records),
            room.later<std::expected<storage::MucWriteStatus, storage::StoreError>>(
                [iq, from, changes](Room& r, auto result) {
                    if (!result) {
                        log::warn("MUC {}: storing affiliations failed: {}", r.jid_.full(),
                                  result.error().message);
                        r.fail(iq, StanzaCondition::InternalServerError,
                               "the affiliations could not be stored", ErrorType::Wait);
                    } else if (*result == storage::MucWriteStatus::NickTaken) {
                        r.fail(iq, StanzaCondition::Conflict,
                               "this nickname is reserved by another JID");
                    } else {
                        r.applyAdmin(from, changes);
                        r.reply(iq);
                    }
                    r.writeDone();
                }));
    });
}

void Room::adminList(const xml::Element& iq, const Jid& from, const xml::Element& item) {
    const Affiliation mine = affiliationOf(from);
    const Occupant* me = occupants_.byRealJid(from);
    xml::Element query("query", std::string(ns::kMucAdmin));
    if (item.hasAttr("affiliation")) {
        auto wanted = affiliationFromString(item.attr("affiliation"));
        if (!wanted || *wanted == Affiliation::None) {
            fail(iq, StanzaCondition::BadRequest,
                 "ask for the owner, admin, member or outcast list", ErrorType::Modify);
            return;
        }
        // XEP-0045 §9.5, §9.8, §10.5, §10.8: admins and owners; the member list also to the
        // roles the owner lets see it (muc#roomconfig_getmemberlist).
        const bool allowed =
            mine >= Affiliation::Admin || (*wanted == Affiliation::Member && me != nullptr &&
                                           config_.memberListRoles.contains(me->role));
        if (!allowed) {
            fail(iq, StanzaCondition::Forbidden, "you may not see this list");
            return;
        }
        for (const auto& [jid, entry] : affiliations_) {
            if (entry.affiliation != *wanted) {
                continue;
            }
            xml::Element& i = query.addChild("item");
            i.setAttr("affiliation", std::string(toString(entry.affiliation)));
            i.setAttr("jid", jid);
            if (!entry.nick.empty()) {
                i.setAttr("nick", entry.nick);
            }
            if (!entry.reason.empty()) {
                i.addTextChild("reason", entry.reason);
            }
        }
        reply(iq, std::move(query));
        return;
    }
    auto wanted = roleFromString(item.attr("role"));
    if (!item.hasAttr("role") || !wanted || *wanted == Role::None) {
        fail(iq, StanzaCondition::BadRequest,
             "ask for a list by affiliation or role (moderator, participant, visitor)",
             ErrorType::Modify);
        return;
    }
    // XEP-0045 §8.5, §9.9: moderators see who has voice and who moderates.
    if (me == nullptr || me->role != Role::Moderator) {
        fail(iq, StanzaCondition::Forbidden, "only moderators may see this list");
        return;
    }
    for (const auto& [nick, occupant] : occupants_) {
        if (occupant.role != *wanted) {
            continue;
        }
        xml::Element& i = query.addChild("item");
        i.setAttr("affiliation", std::string(toString(affiliationOf(occupant.bare))));
        i.setAttr("jid", occupant.current().jid.full());
        i.setAttr("nick", nick);
        i.setAttr("role", std::string(toString(occupant.role)));
    }
    reply(iq, std::move(query));
}

std::expected<std::vector<Room::AdminChange>, Room::Refusal> Room::parseAdminItems(
    const xml::Element& query, const Jid&) const {
    std::vector<AdminChange> out;
    for (const xml::Element* item : query.childElements()) {
        if (!item->is("item", ns::kMucAdmin)) {
            continue;
        }
        AdminChange c;
        c.reason = item->childText("reason", ns::kMucAdmin);
        c.nick = std::string(item->attr("nick"));
        if (item->hasAttr("affiliation")) {
            auto affiliation = affiliationFromString(item->attr("affiliation"));
            if (!affiliation) {
                return std::unexpected(
                    Refusal{StanzaCondition::BadRequest,
                            "unknown affiliation " + std::string(item->attr("affiliation"))});
            }
            c.affiliation = *affiliation;
            if (item->hasAttr("jid")) {
                auto jid = Jid::parse(item->attr("jid"));
                if (!jid) {
                    return std::unexpected(
                        Refusal{StanzaCondition::JidMalformed,
                                "not a valid JID: " + std::string(item->attr("jid"))});
                }
                c.jid = jid->bare().full();  // affiliations are of bare JIDs (§5.2)
            } else if (const Occupant* o = occupants_.byNick(c.nick)) {
                c.jid = o->bare.full();  // by the nickname of an occupant
                c.nick.clear();
            } else {
                return std::unexpected(
                    Refusal{StanzaCondition::BadRequest,
                            "an affiliation change needs the jid (or an occupant's nick)"});
            }
            if (c.affiliation != Affiliation::Member && c.affiliation != Affiliation::Admin &&
                c.affiliation != Affiliation::Owner) {
                c.nick.clear();  // only those hold a reserved nickname
            }
        } else if (item->hasAttr("role")) {
            auto role = roleFromString(item->attr("role"));
            if (!role) {
                return std::unexpected(Refusal{StanzaCondition::BadRequest,
                                               "unknown role " + std::string(item->attr("role"))});
            }
            if (c.nick.empty()) {
                return std::unexpected(Refusal{StanzaCondition::BadRequest,
                                               "a role change needs the occupant's nick"});
            }
            c.isRole = true;
            c.role = *role;
        } else {
            return std::unexpected(
                Refusal{StanzaCondition::BadRequest, "an item needs an affiliation or a role"});
        }
        out.push_back(std::move(c));
    }
    return out;
}

std::optional<Room::Refusal> Room::refuseAdmin(const Jid& from,
                                               const std::vector<AdminChange>& changes) const {
    const Affiliation mine = affiliationOf(from);
    const Occupant* me = occupants_.byRealJid(from);
    // The owners there would be after the changes: a room keeps at least one (§10.6).
    std::set<std::string, std::less<>> owners;
    for (const auto& [jid, entry] : affiliations_) {
        if (entry.affiliation == Affiliation::Owner) {
            owners.insert(jid);
        }
    }
    for (const AdminChange& c : changes) {
        if (c.isRole) {
            if (me == nullptr || me->role != Role::Moderator) {
                return Refusal{StanzaCondition::Forbidden, "only moderators may change roles"};
            }
            const Occupant* target = occupants_.byNick(c.nick);
            if (target == nullptr) {
                return Refusal{StanzaCondition::ItemNotFound,
                               "no occupant has the nickname " + c.nick};
            }
            const Affiliation theirs = affiliationOf(target->bare);
            if ((c.role == Role::Moderator || target->role == Role::Moderator) &&
                mine < Affiliation::Admin) {
                // §9.6, §9.7.
                return Refusal{StanzaCondition::Forbidden,
                               "only admins and owners may grant or revoke moderation"};
            }
            if (c.role < Role::Moderator && theirs >= Affiliation::Admin) {
                // §8.2, §8.4, §9.7: an admin's or owner's role follows from the affiliation.
                return Refusal{StanzaCondition::NotAllowed,
                               "an admin or owner cannot be kicked, silenced or demoted"};
            }
            if (c.role < target->role && theirs != Affiliation::None && theirs >= mine) {
                return Refusal{StanzaCondition::NotAllowed,
                               "you may not do this to an occupant of your affiliation or above"};
            }
            continue;
        }
        if (mine < Affiliation::Admin) {
            return Refusal{StanzaCondition::Forbidden,
                           "only admins and owners may change affiliations"};
        }
        auto it = affiliations_.find(c.jid);
        const Affiliation current =
            it == affiliations_.end() ? Affiliation::None : it->second.affiliation;
        if (mine != Affiliation::Owner) {
            if (c.affiliation >= Affiliation::Admin) {
                return Refusal{StanzaCondition::Forbidden,
                               "only owners may make admins and owners"};
            }
            if (current >= Affiliation::Admin) {
                return Refusal{StanzaCondition::NotAllowed,
                               "only owners may change the affiliation of an admin or owner"};
            }
        }
        if (!c.nick.empty()) {
            for (const auto& [jid, entry] : affiliations_) {
                if (entry.nick == c.nick && jid != c.jid) {
                    return Refusal{StanzaCondition::Conflict,
                                   "the nickname " + c.nick + " is reserved by another JID"};
                }
            }
        }
        if (c.affiliation == Affiliation::Owner) {
            owners.insert(c.jid);
        } else {
            owners.erase(c.jid);
        }
    }
    if (owners.empty()) {
        return Refusal{StanzaCondition::Conflict, "the room must keep at least one owner"};
    }
    return std::nullopt;
}

void Room::applyAdmin(const Jid& from, const std::vector<AdminChange>& changes) {
    const Occupant* me = occupants_.byRealJid(from);
    const std::string actor = me == nullptr ? std::string() : me->nick;
    // The affiliations first, noting what each occupant had.
    std::map<std::string, Affiliation, std::less<>> before;
    for (const auto& [nick, occupant] : occupants_) {
        before.emplace(nick, affiliationOf(occupant.bare));
    }
    std::map<std::string, std::string, std::less<>> reasons;  // by bare JID or domain
    for (const AdminChange& c : changes) {
        if (c.isRole) {
            continue;
        }
        if (c.affiliation == Affiliation::None) {
            affiliations_.erase(c.jid);
        } else {
            AffiliationEntry& entry = affiliations_[c.jid];
            entry.affiliation = c.affiliation;
            if (!c.nick.empty() || c.affiliation == Affiliation::Outcast) {
                entry.nick = c.nick;
            }
            entry.reason = c.reason;
        }
        reasons[c.jid] = c.reason;
    }
    auto reasonFor = [&](const Jid& bare) -> std::string_view {
        if (auto it = reasons.find(bare.full()); it != reasons.end()) {
            return it->second;
        }
        auto it = reasons.find(bare.domain());
        return it == reasons.end() ? std::string_view() : std::string_view(it->second);
    };
    // Occupants whose affiliation changed: out of the room (banned, or no longer a member of a
    // members-only room, with 301 or 321 and 322 §9.2, §9.4), or a new role (§9.3 ...).
    std::vector<std::string> nicks;
    for (const auto& [nick, occupant] : occupants_) {
        nicks.push_back(nick);
    }
    for (const std::string& nick : nicks) {
        Occupant* occupant = occupants_.byNick(nick);
        const Affiliation now = affiliationOf(occupant->bare);
        if (now == before[nick]) {
            continue;
        }
        const ItemNote note{reasonFor(occupant->bare), actor};
        if (now == Affiliation::Outcast) {
            removeOccupant(*occupant, {kBanned}, note);
        } else if (config_.membersOnly && now < Affiliation::Member) {
            removeOccupant(*occupant, {kAffiliationChanged, kMembersOnly}, note);
        } else {
            occupant->role = defaultRole(now, config_.moderated);
            const OccupantSession& shown = occupant->current();
            broadcastPresence(shown.presence, *occupant, shown.jid, occupant->role, {}, {}, {},
                              nullptr, note);
        }
    }
    // Then the roles (§8.2 kick, §8.3/§8.4 voice, §9.6/§9.7 moderators).
    for (const AdminChange& c : changes) {
        Occupant* occupant = c.isRole ? occupants_.byNick(c.nick) : nullptr;
        if (occupant == nullptr || occupant->role == c.role) {
            continue;  // gone with an affiliation change above, or nothing to do
        }
        const ItemNote note{c.reason, actor};
        if (c.role == Role::None) {
            removeOccupant(*occupant, {kKicked}, note);
            continue;
        }
        occupant->role = c.role;
        const OccupantSession& shown = occupant->current();
        broadcastPresence(shown.presence, *occupant, shown.jid, occupant->role, {}, {}, {}, nullptr,
                          note);
    }
}

}  // namespace corvid::modules::muc
