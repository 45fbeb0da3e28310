#include "storage/blocking_store.h"

#include <utility>

#include "storage/roster_store.h"  // encodeTextArray

namespace corvid::storage {

namespace {

// The LEFT JOIN gives one row (with a NULL jid) for an account with an empty blocklist.
constexpr Statement kLoad{
    "blocking_load",
    "SELECT b.jid FROM accounts a LEFT JOIN blocklist_items b ON b.account_id = a.id"
    " WHERE a.domain = $1 AND a.username = $2 ORDER BY b.jid COLLATE \"C\""};

constexpr Statement kBlock{
    "blocking_block",
    "WITH account AS (SELECT id FROM accounts WHERE domain = $1 AND username = $2),"
    " added AS ("
    " INSERT INTO blocklist_items (account_id, jid)"
    " SELECT account.id, j FROM account, unnest($3::text[]) AS j"
    " ON CONFLICT DO NOTHING"
    ") SELECT count(*) FROM account"};

constexpr Statement kUnblock{
    "blocking_unblock",
    "DELETE FROM blocklist_items WHERE account_id ="
    " (SELECT id FROM accounts WHERE domain = $1 AND username = $2) AND jid = ANY($3::text[])"};

constexpr Statement kUnblockAll{"blocking_unblock_all",
                                "DELETE FROM blocklist_items WHERE account_id ="
                                " (SELECT id FROM accounts WHERE domain = $1 AND username = $2)"};

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

void BlockingStore::load(std::string_view domain, std::string_view username,
                         Done<std::optional<std::vector<std::string>>> done) {
    db_.execute(kLoad, keyParams(domain, username),
                [done = std::move(done)](QueryResult r) mutable {
                    if (!r.ok()) {
                        done(std::unexpected(toStoreError(r.error())));
                        return;
                    }
                    if (r.rows() == 0) {
                        done(std::optional<std::vector<std::string>>());
                        return;
                    }
                    std::vector<std::string> jids;
                    for (int row = 0; row < r.rows(); ++row) {
                        if (auto jid = r.text(row, 0)) {
                            jids.emplace_back(*jid);
                        }
                    }
                    done(std::optional<std::vector<std::string>>(std::move(jids)));
                });
}

void BlockingStore::block(std::string_view domain, std::string_view username,
                          const std::vector<std::string>& jids, Done<void> done) {
    Params params = keyParams(domain, username);
    params.push_back(textParam(encodeTextArray(jids)));
    db_.execute(kBlock, std::move(params), [done = std::move(done)](QueryResult r) mutable {
        if (!r.ok()) {
            done(std::unexpected(toStoreError(r.error())));
        } else if (r.int64(0, 0).value_or(0) == 0) {
            done(std::unexpected(StoreError{StoreErrorKind::NotFound, "no such account"}));
        } else {
            done({});
        }
    });
}

void BlockingStore::unblock(std::string_view domain, std::string_view username,
                            const std::vector<std::string>& jids, Done<void> done) {
    Params params = keyParams(domain, username);
    if (!jids.empty()) {
        params.push_back(textParam(encodeTextArray(jids)));
    }
    db_.execute(jids.empty() ? kUnblockAll : kUnblock, std::move(params),
                [done = std::move(done)](QueryResult r) mutable {
                    if (!r.ok()) {
                        done(std::unexpected(toStoreError(r.error())));
                        return;
                    }
                    done({});
                });
}

}  // namespace corvid::storage
