#include "storage/query_result.h"

#include <catch2/catch.hpp>

#include "storage/statement.h"

using namespace corvid::storage;

TEST_CASE("bytea hex decoding", "[storage]") {
    CHECK(decodeByteaHex("\\x") == Bytes{});
    CHECK(decodeByteaHex("\\x00ff10Ab") == Bytes("\x00\xff\x10\xab", 4));
    CHECK(!decodeByteaHex(""));
    CHECK(!decodeByteaHex("00ff"));        // no \x prefix (the old escape format)
    CHECK(!decodeByteaHex("\\x0"));        // odd length
    CHECK(!decodeByteaHex("\\x0g"));       // not hex
    CHECK(!decodeByteaHex("\\000\\001"));  // escape format
}

TEST_CASE("parameters in text format", "[storage]") {
    CHECK(intParam(0) == "0");
    CHECK(intParam(-42) == "-42");
    CHECK(intParam(INT64_MIN) == "-9223372036854775808");
    CHECK(boolParam(true) == "t");
    CHECK(boolParam(false) == "f");
    CHECK(!nullParam());
    CHECK(textParam("x") == "x");
    CHECK(byteaParam(Bytes{}) == "\\x");
    CHECK(byteaParam(Bytes("\x00\xab\xff", 3)) == "\\x00abff");
    Bytes all(256, '\0');
    for (int i = 0; i < 256; ++i) {
        all[static_cast<std::size_t>(i)] = static_cast<char>(i);
    }
    CHECK(decodeByteaHex(*byteaParam(all)) == all);
}

TEST_CASE("a failed QueryResult has no rows", "[storage]") {
    auto r = QueryResult::failure(DbError{ErrorKind::Timeout, "57014", "canceled"});
    CHECK(!r.ok());
    CHECK(r.errorKind() == ErrorKind::Timeout);
    CHECK(r.error().sqlState == "57014");
    CHECK(r.rows() == 0);
    CHECK(r.columns() == 0);
    CHECK(r.affectedRows() == 0);
    CHECK(!r.text(0, 0));
    CHECK(r.isNull(0, 0));
    CHECK(std::string(toString(ErrorKind::Unavailable)) == "unavailable");
}
