#include "storage/account_store.h"

#include <utility>

namespace corvid::storage {

namespace {

// Credentials are one row per hash function; the (VALUES ...) list turns the eight optional
// parameters into at most two rows, absent ones (NULL salt) filtered out.
#define CORVID_SCRAM_VALUES                                            \
    "(VALUES ('SHA-1', $3::bytea, $4::integer, $5::bytea, $6::bytea)," \
    " ('SHA-256', $7::bytea, $8::integer, $9::bytea, $10::bytea))"     \
    " AS c (mechanism, salt, iterations, stored_key, server_key)"

// One statement, hence atomic: the account and its credentials, or nothing. The foreign key is
// checked at the end of the statement, when the new accounts row is visible.
constexpr Statement kCreate{
    "account_create",
    "WITH account AS ("
    " INSERT INTO accounts (domain, username) VALUES ($1, $2) RETURNING id"
    "), creds AS ("
    " INSERT INTO account_scram (account_id, mechanism, salt, iterations, stored_key, server_key)"
    " SELECT account.id, c.mechanism, c.salt, c.iterations, c.stored_key, c.server_key"
    " FROM account, " CORVID_SCRAM_VALUES
    " WHERE c.salt IS NOT NULL"
    ") SELECT id FROM account"};

constexpr Statement kDelete{"account_delete",
                            "DELETE FROM accounts WHERE domain = $1 AND username = $2"};

constexpr Statement kLockAccount{
    "account_lock", "SELECT id FROM accounts WHERE domain = $1 AND username = $2 FOR UPDATE"};

constexpr Statement kClearCredentials{
    "account_clear_scram",
    "DELETE FROM account_scram WHERE account_id ="
    " (SELECT id FROM accounts WHERE domain = $1 AND username = $2)"};

constexpr Statement kInsertCredentials{
    "account_insert_scram",
    "INSERT INTO account_scram (account_id, mechanism, salt, iterations, stored_key, server_key)"
    " SELECT a.id, c.mechanism, c.salt, c.iterations, c.stored_key, c.server_key"
    " FROM accounts a, " CORVID_SCRAM_VALUES
    " WHERE a.domain = $1 AND a.username = $2 AND c.salt IS NOT NULL"};

#undef CORVID_SCRAM_VALUES

constexpr Statement kGetCredentials{
    "account_get_scram",
    "SELECT s.mechanism, s.salt, s.iterations, s.stored_key, s.server_key"
    " FROM accounts a LEFT JOIN account_scram s ON s.account_id = a.id"
    " WHERE a.domain = $1 AND a.username = $2"};

constexpr Statement kList{
    "account_list",
    "SELECT username FROM accounts WHERE domain = $1 ORDER BY username COLLATE \"C\""};

constexpr Statement kExists{
    "account_exists", "SELECT EXISTS (SELECT 1 FROM accounts WHERE domain = $1 AND username = $2)"};

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

void appendScram(Params& params, const std::optional<StoredScram>& scram) {
    if (scram) {
        params.push_back(byteaParam(scram->salt));
        params.push_back(intParam(scram->iterations));
        params.push_back(byteaParam(scram->storedKey));
        params.push_back(byteaParam(scram->serverKey));
    } else {
        params.insert(params.end(), 4, nullParam());
    }
}

Params keyParams(std::string_view domain, std::string_view username) {
    Params params;
    params.reserve(10);
    params.push_back(textParam(domain));
    params.push_back(textParam(username));
    return params;
}

Params credentialParams(std::string_view domain, std::string_view username,
                        const ScramCredentials& credentials) {
    Params params = keyParams(domain, username);
    appendScram(params, credentials.sha1);
    appendScram(params, credentials.sha256);
    return params;
}

}  // namespace

void AccountStore::createAccount(std::string_view domain, std::string_view username,
                                 const ScramCredentials& credentials, Done<void> done) {
    db_.execute(
        kCreate, credentialParams(domain, username, credentials),
        [done = std::move(done)](QueryResult r) mutable {
            if (r.ok()) {
                done({});
            } else if (r.error().sqlState == kUniqueViolation) {
                done(std::unexpected(StoreError{StoreErrorKind::AlreadyExists, "account exists"}));
            } else {
                done(std::unexpected(toStoreError(r.error())));
            }
        });
}

void AccountStore::deleteAccount(std::string_view domain, std::string_view username,
                                 Done<void> done) {
    db_.execute(
        kDelete, keyParams(domain, username), [done = std::move(done)](QueryResult r) mutable {
            if (!r.ok()) {
                done(std::unexpected(toStoreError(r.error())));
            } else if (r.affectedRows() == 0) {
                done(std::unexpected(StoreError{StoreErrorKind::NotFound, "no such account"}));
            } else {
                done({});
            }
        });
}

void AccountStore::setCredentials(std::string_view domain, std::string_view username,
                                  const ScramCredentials& credentials, Done<void> done) {
    std::vector<BatchItem> batch;
    batch.push_back({kLockAccount, keyParams(domain, username)});
    batch.push_back({kClearCredentials, keyParams(domain, username)});
    batch.push_back({kInsertCredentials, credentialParams(domain, username, credentials)});
    db_.executeBatch(std::move(batch), [done = std::move(done)](BatchResult r) mutable {
        if (!r.ok()) {
            done(std::unexpected(toStoreError(*r.error)));
        } else if (r.results[0].rows() == 0) {
            done(std::unexpected(StoreError{StoreErrorKind::NotFound, "no such account"}));
        } else {
            done({});
        }
    });
}

void AccountStore::getCredentials(std::string_view domain, std::string_view username,
                                  Done<std::optional<ScramCredentials>> done) {
    db_.execute(kGetCredentials, keyParams(domain, username),
                [done = std::move(done)](QueryResult r) mutable {
                    if (!r.ok()) {
                        done(std::unexpected(toStoreError(r.error())));
                        return;
                    }
                    if (r.rows() == 0) {
                        done(std::optional<ScramCredentials>());
                        return;
                    }
                    ScramCredentials creds;
                    for (int row = 0; row < r.rows(); ++row) {
                        auto mechanism = r.text(row, 0);
                        if (!mechanism) {
                            continue;  // the LEFT JOIN's row of an account without credentials
                        }
                        auto salt = r.bytea(row, 1);
                        auto iterations = r.int64(row, 2);
                        auto storedKey = r.bytea(row, 3);
                        auto serverKey = r.bytea(row, 4);
                        if (!salt || !iterations || !storedKey || !serverKey || *iterations <= 0 ||
                            *iterations > INT32_MAX) {
                            done(std::unexpected(StoreError{StoreErrorKind::Other,
                                                            "malformed SCRAM credentials row"}));
                            return;
                        }
                        StoredScram scram{std::move(*salt), static_cast<int>(*iterations),
                                          std::move(*storedKey), std::move(*serverKey)};
                        if (*mechanism == "SHA-1") {
                            creds.sha1 = std::move(scram);
                        } else if (*mechanism == "SHA-256") {
                            creds.sha256 = std::move(scram);
                        }
                    }
                    done(std::optional<ScramCredentials>(std::move(creds)));
                });
}

void AccountStore::listAccounts(std::string_view domain, Done<std::vector<std::string>> done) {
    Params params;
    params.push_back(textParam(domain));
    db_.execute(kList, std::move(params), [done = std::move(done)](QueryResult r) mutable {
        if (!r.ok()) {
            done(std::unexpected(toStoreError(r.error())));
            return;
        }
        std::vector<std::string> names;
        names.reserve(static_cast<std::size_t>(r.rows()));
        for (int row = 0; row < r.rows(); ++row) {
            names.emplace_back(r.text(row, 0).value_or(""));
        }
        done(std::move(names));
    });
}

void AccountStore::accountExists(std::string_view domain, std::string_view username,
                                 Done<bool> done) {
    db_.execute(
        kExists, keyParams(domain, username), [done = std::move(done)](QueryResult r) mutable {
            if (!r.ok()) {
                done(std::unexpected(toStoreError(r.error())));
                return;
            }
            auto exists = r.boolean(0, 0);
            if (!exists) {
                done(
                    std::unexpected(StoreError{StoreErrorKind::Other, "unexpected EXISTS result"}));
                return;
            }
            done(*exists);
        });
}

}  // namespace corvid::storage
