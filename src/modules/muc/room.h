#pragma once

#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "modules/muc/history.h"
#include "modules/muc/occupants.h"
#include "modules/muc/roles.h"
#include "modules/muc/room_config.h"
#include "modules/muc/room_host.h"
#include "stanza/errors.h"
#include "stanza/jid.h"
#include "xml/element.h"

namespace corvid::modules::muc {

/// An affiliation with the room (XEP-0045 §5.2) of a bare JID or a domain.
struct AffiliationEntry {
    Affiliation affiliation = Affiliation::None;
    std::string nick;  ///< reserved nickname, "" for none
    std::string reason;
};

/// What the muc#user item of a presence says besides affiliation and role (XEP-0045 §8.2,
/// §9.1): why, and the nickname of the moderator who did it.
struct ItemNote {
    std::string_view reason;
    std::string_view actor;
};

/// The room's subject (XEP-0045 §8.1).
struct Subject {
    std::string text;
    std::string nick;                     ///< who set it ("" : the room)
    std::optional<Clock::time_point> at;  ///< never set: none
};

/// One chat room: its configuration, affiliations, occupants, subject and history, and the
/// XEP-0045 rules for the stanzas addressed to it or to its occupants. Rooms are created and
/// removed by the service (RoomHost), which asks finished() after every call into a room; a room
/// never destroys itself.
///
/// Persistent rooms write every change of configuration, affiliation or subject to the
/// database through a queue of writes run one at a time, so that they land in the order they
/// were made; a change that answers a request is applied and answered once its write has been
/// confirmed.
class Room {
  public:
    /// A room loaded from the database, or (locked) one made by a join; `id` tells this
    /// incarnation from an earlier or later room of the same name.
    Room(RoomHost& host, std::uint64_t id, stanza::Jid jid, RoomConfig config,
         std::map<std::string, AffiliationEntry, std::less<>> affiliations, Subject subject,
         bool locked);

    /// A stanza to the room (bare JID) or to one of its occupants (room@service/nick); `from`
    /// is the real JID of the sender, verified by the stream it came in on.
    void handle(xml::Element&& stanza, const stanza::Jid& from, const stanza::Jid& to);

    /// True when the service should drop the room: destroyed, or transient, empty and with no
    /// write in progress.
    bool finished() const;

    /// The XEP-0045 §7.2.1 answer to available presence without <x/> from someone who is not
    /// in the room (`to`, an occupant JID): a kick, for a client that lost track of the room.
    static xml::Element desyncKick(const xml::Element& presence, const stanza::Jid& from,
                                   const stanza::Jid& to);

    std::uint64_t id() const { return id_; }
    const stanza::Jid& jid() const { return jid_; }
    const RoomConfig& config() const { return config_; }
    bool locked() const { return locked_; }
    std::size_t occupantCount() const { return occupants_.size(); }
    /// The affiliation of a real JID: of its bare JID, else of its domain.
    Affiliation affiliationOf(const stanza::Jid& real) const;

  private:
    // --- room.cpp: dispatch, addressing, common helpers ---
    void handleIqToRoom(const xml::Element& iq, const stanza::Jid& from);
    /// An iq to an occupant JID: a self-ping is answered (XEP-0410), others are refused.
    void iqToOccupant(const xml::Element& iq, const stanza::Jid& from, const stanza::Jid& to);
    void discoInfo(const xml::Element& iq, const stanza::Jid& from);
    stanza::Jid occupantJid(std::string_view nick) const;
    /// Errors from the room (or occupant JID) the stanza was sent to, without echoing its
    /// payload (a join's password, say).
    void fail(const xml::Element& stanza, stanza::StanzaCondition condition,
              std::string_view text = {}, std::optional<stanza::ErrorType> type = std::nullopt);
    void reply(const xml::Element& iq, std::optional<xml::Element> payload = std::nullopt);
    void send(xml::Element&& stanza);
    /// Sends `stanza` to every session of every occupant.
    void broadcast(const xml::Element& stanza);
    bool seesRealJids(const Occupant& viewer) const;

    // --- room_presence.cpp: joining, presence updates, nickname changes, leaving ---
    void handlePresence(xml::Element&& presence, const stanza::Jid& from, const stanza::Jid& to);
    void join(xml::Element&& presence, const stanza::Jid& from, const stanza::Jid& to,
              const xml::Element& mucX);
    void changeNick(Occupant& occupant, xml::Element&& presence, const stanza::Jid& from,
                    const stanza::Jid& to);
    void updatePresence(Occupant& occupant, xml::Element&& presence, const stanza::Jid& from,
                        bool resync);
    void leave(Occupant& occupant, const stanza::Jid& from, const xml::Element* presence,
               std::initializer_list<int> codes);
    /// A stanza error's condition and text.
    using Refusal = std::pair<stanza::StanzaCondition, std::string>;
    /// Why `from` may not enter under `nick`, or none.
    std::optional<Refusal> refuseEntry(const stanza::Jid& from, std::string_view nick,
                                       const xml::Element& mucX) const;
    /// `base` (a presence without MUC extensions) as sent from the occupant JID of `nick`, with
    /// the muc#user item (the real JID when `real` is given) and `codes`; 'to' is the caller's.
    xml::Element mucPresence(const xml::Element& base, std::string_view nick,
                             Affiliation affiliation, Role role, const stanza::Jid* real,
                             const std::vector<int>& codes, std::string_view newNick = {},
                             const ItemNote& note = {}) const;
    /// Sends `base` as the presence of `occupant`'s session `real` to every session in the room
    /// except `except`: the occupant's own sessions get 110 and `selfCodes`, the others `codes`
    /// and the real JID if they may see it (XEP-0045 §7.2.3, §7.2.4).
    void broadcastPresence(const xml::Element& base, const Occupant& occupant,
                           const stanza::Jid& real, Role role, const std::vector<int>& codes,
                           const std::vector<int>& selfCodes, std::string_view newNick = {},
                           const stanza::Jid* except = nullptr, const ItemNote& note = {});
    /// Takes every session of `occupant` out of the room, telling everyone with `codes` (a
    /// kick, a ban ...).
    void removeOccupant(Occupant& occupant, const std::vector<int>& codes, const ItemNote& note);
    /// Occupant list, self-presence, history and subject to a session that joined (§7.2).
    void sendRoomState(const Occupant& occupant, const stanza::Jid& to,
                       const std::vector<int>& selfCodes, std::string_view id,
                       const HistoryRequest& history);

