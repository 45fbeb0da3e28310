#pragma once

#include <expected>
#include <functional>
#include <string>
#include <string_view>

#include "storage/account_store.h"
#include "storage/database.h"

namespace corvid::storage {

/// Server-wide secrets kept in PostgreSQL (table server_secrets).
class SecretStore {
  public:
    using Done = std::move_only_function<void(std::expected<Bytes, StoreError>)>;

    explicit SecretStore(Database& db) : db_(db) {}

    /// The secret called `name`; if there is none yet, `candidate` is stored and returned. When two
    /// processes race, both get the one that was stored first.
    void getOrCreate(std::string_view name, const Bytes& candidate, Done done);

  private:
    Database& db_;
};

}  // namespace corvid::storage
