#include "storage/offline_store.h"

#include <algorithm>
#include <utility>

#include "storage/roster_store.h"  // encodeTextArray

namespace corvid::storage {

namespace {

// FOR NO KEY UPDATE serialises the stores of one account, so that two concurrent messages cannot
// both pass the quota check; it does not conflict with the foreign-key checks of other tables.
// The lock is taken by a statement of its own, before kStore in the same transaction: under READ
// COMMITTED a statement counts with the snapshot it started with, so a count in the statement
// that waited for the lock would miss the rows the other store just committed.
constexpr Statement kLockAccount{
    "offline_lock_account",
    "SELECT id FROM accounts WHERE domain = $1 AND username = $2 FOR NO KEY UPDATE"};

constexpr Statement kStore{
    "offline_store",
    "WITH account AS ("
    " SELECT id FROM accounts WHERE domain = $1 AND username = $2 FOR NO KEY UPDATE"
    "), blocked AS ("
    " SELECT 1 FROM blocklist_items b, account"
    " WHERE b.account_id = account.id AND b.jid = ANY($5::text[])"
    "), stored AS ("
    " INSERT INTO offline_messages (account_id, stanza)"
    " SELECT account.id, $3 FROM account"
    " WHERE NOT EXISTS (SELECT 1 FROM blocked)"
    " AND (SELECT count(*) FROM offline_messages o WHERE o.account_id = account.id) < $4"
    " RETURNING id"
    ") SELECT (SELECT count(*) FROM account), (SELECT count(*) FROM stored),"
    " (SELECT count(*) FROM blocked)"};

constexpr Statement kTake{
    "offline_take",
    "DELETE FROM offline_messages WHERE id IN ("
    " SELECT o.id FROM offline_messages o JOIN accounts a ON a.id = o.account_id"
    " WHERE a.domain = $1 AND a.username = $2 ORDER BY o.id LIMIT $3"
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

}  // namespace

void OfflineStore::store(std::string_view domain, std::string_view username,
                         std::string_view stanza, std::int64_t maxMessages,
                         const std::vector<std::string>& blockedIf,
                         Done<OfflineStoreOutcome> done) {
    Params params = keyParams(domain, username);
    params.push_back(textParam(stanza));
    params.push_back(intParam(maxMessages));
    params.push_back(textParam(encodeTextArray(blockedIf)));
    std::vector<BatchItem> batch;
    batch.push_back({kLockAccount, keyParams(domain, username)});
    batch.push_back({kStore, std::move(params)});
    db_.executeBatch(std::move(batch), [done = std::move(done)](BatchResult b) mutable {
        if (!b.ok()) {
            done(std::unexpected(toStoreError(*b.error)));
            return;
        }
        const QueryResult& r = b.results.back();
        auto accounts = r.int64(0, 0);
        auto stored = r.int64(0, 1);
        auto blocked = r.int64(0, 2);
        if (!accounts || !stored || !blocked) {
            done(std::unexpected(StoreError{StoreErrorKind::Other, "unexpected store result"}));
        } else if (*accounts == 0) {
            done(OfflineStoreOutcome::NoAccount);
        } else if (*blocked != 0) {
            done(OfflineStoreOutcome::Blocked);
        } else if (*stored == 0) {
            done(OfflineStoreOutcome::QuotaExceeded);
        } else {
            done(OfflineStoreOutcome::Stored);
        }
    });
}

void OfflineStore::take(std::string_view domain, std::string_view username, int limit,
                        Done<OfflineBatch> done) {
    Params params = keyParams(domain, username);
    params.push_back(intParam(limit));
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
