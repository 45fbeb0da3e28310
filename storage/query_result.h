#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/pg_handles.h"
#include "storage/statement.h"

namespace corvid::storage {

/// Why a query failed, in the few classes a caller can act upon.
enum class ErrorKind {
    Unavailable,  ///< no usable connection, connection lost, queue full or database stopped
    Timeout,      ///< statement_timeout on the server, or no answer in time (connection reset)
    Constraint,   ///< integrity constraint violation, SQLSTATE class 23 (unique, foreign key ...)
    Other,        ///< anything else: SQL errors, serialization failures ...
};

const char* toString(ErrorKind kind);

struct DbError {
    ErrorKind kind = ErrorKind::Other;
    std::string sqlState;  ///< five-character SQLSTATE when the server sent one ("23505")
    std::string message;
};

/// SQLSTATE 23505 (unique_violation).
inline constexpr std::string_view kUniqueViolation = "23505";
/// SQLSTATE 23503 (foreign_key_violation).
inline constexpr std::string_view kForeignKeyViolation = "23503";

/// The outcome of one statement: an error, or its rows (text format). Move-only; it owns the
/// libpq result, so reading a value copies nothing until asked to.
///
/// The getters take a row and a column index and return std::nullopt when the value is SQL NULL,
/// when the index is out of range, or when the text is not of the requested type.
class QueryResult {
  public:
    QueryResult() = default;
    static QueryResult failure(DbError error);
    /// Takes a PGRES_TUPLES_OK / PGRES_COMMAND_OK result.
    static QueryResult success(PgResultPtr&& result);

    bool ok() const { return !error_.has_value(); }
    /// Only meaningful when !ok().
    const DbError& error() const { return *error_; }
    ErrorKind errorKind() const { return error_ ? error_->kind : ErrorKind::Other; }

    int rows() const;
    int columns() const;
    /// The index of a column by name, or -1.
    int column(std::string_view name) const;
    /// Rows affected by INSERT/UPDATE/DELETE (and rows returned by SELECT).
    std::uint64_t affectedRows() const;

    bool isNull(int row, int col) const;
    /// Valid as long as this QueryResult.
    std::optional<std::string_view> text(int row, int col) const;
    std::optional<std::int64_t> int64(int row, int col) const;
    /// PostgreSQL's text form of boolean: "t" / "f".
    std::optional<bool> boolean(int row, int col) const;
    /// A bytea in the hex output format (`\x...`, the default since PostgreSQL 9.0 and what every
    /// connection sets).
    std::optional<Bytes> bytea(int row, int col) const;

  private:
    bool valid(int row, int col) const;

    PgResultPtr result_;
    std::optional<DbError> error_;
};

/// The outcome of a batch (Database::executeBatch): ok only if every statement succeeded, and
/// then `results` holds one QueryResult per statement, in order. When it failed, nothing of the
/// batch was committed and `error` says why.
struct BatchResult {
    std::optional<DbError> error;
    std::vector<QueryResult> results;

    bool ok() const { return !error.has_value(); }
};

/// Decodes PostgreSQL's hex bytea format (`\x` followed by an even number of hex digits).
std::optional<Bytes> decodeByteaHex(std::string_view text);

}  // namespace corvid::storage
