// Room: what owners do with http://jabber.org/protocol/muc#owner (XEP-0045 §10): the
// configuration form, the instant room, cancelling a new room, destroying a room.

#include "modules/muc/room.h"
#include "stanza/ns.h"
#include "util/log.h"
#include "util/random.h"

namespace corvid::modules::muc {

namespace ns = stanza::ns;
using stanza::ErrorType;
using stanza::Jid;
using stanza::StanzaCondition;

namespace {

constexpr int kConfigChanged = 104;
constexpr int kNowNonAnonymous = 172;
constexpr int kNowSemiAnonymous = 173;
constexpr int kMembersOnly = 322;

}  // namespace

storage::MucStoredRoom Room::stored(const RoomConfig& config) const {
    storage::MucStoredRoom out;
    out.room = toRecord(config);
    out.room.subject = subject_.text;
    out.room.subjectNick = subject_.nick;
    if (subject_.at) {
        out.room.subjectAtMs =
            std::chrono::duration_cast<std::chrono::milliseconds>(subject_.at->time_since_epoch())
                .count();
    }
    for (const auto& [jid, entry] : affiliations_) {
        out.affiliations.push_back(
            {jid, std::string(toString(entry.affiliation)), entry.nick, entry.reason});
    }
    return out;
}

void Room::handleOwner(const xml::Element& iq, const Jid& from) {
    if (affiliationOf(from) != Affiliation::Owner) {
        fail(iq, StanzaCondition::Forbidden, "only the room's owners may do this");
        return;
    }
    const xml::Element& query = *iq.firstChildElement();
    if (iq.attr("type") == "get") {
        // XEP-0045 §10.1.3, §10.2.
        xml::Element answer("query", std::string(ns::kMucOwner));
        answer.addChild(configForm(config_, host_.settings().limits));
        reply(iq, std::move(answer));
        return;
    }
    if (const xml::Element* request = query.findChild("destroy", ns::kMucOwner)) {
        destroy(iq, from, *request);
        return;
    }
    const xml::Element* form = query.findChild("x", ns::kDataForms);
    if (form == nullptr) {
        fail(iq, StanzaCondition::BadRequest, "expected a muc#roomconfig form or <destroy/>",
             ErrorType::Modify);
        return;
    }
    const std::string_view type = form->attr("type");
    if (type == "cancel") {
        // XEP-0045 §10.1.3: cancelling the configuration of a new room destroys it; of a room
        // in use, changes nothing.
        if (locked_) {
            finishDestroy({}, {}, {});
        }
        reply(iq);
        return;
    }
    if (type != "submit") {
        fail(iq, StanzaCondition::BadRequest, "submit the form with type='submit' or 'cancel'",
             ErrorType::Modify);
        return;
    }
    submitConfig(iq, from, *form);
}

void Room::submitConfig(const xml::Element& iq, const Jid& from, const xml::Element& form) {
    enqueueWrite(iq, [iq, from, form](Room& room) {
        // Queued behind other writes: the sender may have lost ownership meanwhile.
        if (room.affiliationOf(from) != Affiliation::Owner) {
            room.fail(iq, StanzaCondition::Forbidden, "only the room's owners may do this");
            room.writeDone();
            return;
        }
        auto next = applyConfigForm(room.config_, form, room.host_.settings().limits);
        if (!next) {
            room.fail(iq, StanzaCondition::NotAcceptable, next.error());
            room.writeDone();
            return;
        }
        auto done = [iq, config = *next](Room& r, bool ok) {
            if (ok) {
                r.applyConfig(config);
                r.reply(iq);
            } else {
                r.fail(iq, StanzaCondition::InternalServerError,
                       "the configuration could not be stored", ErrorType::Wait);
            }
            r.writeDone();
        };
        const bool was = room.config_.persistent;
        const std::string& service = room.host_.settings().domain;
        const std::string name(room.jid_.local());
        auto logged = [name = room.jid_.full()](const storage::StoreError& e) {
            log::warn("MUC {}: storing the configuration failed: {}", name, e.message);
        };
        storage::MucStore& store = room.host_.store();
        if (!was && !next->persistent) {
            done(room, true);
        } else if (!was) {
            // Becomes persistent: stored with its affiliations and subject.
            store.save(service, name, room.stored(*next),
                       room.later<std::expected<void, storage::StoreError>>(
                           [done, logged](Room& r, auto result) {
                               if (!result) {
                                   logged(result.error());
                               }
                               done(r, result.has_value());
                           }));
        } else if (next->persistent) {
            store.saveConfig(service, name, toRecord(*next),
                             room.later<std::expected<bool, storage::StoreError>>(
                                 [done, logged](Room& r, auto result) {
                                     if (!result) {
                                         logged(result.error());
                                     }
                                     done(r, result.has_value());
                                 }));
        } else {
            // No longer persistent: it goes from the database, and from memory once empty.
            store.remove(service, name,
                         room.later<std::expected<bool, storage::StoreError>>(
                             [done, logged](Room& r, auto result) {
                                 if (!result) {
                                     logged(result.error());
                                 }
                                 done(r, result.has_value());
                             }));
        }
    });
}

void Room::applyConfig(RoomConfig next) {
    const RoomConfig old = std::exchange(config_, std::move(next));
    const bool wasLocked = std::exchange(locked_, false);
    history_.trim(static_cast<std::size_t>(config_.historyLength));
    if (wasLocked) {
        return;  // nobody else is in yet
    }
    // XEP-0045 §10.2.1: occupants hear that the configuration changed, and how far it concerns
    // their privacy.
    xml::Element notice("message", std::string(ns::kClient));
    notice.setAttr("from", jid_.full());
    notice.setAttr("type", "groupchat");
    notice.setAttr("id", util::randomId(16));
    xml::Element& x = notice.addChild("x", ns::kMucUser);
    std::vector<int> codes = {kConfigChanged};
    if (old.whois != config_.whois) {
        codes.push_back(config_.whois == Whois::Anyone ? kNowNonAnonymous : kNowSemiAnonymous);
    }
    for (int code : codes) {
        x.addChild("status").setAttr("code", std::to_string(code));
    }
    broadcast(notice);
    if (old.whois != config_.whois) {
        // What non-moderators see of the others changed: they get every presence again.
        for (const auto& [nick, viewer] : occupants_) {
            if (viewer.role == Role::Moderator) {
                continue;
            }
            const bool seesJids = seesRealJids(viewer);
            for (const auto& [otherNick, other] : occupants_) {
                const OccupantSession& shown = other.current();
                for (const auto& session : viewer.sessions) {
                    xml::Element p =
                        mucPresence(shown.presence, otherNick, affiliationOf(shown.jid), other.role,
                                    seesJids ? &shown.jid : nullptr, {});
                    p.setAttr("to", session.jid.full());
                    send(std::move(p));
                }
            }
        }
    }
    if (config_.membersOnly && !old.membersOnly) {
        // XEP-0045 §10.2: those who are not members leave, with 322.
        std::vector<std::pair<std::string, Jid>> out;
        for (const auto& [nick, occupant] : occupants_) {
            if (affiliationOf(occupant.bare) < Affiliation::Member) {
                for (const auto& session : occupant.sessions) {
                    out.emplace_back(nick, session.jid);
                }
            }
        }
        for (const auto& [nick, jid] : out) {
            if (Occupant* occupant = occupants_.byNick(nick)) {
                leave(*occupant, jid, nullptr, {kMembersOnly});
            }
        }
    }
}

void Room::destroy(const xml::Element& iq, const Jid& from, const xml::Element& request) {
    std::string alternate(request.attr("jid"));
    if (!alternate.empty()) {
        auto venue = Jid::parse(alternate);
        if (!venue) {
            fail(iq, StanzaCondition::JidMalformed,
                 "the alternate venue is not a valid JID: " + venue.error().reason,
                 ErrorType::Modify);
            return;
        }
        alternate = venue->full();
    }
    std::string reason = request.childText("reason", ns::kMucOwner);
    std::string password = request.childText("password", ns::kMucOwner);
    enqueueWrite(iq, [iq, from, alternate, reason, password](Room& room) {
        if (room.affiliationOf(from) != Affiliation::Owner) {
            room.fail(iq, StanzaCondition::Forbidden, "only the room's owners may do this");
            room.writeDone();
            return;
        }
        auto done = [iq, alternate, reason, password](Room& r, bool ok) {
            if (ok) {
                r.finishDestroy(alternate, reason, password);
                r.reply(iq);
            } else {
                r.fail(iq, StanzaCondition::InternalServerError,
                       "the room could not be removed from the database", ErrorType::Wait);
            }
            r.writeDone();
        };
        if (!room.config_.persistent) {
            done(room, true);
            return;
        }
        room.host_.store().remove(
            room.host_.settings().domain, room.jid_.local(),
            room.later<std::expected<bool, storage::StoreError>>([done](Room& r, auto result) {
                if (!result) {
                    log::warn("MUC {}: destroying failed: {}", r.jid_.full(),
                              result.error().message);
                }
                done(r, result.has_value());
            }));
    });
}

void Room::finishDestroy(const std::string& alternate, const std::string& reason,
                         const std::string& password) {
    // XEP-0045 §10.9: every occupant is told, with the alternate venue if there is one.
    for (const auto& [nick, occupant] : occupants_) {
        for (const auto& session : occupant.sessions) {
            xml::Element p("presence", std::string(ns::kClient));
            p.setAttr("from", occupantJid(nick).full());
            p.setAttr("to", session.jid.full());
            p.setAttr("type", "unavailable");
            xml::Element& x = p.addChild("x", ns::kMucUser);
            xml::Element& item = x.addChild("item");
            item.setAttr("affiliation", "none");
            item.setAttr("role", "none");
            xml::Element& d = x.addChild("destroy");
            if (!alternate.empty()) {
                d.setAttr("jid", alternate);
            }
            if (!reason.empty()) {
                d.addTextChild("reason", reason);
            }
            if (!password.empty()) {
                d.addTextChild("password", password);
            }
            send(std::move(p));
        }
    }
    destroyed_ = true;
}

}  // namespace corvid::modules::muc
