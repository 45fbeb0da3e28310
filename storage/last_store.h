#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "storage/account_store.h"
#include "storage/database.h"

namespace corvid::storage {

/// When an account was last seen (XEP-0012 §3).
struct LastActivity {
    std::int64_t seconds = 0;  ///< since the last resource went away (never negative)
    std::string status;        ///< <status/> of the last unavailable presence, or ""
};

/// What one entity may learn of an account's last activity (XEP-0012 §3).
struct LastActivityView {
    /// The viewer may see the account's presence: it is in the account's roster with a
    /// subscription of type from or both (RFC 6121 §3). False as well when there is no such
    /// account, so that the answer does not tell.
    bool allowed = false;
    /// The last logout when allowed, std::nullopt when none was recorded.
    std::optional<LastActivity> last;
};

/// Last logout per account, keyed by (domain, username), both normalised by the caller. Times
/// come from the database's clock. Asynchronous: callbacks run later from the loop.
class LastStore {
  public:
    template <typename T>
    using Done = std::move_only_function<void(std::expected<T, StoreError>)>;

    explicit LastStore(Database& db) : db_(db) {}

    /// Records a logout now with this status text. NotFound if there is no such account (it may
    /// have been removed while its last session was closing).
    void setLogout(std::string_view domain, std::string_view username, std::string_view status,
                   Done<void> done);
    /// The last logout, or std::nullopt when none was recorded (or no such account).
    void get(std::string_view domain, std::string_view username,
             Done<std::optional<LastActivity>> done);

    /// The last logout as `viewer` (a prepared bare JID) may see it, in one query. Reads the
    /// roster (roster_items, storage/schema/002_roster.sql) for the subscription.
    void getFor(std::string_view domain, std::string_view username, std::string_view viewer,
                Done<LastActivityView> done);

  private:
    Database& db_;
};

}  // namespace corvid::storage
