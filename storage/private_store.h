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

/// One fragment of private XML (XEP-0049): the root element's namespace and name, and the
/// serialised element.
struct PrivateItem {
    std::string ns;
    std::string name;
    std::string xml;
};

enum class PrivateSetResult {
    Stored,
    NoAccount,  ///< nothing stored: the account does not exist
    Full,       ///< nothing stored: the account would hold more than the allowed fragments
};

/// Private XML storage, keyed by (domain, username, namespace, element name); domain and
/// username normalised by the caller. Asynchronous: callbacks run later from the loop.
class PrivateStore {
  public:
    template <typename T>
    using Done = std::move_only_function<void(std::expected<T, StoreError>)>;

    explicit PrivateStore(Database& db) : db_(db) {}

    /// The stored fragment, or std::nullopt when there is none (or no such account).
    void get(std::string_view domain, std::string_view username, std::string_view ns,
             std::string_view name, Done<std::optional<std::string>> done);
    /// Stores (replaces) every item in one transaction: all of them or none. An account may hold
    /// at most `maxItems` fragments; replacing one it already has is always allowed. `items` must
    /// not be empty.
    void set(std::string_view domain, std::string_view username, std::vector<PrivateItem> items,
             int maxItems, Done<PrivateSetResult> done);

  private:
    Database& db_;
};

}  // namespace corvid::storage
