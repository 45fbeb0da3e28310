#include "storage/upload_store.h"

namespace corvid::storage {

namespace {

// One statement: the account, its usage and the new slot. The account row is locked so that two
// requests of one account are counted one after the other.
constexpr Statement kReserve{
    "upload_reserve",
    "WITH account AS (SELECT id FROM accounts WHERE domain = $1 AND username = $2 FOR UPDATE),"
    " inserted AS (INSERT INTO upload_slots (slot, account_id, size)"
    "  SELECT $3, account.id, $4::bigint FROM account"
    "  WHERE $5::bigint = 0 OR $4::bigint + (SELECT coalesce(sum(s.size), 0) FROM upload_slots s"
    "   WHERE s.account_id = account.id) <= $5::bigint"
    "  RETURNING 1)"
    " SELECT (SELECT count(*) FROM account), (SELECT count(*) FROM inserted)"};

constexpr Statement kExpire{
    "upload_expire",
    "DELETE FROM upload_slots WHERE created_at < now() - make_interval(days => $1::int)"};

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

void UploadStore::reserve(std::string_view domain, std::string_view username, std::string_view slot,
                          std::uint64_t size, std::uint64_t quota, Done<bool> done) {
    db_.execute(
        kReserve,
        {textParam(domain), textParam(username), textParam(slot),
         intParam(static_cast<std::int64_t>(size)), intParam(static_cast<std::int64_t>(quota))},
        [done = std::move(done)](QueryResult r) mutable {
            if (!r.ok()) {
                done(std::unexpected(toStoreError(r.error())));
            } else if (r.int64(0, 0).value_or(0) == 0) {
                done(std::unexpected(StoreError{StoreErrorKind::NotFound, "no such account"}));
            } else {
                done(r.int64(0, 1).value_or(0) == 1);
            }
        });
}

void UploadStore::expire(int days, Done<std::uint64_t> done) {
    db_.execute(kExpire, {intParam(days)}, [done = std::move(done)](QueryResult r) mutable {
        if (!r.ok()) {
            done(std::unexpected(toStoreError(r.error())));
        } else {
            done(static_cast<std::uint64_t>(r.affectedRows()));
        }
    });
}

}  // namespace corvid::storage
