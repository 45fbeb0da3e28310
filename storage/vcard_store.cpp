#include "storage/vcard_store.h"

namespace corvid::storage {

namespace {

constexpr Statement kGet{"vcard_get",
                         "SELECT v.xml FROM vcards v JOIN accounts a ON a.id = v.account_id"
                         " WHERE a.domain = $1 AND a.username = $2"};

// One statement: nothing is written for an account that does not exist (0 rows).
constexpr Statement kSet{"vcard_set",
                         "INSERT INTO vcards (account_id, xml)"
                         " SELECT id, $3 FROM accounts WHERE domain = $1 AND username = $2"
                         " ON CONFLICT (account_id) DO UPDATE"
                         " SET xml = EXCLUDED.xml, updated_at = now()"};

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

void VcardStore::get(std::string_view domain, std::string_view username,
                     Done<std::optional<std::string>> done) {
    db_.execute(kGet, {textParam(domain), textParam(username)},
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

void VcardStore::set(std::string_view domain, std::string_view username, std::string_view xml,
                     Done<void> done) {
    db_.execute(
        kSet, {textParam(domain), textParam(username), textParam(xml)},
        [done = std::move(done)](QueryResult r) mutable {
            if (!r.ok()) {
                done(std::unexpected(toStoreError(r.error())));
            } else if (r.affectedRows() == 0) {
                done(std::unexpected(StoreError{StoreErrorKind::NotFound, "no such account"}));
            } else {
                done({});
            }
        });
}

}  // namespace corvid::storage
