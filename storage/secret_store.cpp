#include "storage/secret_store.h"

namespace corvid::storage {

namespace {

// One statement: insert unless present, then read whichever row is there.
constexpr Statement kGetOrCreate{
    "secret_get_or_create",
    "WITH ins AS ("
    " INSERT INTO server_secrets (name, value) VALUES ($1, $2::bytea)"
    " ON CONFLICT (name) DO NOTHING RETURNING value"
    ") SELECT value FROM ins UNION ALL"
    " SELECT value FROM server_secrets WHERE name = $1 AND NOT EXISTS (SELECT 1 FROM ins)"};

}  // namespace

void SecretStore::getOrCreate(std::string_view name, const Bytes& candidate, Done done) {
    db_.execute(
        kGetOrCreate, {textParam(name), byteaParam(candidate)},
        [done = std::move(done)](QueryResult r) mutable {
            if (!r.ok()) {
                const StoreErrorKind kind = r.errorKind() == ErrorKind::Unavailable
                                                ? StoreErrorKind::Unavailable
                                                : StoreErrorKind::Other;
                done(std::unexpected(StoreError{kind, r.error().message}));
                return;
            }
            auto value = r.rows() == 1 ? r.bytea(0, 0) : std::nullopt;
            if (!value) {
                done(std::unexpected(StoreError{StoreErrorKind::Other, "server_secrets: no row"}));
                return;
            }
            done(std::move(*value));
        });
}

}  // namespace corvid::storage
