#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "modules/muc/roles.h"
#include "stanza/jid.h"
#include "xml/element.h"

namespace corvid::modules::muc {

/// One client connection in a room: an occupant has one or more (XEP-0045 §7.2.9: several
/// resources of one account under one nickname).
struct OccupantSession {
    stanza::Jid jid;        ///< the real full JID
    xml::Element presence;  ///< what it last sent to the room, without the MUC extensions
};

/// An occupant (XEP-0045 §4.1): a nickname in the room, the account behind it, its role.
struct Occupant {
    std::string nick;
    stanza::Jid bare;  ///< the real bare JID of every session
    Role role = Role::Participant;
    std::vector<OccupantSession> sessions;  ///< the one whose presence counts last

    OccupantSession* session(const stanza::Jid& full);
    const OccupantSession* session(const stanza::Jid& full) const;
    /// The session whose presence the others see.
    const OccupantSession& current() const { return sessions.back(); }
};

/// The occupants of one room by nickname, with an index by real full JID.
class OccupantTable {
  public:
    Occupant* byNick(std::string_view nick);
    const Occupant* byNick(std::string_view nick) const;
    /// The occupant that `full` (a real full JID) is a session of.
    Occupant* byRealJid(const stanza::Jid& full);
    const Occupant* byRealJid(const stanza::Jid& full) const;

    /// A new occupant with its first session (the nickname must be free).
    Occupant& add(std::string nick, const stanza::Jid& full, Role role, xml::Element presence);
    /// Adds or refreshes a session of an existing occupant of the same account; it becomes the
    /// current one.
    void setSession(Occupant& occupant, const stanza::Jid& full, xml::Element presence);
    /// Removes a session; the occupant goes with its last one. True when the occupant is gone.
    bool removeSession(Occupant& occupant, const stanza::Jid& full);
    /// Gives the occupant a new nickname (which must be free); returns its new address.
    Occupant& rename(Occupant& occupant, std::string nick);

    std::size_t size() const { return byNick_.size(); }
    bool empty() const { return byNick_.empty(); }
    auto begin() { return byNick_.begin(); }
    auto end() { return byNick_.end(); }
    auto begin() const { return byNick_.begin(); }
    auto end() const { return byNick_.end(); }

  private:
    std::map<std::string, Occupant, std::less<>> byNick_;
    std::unordered_map<stanza::Jid, std::string> nickOf_;  // real full JID -> nickname
};

}  // namespace corvid::modules::muc
