#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace corvid::modules::muc {

/// XEP-0045 §5.1: a role lasts for one visit to the room. Ordered by privilege.
enum class Role : std::uint8_t { None, Visitor, Participant, Moderator };

/// XEP-0045 §5.2: an affiliation lasts across visits. Ordered by privilege.
enum class Affiliation : std::uint8_t { Outcast, None, Member, Admin, Owner };

std::string_view toString(Role role);
std::string_view toString(Affiliation affiliation);
std::optional<Role> roleFromString(std::string_view s);
std::optional<Affiliation> affiliationFromString(std::string_view s);

/// XEP-0045 §5.1.2: the role an occupant gets on entering, from its affiliation (outcasts never
/// enter: Role::None).
Role defaultRole(Affiliation affiliation, bool moderatedRoom);

}  // namespace corvid::modules::muc
