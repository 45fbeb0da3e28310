#include "sasl/crypto.h"

#include <catch2/catch.hpp>

#include "sasl/base64.h"
#include "sasl/scram_keys.h"
#include "sasl/utf8.h"

using namespace corvid::sasl;

namespace {

std::string hex(std::string_view bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out.push_back(kDigits[c >> 4]);
        out.push_back(kDigits[c & 15]);
    }
    return out;
}

}  // namespace

TEST_CASE("hash and HMAC primitives match known answers", "[sasl]") {
    CHECK(hex(digest(Hash::Sha1, "abc")) == "a9993e364706816aba3e25717850c26c9cd0d89d");
    CHECK(hex(digest(Hash::Sha256, "abc")) ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // RFC 2202 §3 test case 2 and RFC 4231 §4.3 test case 2.
    CHECK(hex(hmac(Hash::Sha1, "Jefe", "what do ya want for nothing?")) ==
          "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    CHECK(hex(hmac(Hash::Sha256, "Jefe", "what do ya want for nothing?")) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK(digestSize(Hash::Sha1) == 20);
    CHECK(digestSize(Hash::Sha256) == 32);
    CHECK(toString(Hash::Sha1) == "SHA-1");
    CHECK(toString(Hash::Sha256) == "SHA-256");
}

TEST_CASE("Hi is PBKDF2 (RFC 6070 vectors)", "[sasl]") {
    CHECK(hex(hi(Hash::Sha1, "password", "salt", 1)) == "0c60c80f961f0e71f3a9b524af6012062fe037a6");
    CHECK(hex(hi(Hash::Sha1, "password", "salt", 2)) == "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957");
    CHECK(hex(hi(Hash::Sha1, "password", "salt", 4096)) ==
          "4b007901b765489abead49d926f721d065a429c1");
}

TEST_CASE("deriveScramKeys gives the keys behind the RFC 5802 and RFC 7677 examples", "[sasl]") {
    // Expected values computed independently (Python hashlib) from the RFC examples' password,
    // salt and iteration count.
    const ScramKeys sha1 =
        deriveScramKeys(Hash::Sha1, "pencil", decodeBase64("QSXCR+Q6sek8bf92").value(), 4096);
    CHECK(sha1.hash == Hash::Sha1);
    CHECK(sha1.iterations == 4096);
    CHECK(encodeBase64(sha1.salt) == "QSXCR+Q6sek8bf92");
    CHECK(hex(sha1.storedKey) == "e9d94660c39d65c38fbad91c358f14da0eef2bd6");
    CHECK(hex(sha1.serverKey) == "0fe09258b3ac852ba502cc62ba903eaacdbf7d31");

    const ScramKeys sha256 = deriveScramKeys(
        Hash::Sha256, "pencil", decodeBase64("W22ZaJ0SNY7soEsUEjb6gQ==").value(), 4096);
    CHECK(hex(sha256.storedKey) ==
          "586e5df283e6dceb5c3e791d8b8528ec191e664045ce971792e2e6b5bb13e2a6");
    CHECK(hex(sha256.serverKey) ==
          "c1f3cbc1c13a9d35a14c0990eed97629ea225863e566a4314ab99f3f00e5d9d5");

    // Any change of input changes the keys.
    CHECK(deriveScramKeys(Hash::Sha1, "pencil", sha1.salt, 4097).storedKey != sha1.storedKey);
    CHECK(deriveScramKeys(Hash::Sha1, "pencil!", sha1.salt, 4096).storedKey != sha1.storedKey);
}

TEST_CASE("makeCredentials: both hashes, fresh salts, keys that verify the password", "[sasl]") {
    const Credentials a = makeCredentials("secret", kMinIterations);
    const Credentials b = makeCredentials("secret", kMinIterations);
    REQUIRE(a.sha1);
    REQUIRE(a.sha256);
    CHECK(a.sha1->salt.size() == kSaltBytes);
    CHECK(a.sha256->salt.size() == kSaltBytes);
    CHECK(a.sha1->salt != a.sha256->salt);
    CHECK(a.sha1->salt != b.sha1->salt);
    CHECK(a.sha256->iterations == kMinIterations);
    CHECK(*a.sha256 == deriveScramKeys(Hash::Sha256, "secret", a.sha256->salt, kMinIterations));
    CHECK(*a.sha1 == deriveScramKeys(Hash::Sha1, "secret", a.sha1->salt, kMinIterations));
}

TEST_CASE("fakeScramKeys are stable per user and secret and look like real ones", "[sasl]") {
    const ScramKeys a = fakeScramKeys(Hash::Sha256, "secret", "alice", 4096);
    CHECK(a == fakeScramKeys(Hash::Sha256, "secret", "alice", 4096));
    CHECK(a.salt.size() == kSaltBytes);
    CHECK(a.iterations == 4096);
    CHECK(a.storedKey.size() == 32);
    CHECK(a.serverKey.size() == 32);
    CHECK(a.salt != fakeScramKeys(Hash::Sha256, "secret", "bob", 4096).salt);
    CHECK(a.salt != fakeScramKeys(Hash::Sha256, "other", "alice", 4096).salt);
    CHECK(a.salt != fakeScramKeys(Hash::Sha1, "secret", "alice", 4096).salt);
    CHECK(fakeScramKeys(Hash::Sha1, "secret", "alice", 4096).storedKey.size() == 20);
    // The separator keeps ("SHA-1", "x") and similar splits apart.
    CHECK(fakeScramKeys(Hash::Sha1, "k", "ab", 1).salt !=
          fakeScramKeys(Hash::Sha1, "k", "a", 1).salt);
    // No secret: a per-process random one, still stable within the process.
    const ScramKeys p = fakeScramKeys(Hash::Sha256, "", "alice", 4096);
    CHECK(p == fakeScramKeys(Hash::Sha256, "", "alice", 4096));
    CHECK(p.salt != fakeScramKeys(Hash::Sha256, "", "bob", 4096).salt);
}

TEST_CASE("randomBytes and constantTimeEqual", "[sasl]") {
    CHECK(randomBytes(0).empty());
    const std::string a = randomBytes(32);
    const std::string b = randomBytes(32);
    CHECK(a.size() == 32);
    CHECK(a != b);
    CHECK(constantTimeEqual("", ""));
    CHECK(constantTimeEqual("abc", "abc"));
    CHECK_FALSE(constantTimeEqual("abc", "abd"));
    CHECK_FALSE(constantTimeEqual("abc", "ab"));
    CHECK_FALSE(constantTimeEqual("ab", "abc"));
    CHECK_FALSE(constantTimeEqual(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST_CASE("UTF-8 validation", "[sasl]") {
    CHECK(isValidUtf8(""));
    CHECK(isValidUtf8("plain ascii"));
    CHECK(isValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
    CHECK(isValidUtf8("\xF4\x8F\xBF\xBF"));        // U+10FFFF
    CHECK_FALSE(isValidUtf8("\xC3"));              // truncated
    CHECK_FALSE(isValidUtf8("\x80"));              // lone continuation
    CHECK_FALSE(isValidUtf8("\xC0\xAF"));          // overlong "/"
    CHECK_FALSE(isValidUtf8("\xE0\x80\xAF"));      // overlong
    CHECK_FALSE(isValidUtf8("\xED\xA0\x80"));      // surrogate U+D800
    CHECK_FALSE(isValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
    CHECK_FALSE(isValidUtf8("\xFF"));
    CHECK_FALSE(isValidUtf8("\xE2\x82"));
}
