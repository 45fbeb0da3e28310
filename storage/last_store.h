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

  private:
    Database& db_;
};

}  // namespace corvid::storage
