#include "storage/query_result.h"

#include <libpq-fe.h>

#include <charconv>
#include <cstdlib>

namespace corvid::storage {

const char* toString(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::Unavailable:
            return "unavailable";
        case ErrorKind::Timeout:
            return "timeout";
        case ErrorKind::Constraint:
            return "constraint";
        case ErrorKind::Other:
            return "other";
    }
    return "?";
}

QueryResult QueryResult::failure(DbError error) {
    QueryResult r;
    r.error_ = std::move(error);
    return r;
}

QueryResult QueryResult::success(PgResultPtr&& result) {
    QueryResult r;
    r.result_ = std::move(result);
    return r;
}

int QueryResult::rows() const {
    return result_ ? PQntuples(result_.get()) : 0;
}

int QueryResult::columns() const {
    return result_ ? PQnfields(result_.get()) : 0;
}

int QueryResult::column(std::string_view name) const {
    // PQfnumber would case-fold unquoted names and needs a C string; compare exactly instead.
    for (int c = 0; c < columns(); ++c) {
        if (name == PQfname(result_.get(), c)) {
            return c;
        }
    }
    return -1;
}

std::uint64_t QueryResult::affectedRows() const {
    if (!result_) {
        return 0;
    }
    const char* n = PQcmdTuples(result_.get());
    std::uint64_t value = 0;
    std::from_chars(n, n + std::char_traits<char>::length(n), value);
    return value;
}

bool QueryResult::valid(int row, int col) const {
    return result_ && row >= 0 && col >= 0 && row < rows() && col < columns();
}

bool QueryResult::isNull(int row, int col) const {
    return !valid(row, col) || PQgetisnull(result_.get(), row, col) != 0;
}

std::optional<std::string_view> QueryResult::text(int row, int col) const {
    if (isNull(row, col)) {
        return std::nullopt;
    }
    return std::string_view(PQgetvalue(result_.get(), row, col),
                            static_cast<std::size_t>(PQgetlength(result_.get(), row, col)));
}

std::optional<std::int64_t> QueryResult::int64(int row, int col) const {
    auto t = text(row, col);
    if (!t || t->empty()) {
        return std::nullopt;
    }
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(t->data(), t->data() + t->size(), value);
    if (ec != std::errc() || end != t->data() + t->size()) {
        return std::nullopt;
    }
    return value;
}

std::optional<bool> QueryResult::boolean(int row, int col) const {
    auto t = text(row, col);
    if (t == "t") {
        return true;
    }
    if (t == "f") {
        return false;
    }
    return std::nullopt;
}

std::optional<Bytes> QueryResult::bytea(int row, int col) const {
    auto t = text(row, col);
    if (!t) {
        return std::nullopt;
    }
    return decodeByteaHex(*t);
}

namespace {

int hexValue(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

}  // namespace

std::optional<Bytes> decodeByteaHex(std::string_view text) {
    if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0) {
        return std::nullopt;
    }
    Bytes out;
    out.reserve((text.size() - 2) / 2);
    for (std::size_t i = 2; i < text.size(); i += 2) {
        int hi = hexValue(text[i]);
        int lo = hexValue(text[i + 1]);
        if (hi < 0 || lo < 0) {
            return std::nullopt;
        }
        out.push_back(static_cast<char>(hi << 4 | lo));
    }
    return out;
}

}  // namespace corvid::storage
