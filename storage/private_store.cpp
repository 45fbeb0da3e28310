#include "storage/private_store.h"

#include <cassert>

namespace corvid::storage {

namespace {

constexpr Statement kGet{
    "private_get",
    "SELECT p.xml FROM private_storage p JOIN accounts a ON a.id = p.account_id"
    " WHERE a.domain = $1 AND a.username = $2 AND p.namespace = $3"
    " AND p.name = $4"};

// storage/schema/006_private.sql: the function checks the limit under a lock of the account row.
constexpr Statement kPut{"private_put", "SELECT private_storage_put($1, $2, $3, $4, $5, $6)"};

/// Raised by private_storage_put() when the account is full.
constexpr std::string_view kFullState = "CV001";

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

}  // namespace

void PrivateStore::get(std::string_view domain, std::string_view username, std::string_view ns,
                       std::string_view name, Done<std::optional<std::string>> done) {
    db_.execute(kGet, {textParam(domain), textParam(username), textParam(ns), textParam(name)},
                [done = std::move(done)](QueryResult r) mutable {
                    if (!r.ok()) {
                        done(std::unexpected(toStoreError(r.error())));
                        return;
                    }
                    if (r.rows() == 0) {
                        done(std::optional<std::string>());
                        return;
                    }
                    auto xml = r.text(0, 0);
                    done(std::optional<std::string>(xml ? std::string(*xml) : std::string()));
                });
}

void PrivateStore::set(std::string_view domain, std::string_view username,
                       std::vector<PrivateItem> items, int maxItems, Done<PrivateSetResult> done) {
    assert(!items.empty());
    std::vector<BatchItem> batch;
    batch.reserve(items.size());
    for (auto& item : items) {
        batch.push_back({kPut,
                         {textParam(domain), textParam(username), textParam(item.ns),
                          textParam(item.name), textParam(item.xml), intParam(maxItems)}});
    }
    db_.executeBatch(std::move(batch), [done = std::move(done)](BatchResult r) mutable {
        if (!r.ok()) {
            if (r.error->sqlState == kFullState) {
                done(PrivateSetResult::Full);
            } else {
                done(std::unexpected(toStoreError(*r.error)));
            }
            return;
        }
        for (const QueryResult& one : r.results) {
            if (one.boolean(0, 0) != true) {
                done(PrivateSetResult::NoAccount);
                return;
            }
        }
        done(PrivateSetResult::Stored);
    });
}

}  // namespace corvid::storage
