#pragma once

#include <cstdint>
#include <expected>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "modules/muc/roles.h"
#include "storage/muc_store.h"
#include "xml/element.h"

namespace corvid::modules::muc {

/// muc#roomconfig_whois: who may see the occupants' real JIDs (XEP-0045 §4.2: semi-anonymous
/// when only moderators, non-anonymous when anyone).
enum class Whois : std::uint8_t { Moderators, Anyone };

/// muc#roomconfig_allowpm: which roles may send private messages.
enum class AllowPm : std::uint8_t { Anyone, Participants, Moderators, None };

/// A set of roles (muc#roomconfig_getmemberlist).
class RoleSet {
  public:
    constexpr RoleSet() = default;
    constexpr RoleSet(std::initializer_list<Role> roles) {
        for (Role r : roles) {
            add(r);
        }
    }
    constexpr void add(Role r) { bits_ |= bit(r); }
    constexpr bool contains(Role r) const { return (bits_ & bit(r)) != 0; }
    bool operator==(const RoleSet&) const = default;

  private:
    static constexpr std::uint8_t bit(Role r) {
        return static_cast<std::uint8_t>(1U << static_cast<unsigned>(r));
    }
    std::uint8_t bits_ = 0;
};

/// What the owner configures (XEP-0045 §10.2, the fields corvid offers). The defaults are those
/// of a new room.
struct RoomConfig {
    std::string title;        ///< muc#roomconfig_roomname
    std::string description;  ///< muc#roomconfig_roomdesc
    bool persistent = false;  ///< muc#roomconfig_persistentroom
    bool isPublic = true;     ///< muc#roomconfig_publicroom
    bool membersOnly = false;
    std::string password;  ///< muc#roomconfig_roomsecret; empty: none
    bool moderated = false;
    Whois whois = Whois::Moderators;
    int maxUsers = 0;        ///< muc#roomconfig_maxusers; 0: the service's limit
    int historyLength = 20;  ///< muc#maxhistoryfetch
    bool changeSubject = false;
    bool allowInvites = false;
    RoleSet memberListRoles{Role::Moderator, Role::Participant};
    AllowPm allowPm = AllowPm::Anyone;

    bool operator==(const RoomConfig&) const = default;
};

/// The service's bounds on what an owner may configure.
struct ConfigLimits {
    int maxHistory = 50;  ///< ceiling of muc#maxhistoryfetch
    int maxUsers = 0;     ///< ceiling of muc#roomconfig_maxusers; 0: none
};

/// The configuration part of a stored room (subject fields are left empty).
storage::MucRoomRecord toRecord(const RoomConfig& config);
/// A stored room's configuration; values the database cannot hold are impossible, unknown words
/// fall back to the defaults. `persistent` is true (only persistent rooms are stored).
RoomConfig fromRecord(const storage::MucRoomRecord& record);

/// The muc#roomconfig form (XEP-0045 §10.1.3) holding `config`.
xml::Element configForm(const RoomConfig& config, const ConfigLimits& limits);

/// `config` changed by a submitted muc#roomconfig form: fields not in the form keep their value,
/// unknown fields are ignored; a value corvid cannot take gives an error text for
/// <not-acceptable/>.
std::expected<RoomConfig, std::string> applyConfigForm(RoomConfig config, const xml::Element& x,
                                                       const ConfigLimits& limits);

/// The room's disco#info features for its configuration (XEP-0045 §6.4), without the ones every
/// room has.
std::vector<std::string> configFeatures(const RoomConfig& config);

/// The muc#roominfo extended disco form (XEP-0045 §6.4, §15.5.4).
xml::Element roomInfoForm(const RoomConfig& config, std::string_view subject,
                          std::size_t occupants);

}  // namespace corvid::modules::muc
