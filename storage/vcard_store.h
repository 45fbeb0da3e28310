#pragma once

#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "storage/account_store.h"
#include "storage/database.h"

namespace corvid::storage {

/// vCards (XEP-0054), one per account, as serialised XML. Keyed by (domain, username), both
/// normalised by the caller. Asynchronous like every store: callbacks run later from the loop.
class VcardStore {
  public:
    template <typename T>
    using Done = std::move_only_function<void(std::expected<T, StoreError>)>;

    explicit VcardStore(Database& db) : db_(db) {}

    /// The stored XML, or std::nullopt when the account has none (or does not exist: the caller
    /// must answer both alike, XEP-0054 §3.3).
    void get(std::string_view domain, std::string_view username,
             Done<std::optional<std::string>> done);
    /// Replaces the account's vCard. NotFound if there is no such account.
    void set(std::string_view domain, std::string_view username, std::string_view xml,
             Done<void> done);

  private:
    Database& db_;
};

}  // namespace corvid::storage
