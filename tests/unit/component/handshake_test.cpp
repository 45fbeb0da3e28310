#include "component/handshake.h"

#include <catch2/catch.hpp>
#include <set>

using namespace corvid::component;

TEST_CASE("the handshake digest is hex SHA-1 of stream id and secret", "[component]") {
    // Computed independently: python3 -c "import hashlib;
    //   print(hashlib.sha1(b'3BF96D32sesame').hexdigest())"
    CHECK(handshakeDigest("3BF96D32", "sesame") == "7a98dc4c9e92493d7fd66a25364c862637789c45");
    // The FIPS 180 test vector SHA-1("abc"): the id and the secret are simply concatenated.
    CHECK(handshakeDigest("ab", "c") == "a9993e364706816aba3e25717850c26c9cd0d89d");
    CHECK(handshakeDigest("abc", "") == "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST_CASE("a handshake matches only the digest of this stream and secret", "[component]") {
    const std::string good = "7a98dc4c9e92493d7fd66a25364c862637789c45";
    CHECK(handshakeMatches("3BF96D32", "sesame", good));
    CHECK(handshakeMatches("3BF96D32", "sesame", "7A98DC4C9E92493D7FD66A25364C862637789C45"));
    CHECK(handshakeMatches("3BF96D32", "sesame", "\n  " + good + "  \n"));
    CHECK_FALSE(handshakeMatches("3BF96D32", "sesame!", good));
    CHECK_FALSE(handshakeMatches("3BF96D33", "sesame", good));
    CHECK_FALSE(handshakeMatches("3BF96D32", "sesame", good.substr(0, 39)));
    CHECK_FALSE(handshakeMatches("3BF96D32", "sesame", good + "0"));
    CHECK_FALSE(handshakeMatches("3BF96D32", "sesame", ""));
    // The secret itself is not a valid handshake.
    CHECK_FALSE(handshakeMatches("3BF96D32", "sesame", "sesame"));
}

TEST_CASE("stream ids are fresh", "[component]") {
    std::set<std::string> ids;
    for (int i = 0; i < 1000; ++i) {
        const std::string id = newStreamId();
        CHECK(id.size() == 32);
        CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
        ids.insert(id);
    }
    CHECK(ids.size() == 1000);
}
