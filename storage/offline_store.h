#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/account_store.h"
#include "storage/database.h"

namespace corvid::storage {

/// What OfflineStore::store() did with a message.
enum class OfflineStoreOutcome {
    Stored,
    NoAccount,      ///< there is no such account: nothing was stored
    QuotaExceeded,  ///< the account already holds maxMessages messages: nothing was stored
    Blocked,        ///< the account blocks the sender (XEP-0191): nothing was stored
};

/// One message for OfflineStore::store().
struct OfflineDraft {
    std::string domain;
    std::string username;
    std::string stanza;  ///< the XML to store
    /// The sender's JID in the forms a blocklist entry may name it (full, bare, domain,
    /// domain/resource); empty: not checked against the blocklist.
    std::vector<std::string> blockedIf;
};

/// One stored message, as taken out for delivery.
struct OfflineMessage {
    std::int64_t id = 0;   ///< increasing in storage order
    std::string stanza;    ///< the XML as stored
    std::string storedAt;  ///< PostgreSQL's text form of the timestamptz, kept for restore()

    bool operator==(const OfflineMessage&) const = default;
};

/// Messages taken out for delivery, with the account they belong to (for restore()).
struct OfflineBatch {
    std::int64_t accountId = 0;            ///< 0 when there was nothing to take
    std::vector<OfflineMessage> messages;  ///< oldest first
};

/// Offline messages (XEP-0160) per account. Every method is asynchronous; callbacks run later
/// from the loop (see Database).
class OfflineStore {
  public:
    template <typename T>
    using Done = std::move_only_function<void(std::expected<T, StoreError>)>;

    explicit OfflineStore(Database& db) : db_(db) {}

    /// Stores the messages, for any accounts, in their order (the ids, hence the delivery order,
    /// follow it), each unless its account does not exist, blocks its sender (table
    /// blocklist_items) or already holds maxMessages messages, counting the earlier ones of the
    /// batch. One transaction and one round trip whatever the number of messages: the accounts'
    /// rows are locked first (in id order), so that concurrent stores for one account, from this
    /// server or another one on the same database, cannot both pass the quota check. The
    /// outcomes come in the order of `messages`.
    void store(std::vector<OfflineDraft> messages, std::int64_t maxMessages,
               Done<std::vector<OfflineStoreOutcome>> done);
    /// Deletes and returns the oldest messages, at most `limit` of them and `maxBytes` of XML
    /// together (but at least one, if any is stored), in one statement: what it returns is no
    /// longer stored, so the caller writes it out at once (or gives it back with restore()).
    void take(std::string_view domain, std::string_view username, int limit, std::int64_t maxBytes,
              Done<OfflineBatch> done);
    /// Puts messages given by take() back with their ids, hence in their old place in the order
    /// (for a session that went away before they could be written). One transaction.
    void restore(std::int64_t accountId, std::vector<OfflineMessage> messages, Done<void> done);
    /// How many messages (domain, username) has waiting (0 when there is no such account).
    void count(std::string_view domain, std::string_view username, Done<std::int64_t> done);

  private:
    Database& db_;
};

}  // namespace corvid::storage
