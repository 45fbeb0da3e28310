#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/account_store.h"
#include "storage/database.h"

namespace corvid::storage {

/// The subscription attribute of a roster item (RFC 6121 §2.1.2.5).
enum class Subscription { None, To, From, Both };

std::string_view toString(Subscription subscription);
std::optional<Subscription> subscriptionFromString(std::string_view text);

/// One contact of a roster, with its presence subscription state (RFC 6121 §3, Appendix A).
struct RosterItem {
    std::string jid;  ///< the contact's bare JID, prepared (RFC 7622)
    std::optional<std::string> name;
    std::vector<std::string> groups;
    Subscription subscription = Subscription::None;
    bool askOut = false;     ///< pending out: shown to clients as ask='subscribe'
    bool pendingIn = false;  ///< pending in: the contact's request waits for the user's answer
    bool approved = false;   ///< pre-approved (RFC 6121 §3.4)
    /// False for a row that only holds a pending-in request: RFC 6121 §3.1.3 forbids adding the
    /// contact to the roster for that, so clients never see it.
    bool inRoster = true;
    std::string pendingStanza;  ///< the pending request (XML), delivered again at each login

    bool operator==(const RosterItem&) const = default;
};

/// An account's roster as stored.
struct Roster {
    std::int64_t accountId = 0;
    /// Bumped by every change a client can see (RFC 6121 §2.6); 0 for a roster never written.
    std::int64_t version = 0;
    std::vector<RosterItem> items;  ///< every row, in byte order of the JID
};

/// Rosters keyed by account. Every method is asynchronous; callbacks run later from the loop (see
/// Database). Callers serialise the writes of one account themselves (the roster module runs one
/// operation per account at a time), so a write never races another write of the same roster.
class RosterStore {
  public:
    template <typename T>
    using Done = std::move_only_function<void(std::expected<T, StoreError>)>;

    explicit RosterStore(Database& db) : db_(db) {}

    /// The whole roster of (domain, username); std::nullopt when there is no such account.
    void load(std::string_view domain, std::string_view username, Done<std::optional<Roster>> done);
    /// Inserts or replaces the item (keyed by item.jid) and, when bumpVersion, increments the
    /// roster version in the same transaction. Gives the version after the write.
    void put(std::int64_t accountId, const RosterItem& item, bool bumpVersion,
             Done<std::int64_t> done);
    /// Deletes the item (nothing happens when there is none), bumping the version when asked,
    /// in one transaction. Gives the version after the write.
    void remove(std::int64_t accountId, std::string_view jid, bool bumpVersion,
                Done<std::int64_t> done);

  private:
    Database& db_;
};

/// PostgreSQL's text form of a text[] (`{"a","b\"c"}`), every element quoted.
std::string encodeTextArray(const std::vector<std::string>& values);
/// Parses PostgreSQL's text output of a one-dimensional text[]; std::nullopt when malformed or
/// when it holds a NULL.
std::optional<std::vector<std::string>> decodeTextArray(std::string_view text);

}  // namespace corvid::storage
