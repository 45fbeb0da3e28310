#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/account_store.h"  // StoreError
#include "storage/database.h"

namespace corvid::storage {

/// The stored configuration and subject of a persistent chat room (storage/schema/012_muc.sql
/// says what each column means). Enumerations are kept as the words XEP-0045 uses.
struct MucRoomRecord {
    std::string title;
    std::string description;
    bool isPublic = true;
    bool membersOnly = false;
    std::string password;
    bool moderated = false;
    std::string whois = "moderators";  ///< moderators, anyone
    int maxUsers = 0;
    int historyLength = 20;
    bool changeSubject = false;
    bool allowInvites = false;
    std::vector<std::string> memberListRoles = {"moderator", "participant"};
    std::string allowPm = "anyone";  ///< anyone, participants, moderators, none
    std::string subject;
    std::string subjectNick;
    /// When the subject was set, in milliseconds since the Unix epoch; none if it never was.
    std::optional<std::int64_t> subjectAtMs;

    bool operator==(const MucRoomRecord&) const = default;
};

/// One affiliation (XEP-0045 §5.2) of a bare JID or domain with a room.
struct MucAffiliationRecord {
    std::string jid;
    std::string affiliation;  ///< owner, admin, member, outcast ("none" removes, in writes)
    std::string nick;         ///< the reserved nickname, "" for none
    std::string reason;

    bool operator==(const MucAffiliationRecord&) const = default;
};

struct MucStoredRoom {
    MucRoomRecord room;
    std::vector<MucAffiliationRecord> affiliations;  ///< by JID
};

/// A room as the service's disco#items lists it.
struct MucListedRoom {
    std::string name;   ///< the localpart
    std::string title;  ///< muc#roomconfig_roomname, may be empty
};

/// Why an affiliation write failed, besides the database.
enum class MucWriteStatus { Written, NoRoom, NickTaken };

/// The persistent rooms of the chat services, keyed by (service domain, room localpart), both
/// prepared by the caller. Asynchronous: callbacks run later from the loop.
class MucStore {
  public:
    template <typename T>
    using Done = std::move_only_function<void(std::expected<T, StoreError>)>;

    explicit MucStore(Database& db) : db_(db) {}

    /// The room, or std::nullopt when it is not stored.
    void load(std::string_view service, std::string_view name,
              Done<std::optional<MucStoredRoom>> done);
    /// Stores the room with exactly these affiliations, replacing what was stored under its name
    /// (a room that has just become persistent). One transaction.
    void save(std::string_view service, std::string_view name, const MucStoredRoom& room,
              Done<void> done);
    /// Replaces the configuration (not the subject); false: no such room.
    void saveConfig(std::string_view service, std::string_view name, const MucRoomRecord& room,
                    Done<bool> done);
    /// Replaces the subject; false: no such room.
    void saveSubject(std::string_view service, std::string_view name, std::string_view subject,
                     std::string_view nick, std::int64_t atMs, Done<bool> done);
    /// Applies the changes (at least one) in order, all or none (one transaction). NickTaken: a
    /// reserved nickname belongs to another JID already.
    void setAffiliations(std::string_view service, std::string_view name,
                         std::vector<MucAffiliationRecord> changes, Done<MucWriteStatus> done);
    /// Removes the room with its affiliations; false: it was not stored.
    void remove(std::string_view service, std::string_view name, Done<bool> done);
    /// The public rooms of the service, by name.
    void publicRooms(std::string_view service, Done<std::vector<MucListedRoom>> done);

  private:
    Database& db_;
};

}  // namespace corvid::storage
