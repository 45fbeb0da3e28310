#pragma once

#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/account_store.h"
#include "storage/database.h"

namespace corvid::storage {

/// Blocklists (XEP-0191): the JIDs an account has blocked, as prepared text (full, bare or
/// domain JIDs). Every method is asynchronous; callbacks run later from the loop (see Database).
class BlockingStore {
  public:
    template <typename T>
    using Done = std::move_only_function<void(std::expected<T, StoreError>)>;

    explicit BlockingStore(Database& db) : db_(db) {}

    /// The blocked JIDs in byte order; std::nullopt when there is no such account.
    void load(std::string_view domain, std::string_view username,
              Done<std::optional<std::vector<std::string>>> done);
    /// Adds the JIDs (those already blocked are left alone). NotFound if there is no account.
    void block(std::string_view domain, std::string_view username,
               const std::vector<std::string>& jids, Done<void> done);
    /// Removes the JIDs, or every JID when `jids` is empty.
    void unblock(std::string_view domain, std::string_view username,
                 const std::vector<std::string>& jids, Done<void> done);

  private:
    Database& db_;
};

}  // namespace corvid::storage
