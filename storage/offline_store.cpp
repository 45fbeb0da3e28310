#include "storage/offline_store.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "storage/roster_store.h"  // encodeTextArray

namespace corvid::storage {

namespace {

// FOR NO KEY UPDATE serialises the stores of one account, so that two concurrent batches cannot
// both pass the quota check; it does not conflict with the foreign-key checks of other tables.
// The rows are locked in id order, so that two servers storing for the same accounts cannot
// deadlock. The lock is taken by a statement of its own, before kStore in the same transaction:
// under READ COMMITTED a statement counts with the snapshot it started with, so a count in the
// statement that waited for the lock would miss the rows the other store just committed.
constexpr Statement kLockAccounts{"offline_lock_accounts",
                                  "SELECT id FROM accounts WHERE (domain, username) IN"
                                  " (SELECT * FROM unnest($1::text[], $2::text[]))"
                                  " ORDER BY id FOR NO KEY UPDATE"};

// One row per message, in the order given: $1..$4 are parallel arrays (domain, username, stanza,
// and the sender's forms as an array literal each). A message is accepted when its account
// exists, does not block the sender, and its rank among the batch's accepted messages for that
// account, added to what the account holds already, stays within $5. INSERT ... SELECT ...
// ORDER BY assigns the ids in that order.
constexpr Statement kStore{
    "offline_store_batch",
    "WITH m AS ("
    " SELECT u.ord, u.stanza, a.id AS account_id,"
    "  a.id IS NOT NULL AND EXISTS (SELECT 1 FROM blocklist_items b"
    "   WHERE b.account_id = a.id AND b.jid = ANY (u.blocked_if::text[])) AS blocked"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"
    "  WITH ORDINALITY AS u(domain, username, stanza, blocked_if, ord)"
    " LEFT JOIN accounts a ON a.domain = u.domain AND a.username = u.username"
    "), held AS ("
    " SELECT o.account_id, count(*) AS n FROM offline_messages o"
    " WHERE o.account_id IN (SELECT account_id FROM m) GROUP BY o.account_id"
    "), accepted AS ("
    " SELECT c.ord, c.account_id, c.stanza FROM ("
    "  SELECT ord, account_id, stanza,"
    "   row_number() OVER (PARTITION BY account_id ORDER BY ord) AS rank"
    "  FROM m WHERE account_id IS NOT NULL AND NOT blocked"
    " ) c LEFT JOIN held h ON h.account_id = c.account_id"
    " WHERE coalesce(h.n, 0) + c.rank <= $5"
    "), stored AS ("
    " INSERT INTO offline_messages (account_id, stanza)"
    " SELECT account_id, stanza FROM accepted ORDER BY ord"
    ") SELECT CASE WHEN m.account_id IS NULL THEN 'no-account' WHEN m.blocked THEN 'blocked'"
    " WHEN m.ord IN (SELECT ord FROM accepted) THEN 'stored' ELSE 'full' END"
    " FROM m ORDER BY m.ord"};

// The oldest messages, at most $3 of them and $4 bytes of XML together (but always the first).
constexpr Statement kTake{
    "offline_take_bytes",
    "DELETE FROM offline_messages WHERE id IN ("
    " SELECT id FROM ("
    "  SELECT id, row_number() OVER w AS n, sum(octet_length(stanza)) OVER w AS upto FROM ("
    "   SELECT o.id, o.stanza FROM offline_messages o JOIN accounts a ON a.id = o.account_id"
    "   WHERE a.domain = $1 AND a.username = $2 ORDER BY o.id LIMIT $3"
    "  ) oldest WINDOW w AS (ORDER BY id)"
    " ) counted WHERE n = 1 OR upto <= $4"
    ") RETURNING id, account_id, stanza, stored_at"};

constexpr Statement kRestore{"offline_restore",
                             "INSERT INTO offline_messages (id, account_id, stanza, stored_at)"
                             " VALUES ($1, $2, $3, $4::timestamptz)"};

constexpr Statement kCount{
    "offline_count",
    "SELECT count(*) FROM offline_messages o JOIN accounts a ON a.id = o.account_id"
    " WHERE a.domain = $1 AND a.username = $2"};

StoreError toStoreError(const DbError& e) {
    switch (e.kind) {
        case ErrorKind::Unavailable:
            return {StoreErrorKind::Unavailable, e.message};
        case ErrorKind::Timeout:
            return {StoreErrorKind::Timeout, e.message};
        default:
            return {StoreErrorKind::Other, e.message};
    }
}

Params keyParams(std::string_view domain, std::string_view username) {
    Params params;
    params.push_back(textParam(domain));
    params.push_back(textParam(username));
    return params;
}

std::optional<OfflineStoreOutcome> parseOutcome(std::string_view text) {
    if (text == "stored") {
        return OfflineStoreOutcome::Stored;
    }
    if (text == "no-account") {
        return OfflineStoreOutcome::NoAccount;
    }
    if (text == "blocked") {
        return OfflineStoreOutcome::Blocked;
    }
    if (text == "full") {
        return OfflineStoreOutcome::QuotaExceeded;
    }
    return std::nullopt;
}

}  // namespace

void OfflineStore::store(std::vector<OfflineDraft> messages, std::int64_t maxMessages,
                         Done<std::vector<OfflineStoreOutcome>> done) {
    std::vector<std::string> domains;
    std::vector<std::string> usernames;
    std::vector<std::string> stanzas;
    std::vector<std::string> blockedIf;
    for (auto& m : messages) {
        domains.push_back(std::move(m.domain));
        usernames.push_back(std::move(m.username));
        stanzas.push_back(std::move(m.stanza));
        blockedIf.push_back(encodeTextArray(m.blockedIf));
    }
    const std::size_t n = messages.size();
    messages.clear();
    Params lock;
    lock.push_back(textParam(encodeTextArray(domains)));
    lock.push_back(textParam(encodeTextArray(usernames)));
    Params params = lock;
    params.push_back(textParam(encodeTextArray(stanzas)));
    stanzas.clear();
    params.push_back(textParam(encodeTextArray(blockedIf)));
    params.push_back(intParam(maxMessages));
    std::vector<BatchItem> batch;
    batch.push_back({kLockAccounts, std::move(lock)});
    batch.push_back({kStore, std::move(params)});
    db_.executeBatch(std::move(batch), [n, done = std::move(done)](BatchResult b) mutable {
        if (!b.ok()) {
            done(std::unexpected(toStoreError(*b.error)));
            return;
        }
        const QueryResult& r = b.results.back();
        std::vector<OfflineStoreOutcome> outcomes;
        for (int row = 0; row < r.rows(); ++row) {
            auto text = r.text(row, 0);
            auto outcome = text ? parseOutcome(*text) : std::nullopt;
            if (!outcome) {
                break;
            }
            outcomes.push_back(*outcome);
        }
        if (outcomes.size() != n) {
            done(std::unexpected(StoreError{StoreErrorKind::Other, "unexpected store result"}));
            return;
        }
        done(std::move(outcomes));
    });
}

void OfflineStore::take(std::string_view domain, std::string_view username, int limit,
                        std::int64_t maxBytes, Done<OfflineBatch> done) {
    Params params = keyParams(domain, username);
    params.push_back(intParam(limit));
    params.push_back(intParam(maxBytes));
    db_.execute(kTake, std::move(params), [done = std::move(done)](QueryResult r) mutable {
        if (!r.ok()) {
            done(std::unexpected(toStoreError(r.error())));
            return;
        }
        OfflineBatch batch;
        for (int row = 0; row < r.rows(); ++row) {
            auto id = r.int64(row, 0);
            auto account = r.int64(row, 1);
            auto stanza = r.text(row, 2);
            auto storedAt = r.text(row, 3);
            if (!id || !account || !stanza || !storedAt) {
                // Already deleted: keep what can be read rather than lose everything.
                continue;
            }
            batch.accountId = *account;
            batch.messages.push_back(
                OfflineMessage{*id, std::string(*stanza), std::string(*storedAt)});
        }
        // DELETE ... RETURNING gives no order.
        std::sort(batch.messages.begin(), batch.messages.end(),
                  [](const auto& a, const auto& b) { return a.id < b.id; });
        done(std::move(batch));
    });
}

void OfflineStore::restore(std::int64_t accountId, std::vector<OfflineMessage> messages,
                           Done<void> done) {
    std::vector<BatchItem> batch;
    batch.reserve(messages.size());
    for (auto& m : messages) {
        Params params;
        params.push_back(intParam(m.id));
        params.push_back(intParam(accountId));
        params.push_back(textParam(m.stanza));
        params.push_back(textParam(m.storedAt));
        batch.push_back({kRestore, std::move(params)});
    }
    if (batch.empty()) {
        Params params;
        params.push_back(textParam(""));
        params.push_back(textParam(""));
        batch.push_back({kCount, std::move(params)});  // keeps "called later from the loop"
    }
    db_.executeBatch(std::move(batch), [done = std::move(done)](BatchResult r) mutable {
        if (!r.ok()) {
            done(std::unexpected(toStoreError(*r.error)));
            return;
        }
        done({});
    });
}

void OfflineStore::count(std::string_view domain, std::string_view username,
                         Done<std::int64_t> done) {
    db_.execute(kCount, keyParams(domain, username),
                [done = std::move(done)](QueryResult r) mutable {
                    if (!r.ok()) {
                        done(std::unexpected(toStoreError(r.error())));
                        return;
                    }
                    done(r.int64(0, 0).value_or(0));
                });
}

}  // namespace corvid::storage
