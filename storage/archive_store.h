#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/account_store.h"
#include "storage/database.h"

namespace corvid::storage {

/// Whether a message given to ArchiveStore::store() is archived.
enum class ArchiveDecision {
    Archive,     ///< decided by the server: yes
    IfInRoster,  ///< the 'roster' policy for an account whose roster the server does not hold
    ByPrefs,     ///< by the account's stored preferences (or the default policy): the server
                 ///< has not loaded them
};

/// One message for ArchiveStore::store().
struct ArchiveDraft {
    std::string domain;    ///< the archive's account
    std::string username;  ///< the archive's account
    std::int64_t id = 0;   ///< the archive UID (see storage/schema/011_archive.sql)
    std::string withJid;   ///< the other party's bare JID
    std::string withResource;
    bool outgoing = false;
    std::string stanza;  ///< the XML to keep
    std::string body;    ///< the body text for full-text search; empty: none
    /// Who decides whether it is archived (see ArchiveDecision).
    ArchiveDecision decision = ArchiveDecision::Archive;
};

/// One archived message, as a query returns it.
struct ArchivedMessage {
    std::int64_t id = 0;
    bool outgoing = false;
    std::string withJid;
    std::string stanza;
};

/// Which messages of an archive a query selects. Ids bound the selection: [minId, maxId], both
/// inclusive (time filters and after/before ids are folded into them by the caller).
struct ArchiveFilter {
    std::int64_t minId = 0;
    std::int64_t maxId = std::numeric_limits<std::int64_t>::max();
    std::optional<std::string> withJid;       ///< bare JID of the other party
    std::optional<std::string> withResource;  ///< with withJid: that full JID only
    std::vector<std::int64_t> ids;            ///< non-empty: only these
    std::optional<std::string> fulltext;      ///< words the body must contain (websearch syntax)
};

/// One page of a query: at most `max` messages, oldest first, taken from the oldest end of the
/// selection, or from the newest end when `fromEnd` (RSM <before/>).
struct ArchivePageRequest {
    ArchiveFilter filter;
    int max = 50;
    bool fromEnd = false;
    /// Ids that must exist in the archive (after-id, before-id, RSM after/before, ids).
    std::vector<std::int64_t> mustExist;
};

struct ArchivePage {
    std::vector<ArchivedMessage> messages;  ///< oldest first
    /// No further message of the selection lies beyond the page in the paging direction.
    bool complete = true;
    /// One of mustExist is not in the archive (XEP-0313 §4.3: item-not-found); nothing else is
    /// filled in then.
    bool unknownId = false;
};

/// The first and last message of an archive (XEP-0313 §5 metadata).
struct ArchiveBounds {
    std::optional<std::int64_t> first;
    std::optional<std::int64_t> last;
};

enum class ArchivePolicy { Always, Never, Roster };

/// XEP-0313 §6 preferences of one account.
struct ArchivePrefs {
    ArchivePolicy defaultPolicy = ArchivePolicy::Always;
    std::vector<std::string> always;  ///< bare JIDs
    std::vector<std::string> never;   ///< bare JIDs

    bool operator==(const ArchivePrefs&) const = default;
};

/// The preferences of one account, with the account, as loadAllPrefs() returns them.
struct StoredArchivePrefs {
    std::string domain;
    std::string username;
    ArchivePrefs prefs;
};

const char* toString(ArchivePolicy policy);
std::optional<ArchivePolicy> parseArchivePolicy(std::string_view text);

/// The message archive (XEP-0313) of the accounts. Every method is asynchronous; callbacks run
/// later from the loop (see Database). The query side knows nothing of XMPP: the caller parses
/// a query into an ArchivePageRequest and builds the answer from the ArchivePage.
class ArchiveStore {
  public:
    template <typename T>
    using Done = std::move_only_function<void(std::expected<T, StoreError>)>;

    explicit ArchiveStore(Database& db) : db_(db) {}

    /// Archives the messages, for any accounts, in one statement: each one unless its account
    /// does not exist or its decision says no (`defaultPolicy` applies to ByPrefs messages of
    /// accounts that have no preferences). The answer says for each, in order, whether it was
    /// archived. The ids of one batch are distinct (the server makes them strictly increasing).
    void store(std::vector<ArchiveDraft> messages, ArchivePolicy defaultPolicy,
               Done<std::vector<bool>> done);

    /// One page of an account's archive (one round trip: the mustExist check and the page run in
    /// one batch). An account that does not exist has an empty archive.
    void query(std::string_view domain, std::string_view username, ArchivePageRequest request,
               Done<ArchivePage> done);

    /// The oldest and newest id of an account's archive (none when it is empty).
    void bounds(std::string_view domain, std::string_view username, Done<ArchiveBounds> done);

    /// Every account's preferences (only accounts that set any have a row).
    void loadAllPrefs(Done<std::vector<StoredArchivePrefs>> done);
    /// Replaces an account's preferences. NotFound when there is no such account.
    void setPrefs(std::string_view domain, std::string_view username, const ArchivePrefs& prefs,
                  Done<void> done);

    /// Deletes at most `limit` messages, of any account, with an id below `beforeId`; the answer
    /// is how many went (the caller repeats while it is `limit`, so that no statement holds
    /// locks on a large part of the table).
    void expire(std::int64_t beforeId, int limit, Done<std::int64_t> done);

  private:
    Database& db_;
};

}  // namespace corvid::storage
