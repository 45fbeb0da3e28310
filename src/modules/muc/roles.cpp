#include "modules/muc/roles.h"

#include <array>
#include <utility>

namespace corvid::modules::muc {

namespace {

constexpr std::array<std::pair<Role, std::string_view>, 4> kRoles{{
    {Role::None, "none"},
    {Role::Visitor, "visitor"},
    {Role::Participant, "participant"},
    {Role::Moderator, "moderator"},
}};

constexpr std::array<std::pair<Affiliation, std::string_view>, 5> kAffiliations{{
    {Affiliation::Outcast, "outcast"},
    {Affiliation::None, "none"},
    {Affiliation::Member, "member"},
    {Affiliation::Admin, "admin"},
    {Affiliation::Owner, "owner"},
}};

template <typename E, std::size_t N>
std::string_view nameOf(const std::array<std::pair<E, std::string_view>, N>& table, E value) {
    for (const auto& [e, name] : table) {
        if (e == value) {
            return name;
        }
    }
    return "none";
}

template <typename E, std::size_t N>
std::optional<E> valueOf(const std::array<std::pair<E, std::string_view>, N>& table,
                         std::string_view s) {
    for (const auto& [e, name] : table) {
        if (name == s) {
            return e;
        }
    }
    return std::nullopt;
}

}  // namespace

std::string_view toString(Role role) {
    return nameOf(kRoles, role);
}

std::string_view toString(Affiliation affiliation) {
    return nameOf(kAffiliations, affiliation);
}

std::optional<Role> roleFromString(std::string_view s) {
    return valueOf(kRoles, s);
}

std::optional<Affiliation> affiliationFromString(std::string_view s) {
    return valueOf(kAffiliations, s);
}

Role defaultRole(Affiliation affiliation, bool moderatedRoom) {
    switch (affiliation) {
        case Affiliation::Owner:
        case Affiliation::Admin:
            return Role::Moderator;
        case Affiliation::Member:
            return Role::Participant;
        case Affiliation::None:
            return moderatedRoom ? Role::Visitor : Role::Participant;
        case Affiliation::Outcast:
            return Role::None;
    }
    return Role::None;
}

}  // namespace corvid::modules::muc
