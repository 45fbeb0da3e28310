#include "util/upload_grant.h"

#include <catch2/catch.hpp>

using corvid::util::UploadGrant;

TEST_CASE("an upload grant verifies only with its own fields and secret", "[util]") {
    const UploadGrant grant{"abcdefghijklmnopqrstuvwx", "photo.png", 1234, "image/png", 1700000000};
    const std::string sig = grant.sign("secret");
    CHECK(sig.size() == 64);
    CHECK(grant.verify("secret", sig));
    CHECK_FALSE(grant.verify("other secret", sig));
    CHECK_FALSE(grant.verify("secret", sig.substr(0, 63)));
    CHECK_FALSE(grant.verify("secret", ""));
    auto changed = [&](auto edit) {
        UploadGrant g = grant;
        edit(g);
        return g.verify("secret", sig);
    };
    CHECK_FALSE(changed([](UploadGrant& g) { g.slot[0] = 'z'; }));
    CHECK_FALSE(changed([](UploadGrant& g) { g.filename = "photo.jpg"; }));
    CHECK_FALSE(changed([](UploadGrant& g) { g.size = 1235; }));
    CHECK_FALSE(changed([](UploadGrant& g) { g.contentType = ""; }));
    CHECK_FALSE(changed([](UploadGrant& g) { g.expires += 1; }));
    // Moving bytes between fields changes the signature too (fields are delimited).
    CHECK_FALSE(changed([](UploadGrant& g) {
        g.filename = "photo.pngimage";
        g.contentType = "/png";
    }));
}
