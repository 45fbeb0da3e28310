#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/database.h"
#include "storage/statement.h"

namespace corvid::storage {

/// What a SCRAM server keeps for one hash function (RFC 5802 §3): never the password. The same
/// shape as sasl::ScramKeys (raw bytes in std::string), which storage may not include.
struct StoredScram {
    Bytes salt;
    int iterations = 0;
    Bytes storedKey;
    Bytes serverKey;

    bool operator==(const StoredScram&) const = default;
};

/// An account's SCRAM credentials; either may be absent (an account created without a password,
/// or before a mechanism was enabled).
struct ScramCredentials {
    std::optional<StoredScram> sha1;    ///< SCRAM-SHA-1
    std::optional<StoredScram> sha256;  ///< SCRAM-SHA-256 (RFC 7677)

    bool operator==(const ScramCredentials&) const = default;
};

enum class StoreErrorKind {
    AlreadyExists,  ///< createAccount: the account exists
    NotFound,       ///< the account does not exist
    Unavailable,    ///< no database right now (e.g. answer temporary-auth-failure)
    Timeout,        ///< the database did not answer in time
    Other,          ///< anything else (a bug, a broken schema ...)
};

struct StoreError {
    StoreErrorKind kind = StoreErrorKind::Other;
    std::string message;
};

/// Accounts keyed by (domain, username), both already normalised by the caller (RFC 7622).
/// Every method is asynchronous; callbacks run later from the loop (see Database).
///
/// Other stores refer to an account through `accounts.id` with ON DELETE CASCADE, so
/// deleteAccount() removes all of the user's data.
class AccountStore {
  public:
    template <typename T>
    using Done = std::move_only_function<void(std::expected<T, StoreError>)>;

    explicit AccountStore(Database& db) : db_(db) {}

    /// Fails with AlreadyExists when (domain, username) is taken.
    void createAccount(std::string_view domain, std::string_view username,
                       const ScramCredentials& credentials, Done<void> done);
    /// Removes the account and, by cascade, everything that belongs to it. NotFound if none.
    void deleteAccount(std::string_view domain, std::string_view username, Done<void> done);
    /// Replaces both credentials (an absent one is removed). NotFound if no such account.
    void setCredentials(std::string_view domain, std::string_view username,
                        const ScramCredentials& credentials, Done<void> done);
    /// std::nullopt when there is no such account.
    void getCredentials(std::string_view domain, std::string_view username,
                        Done<std::optional<ScramCredentials>> done);
    /// Usernames of the domain, sorted (byte order).
    void listAccounts(std::string_view domain, Done<std::vector<std::string>> done);
    void accountExists(std::string_view domain, std::string_view username, Done<bool> done);

  private:
    Database& db_;
};

}  // namespace corvid::storage