    // --- room_messages.cpp: groupchat, subject, private messages, delivery errors ---
    void handleMessage(xml::Element&& message, const stanza::Jid& from, const stanza::Jid& to);
    void groupchat(xml::Element&& message, Occupant& sender);
    void changeSubject(const xml::Element& message, Occupant& sender);
    void privateMessage(xml::Element&& message, Occupant& sender, const stanza::Jid& to);
    /// An error a session's server or client returned for something the room sent it.
    void deliveryError(const xml::Element& error, const stanza::Jid& from);
    xml::Element subjectMessage(const stanza::Jid& to) const;

    // --- room_admin.cpp: roles and affiliations (XEP-0045 §8, §9, §10.3-§10.8) ---
    /// One change a muc#admin set asks for: a role (by nickname) or an affiliation (by JID).
    struct AdminChange {
        bool isRole = false;
        std::string nick;  ///< role: the occupant; affiliation: the nickname to reserve, if any
        Role role = Role::None;
        std::string jid;  ///< affiliation: a bare JID or a domain
        Affiliation affiliation = Affiliation::None;
        std::string reason;
    };
    void handleAdmin(const xml::Element& iq, const stanza::Jid& from);
    void adminList(const xml::Element& iq, const stanza::Jid& from, const xml::Element& item);
    /// Reads the items of a muc#admin set, or why they are not a valid request.
    std::expected<std::vector<AdminChange>, Refusal> parseAdminItems(const xml::Element& query,
                                                                     const stanza::Jid& from) const;
    /// Why `from` may not make these changes, or none.
    std::optional<Refusal> refuseAdmin(const stanza::Jid& from,
                                       const std::vector<AdminChange>& changes) const;
    void applyAdmin(const stanza::Jid& from, const std::vector<AdminChange>& changes);

    // --- room_invites.cpp: mediated invitations and declines (XEP-0045 §7.8.2, §7.8.3) ---
    /// A message to the room carrying muc#user <invite/>s or a <decline/>.
    void invitations(const xml::Element& message, const stanza::Jid& from, const xml::Element& x);
    void invite(const stanza::Jid& from, const xml::Element& invite);
    void decline(const xml::Element& message, const stanza::Jid& from, const xml::Element& decline);

    /// Invitations the room passed on, invitee and inviter (bare JIDs), oldest first: a decline
    /// goes only to someone who invited its sender.
    struct Invitation {
        std::string invitee;
        stanza::Jid inviter;
    };
    std::deque<Invitation> invitations_;

    // --- room_owner.cpp: configuration and destruction (XEP-0045 §10) ---
    void handleOwner(const xml::Element& iq, const stanza::Jid& from);
    void submitConfig(const xml::Element& iq, const stanza::Jid& from, const xml::Element& form);
    void applyConfig(RoomConfig config);
    void destroy(const xml::Element& iq, const stanza::Jid& from, const xml::Element& request);
    void finishDestroy(const std::string& alternate, const std::string& reason,
                       const std::string& password);
    /// The room as stored, with `config`.
    storage::MucStoredRoom stored(const RoomConfig& config) const;

    // --- the write queue ---
    struct Write {
        xml::Element request;  ///< answered with an error if the room goes before it runs
        // std::function: GCC 12 wants a complete Room for a move_only_function taking one.
        std::function<void(Room&)> run;  ///< calls writeDone() when finished
    };
    /// Runs `run` after the writes queued before it; a full queue refuses `request`.
    void enqueueWrite(const xml::Element& request, std::function<void(Room&)> run);
    bool writeQueueFull() const { return writes_.size() >= kMaxQueuedWrites; }
    void writeDone();
    void runWrites();
    /// A callback for the store that comes back to this room (if it still exists) with the
    /// result.
    template <typename T>
    auto later(std::move_only_function<void(Room&, T)> f);
    /// Writes the subject of a persistent room (a failure is logged: the subject has been
    /// broadcast already).
    void persistSubject();

    /// Writes of one room waiting for the database; more are refused (resource-constraint).
    static constexpr std::size_t kMaxQueuedWrites = 64;

    RoomHost& host_;
    const std::uint64_t id_;
    const stanza::Jid jid_;
    RoomConfig config_;
    std::map<std::string, AffiliationEntry, std::less<>> affiliations_;
    OccupantTable occupants_;
    RoomHistory history_;
    Subject subject_;
    bool locked_;
    bool destroyed_ = false;
    std::deque<Write> writes_;
    bool writing_ = false;
    bool runningWrites_ = false;
};

template <typename T>
auto Room::later(std::move_only_function<void(Room&, T)> f) {
    return [host = &host_, alive = host_.aliveToken(), name = std::string(jid_.local()), id = id_,
            f = std::move(f)](T result) mutable {
        if (alive.expired()) {
            return;
        }
        host->resume(name, id, [&f, &result](Room& room) { f(room, std::move(result)); });
    };
}

}  // namespace corvid::modules::muc
