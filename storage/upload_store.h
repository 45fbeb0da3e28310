#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <string_view>

#include "storage/account_store.h"
#include "storage/database.h"

namespace corvid::storage {

/// The upload slots handed out (XEP-0363), for the per-account quota and retention. Accounts are
/// keyed by (domain, username), normalised by the caller. Asynchronous: callbacks run later
/// from the loop.
class UploadStore {
  public:
    template <typename T>
    using Done = std::move_only_function<void(std::expected<T, StoreError>)>;

    explicit UploadStore(Database& db) : db_(db) {}

    /// Records slot `slot` of `size` bytes for the account if its slots, this one included, stay
    /// within `quota` bytes (0 = no quota): true when recorded, false when over quota. NotFound
    /// when there is no such account.
    void reserve(std::string_view domain, std::string_view username, std::string_view slot,
                 std::uint64_t size, std::uint64_t quota, Done<bool> done);
    /// Forgets the slots handed out more than `days` days ago; the number forgotten.
    void expire(int days, Done<std::uint64_t> done);

  private:
    Database& db_;
};

}  // namespace corvid::storage
