#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corvid::storage {

/// A static description of one SQL statement, prepared lazily (once per connection) under `name`
/// the first time it runs there. Declare them as constants next to the store that uses them:
///
///     constexpr Statement kFindUser{"account_find", "SELECT id FROM accounts WHERE ..."};
///
/// Both views must outlive every query that uses the statement (string literals do). A name must
/// always go with the same SQL. An empty name runs `sql` unprepared (for one-off SQL such as the
/// admin tool's or tests'); that SQL is copied, so any string will do.
struct Statement {
    std::string_view name;
    std::string_view sql;
};

/// One parameter in text format; std::nullopt is SQL NULL.
using Param = std::optional<std::string>;
using Params = std::vector<Param>;

/// Raw byte strings (bytea columns and parameters); std::string like the rest of corvid (the
/// SASL keys, for one).
using Bytes = std::string;

inline Param nullParam() {
    return std::nullopt;
}
inline Param textParam(std::string_view value) {
    return std::string(value);
}
Param intParam(std::int64_t value);
inline Param boolParam(bool value) {
    return std::string(value ? "t" : "f");
}
/// A bytea parameter in the hex input format (`\x0a1b...`).
Param byteaParam(std::string_view value);

/// One statement of a batch (Database::executeBatch).
struct BatchItem {
    Statement statement;
    Params params;
};

}  // namespace corvid::storage
