#pragma once

#include <span>
#include <string_view>

namespace corvid::storage {

/// One schema migration, from storage/schema/NNN_name.sql.
struct Migration {
    int version;  ///< NNN
    std::string_view name;
    std::string_view sql;
};

/// Every migration, in increasing version order. The SQL is compiled into the binary at build
/// time (storage/embed_schema.cmake), so nothing is read from disk at run time.
std::span<const Migration> migrations();

}  // namespace corvid::storage
