#include "modules/muc/occupants.h"

#include <algorithm>
#include <cassert>

namespace corvid::modules::muc {

using stanza::Jid;

OccupantSession* Occupant::session(const Jid& full) {
    for (auto& s : sessions) {
        if (s.jid == full) {
            return &s;
        }
    }
    return nullptr;
}

const OccupantSession* Occupant::session(const Jid& full) const {
    for (const auto& s : sessions) {
        if (s.jid == full) {
            return &s;
        }
    }
    return nullptr;
}

Occupant* OccupantTable::byNick(std::string_view nick) {
    auto it = byNick_.find(nick);
    return it == byNick_.end() ? nullptr : &it->second;
}

const Occupant* OccupantTable::byNick(std::string_view nick) const {
    auto it = byNick_.find(nick);
    return it == byNick_.end() ? nullptr : &it->second;
}

Occupant* OccupantTable::byRealJid(const Jid& full) {
    auto it = nickOf_.find(full);
    return it == nickOf_.end() ? nullptr : byNick(it->second);
}

const Occupant* OccupantTable::byRealJid(const Jid& full) const {
    auto it = nickOf_.find(full);
    return it == nickOf_.end() ? nullptr : byNick(it->second);
}

Occupant& OccupantTable::add(std::string nick, const Jid& full, Role role, xml::Element presence) {
    assert(!byNick_.contains(nick) && !nickOf_.contains(full));
    Occupant o{nick, full.bare(), role, {}};
    o.sessions.push_back({full, std::move(presence)});
    nickOf_.emplace(full, nick);
    auto [it, inserted] = byNick_.emplace(std::move(nick), std::move(o));
    return it->second;
}

void OccupantTable::setSession(Occupant& occupant, const Jid& full, xml::Element presence) {
    assert(full.bare() == occupant.bare);
    auto& sessions = occupant.sessions;
    std::erase_if(sessions, [&](const OccupantSession& s) { return s.jid == full; });
    sessions.push_back({full, std::move(presence)});
    nickOf_.insert_or_assign(full, occupant.nick);
}

bool OccupantTable::removeSession(Occupant& occupant, const Jid& full) {
    std::erase_if(occupant.sessions, [&](const OccupantSession& s) { return s.jid == full; });
    nickOf_.erase(full);
    if (!occupant.sessions.empty()) {
        return false;
    }
    const std::string nick = occupant.nick;  // the key goes with the occupant
    byNick_.erase(nick);
    return true;
}

Occupant& OccupantTable::rename(Occupant& occupant, std::string nick) {
    assert(!byNick_.contains(nick));
    auto node = byNick_.extract(occupant.nick);
    node.key() = nick;
    node.mapped().nick = nick;
    for (const auto& s : node.mapped().sessions) {
        nickOf_.insert_or_assign(s.jid, nick);
    }
    return byNick_.insert(std::move(node)).position->second;
}

}  // namespace corvid::modules::muc
