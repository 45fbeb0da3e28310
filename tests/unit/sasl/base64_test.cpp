#include "sasl/base64.h"

#include <catch2/catch.hpp>

using namespace corvid::sasl;

TEST_CASE("base64 encodes the RFC 4648 test vectors", "[sasl]") {
    CHECK(encodeBase64("") == "");
    CHECK(encodeBase64("f") == "Zg==");
    CHECK(encodeBase64("fo") == "Zm8=");
    CHECK(encodeBase64("foo") == "Zm9v");
    CHECK(encodeBase64("foob") == "Zm9vYg==");
    CHECK(encodeBase64("fooba") == "Zm9vYmE=");
    CHECK(encodeBase64("foobar") == "Zm9vYmFy");
    CHECK(encodeBase64(std::string("\xFB\xFF\x00", 3)) == "+/8A");
}

TEST_CASE("base64 decodes what it encodes, for every byte value and length", "[sasl]") {
    std::string bytes;
    for (int i = 0; i < 256; ++i) {
        bytes.push_back(static_cast<char>(255 - i));
        const auto decoded = decodeBase64(encodeBase64(bytes));
        REQUIRE(decoded.has_value());
        REQUIRE(*decoded == bytes);
    }
    CHECK(decodeBase64("Zm9vYmFy") == std::optional<std::string>("foobar"));
    CHECK(decodeBase64("Zg==") == std::optional<std::string>("f"));
    CHECK(decodeBase64("") == std::optional<std::string>(""));
}

TEST_CASE("base64 decoding is strict", "[sasl]") {
    CHECK_FALSE(decodeBase64("Zg"));        // padding missing
    CHECK_FALSE(decodeBase64("Zg="));       // length not a multiple of 4
    CHECK_FALSE(decodeBase64("Zh=="));      // non-zero unused bits: not the canonical form
    CHECK_FALSE(decodeBase64("Zm9="));      // likewise with one pad
    CHECK_FALSE(decodeBase64("Zm 9v"));     // whitespace
    CHECK_FALSE(decodeBase64("Zm9v\n"));    // line break
    CHECK_FALSE(decodeBase64("Zm9v!A=="));  // outside the alphabet
    CHECK_FALSE(decodeBase64("Zm-_"));      // the URL-safe alphabet is not base64
    CHECK_FALSE(decodeBase64("Zg==Zg=="));  // padding in the middle
    CHECK_FALSE(decodeBase64("Z==="));      // three pads
    CHECK_FALSE(decodeBase64("===="));      // only padding
    CHECK_FALSE(decodeBase64("Z=g="));      // pad before data
    CHECK_FALSE(decodeBase64("="));         // "=" is only special in SASL elements
    CHECK_FALSE(decodeBase64(std::string("Zm9v\0\0\0\0", 8)));
}

TEST_CASE("SASL element data: '=' is zero-length data (RFC 6120 §6.4.2)", "[sasl]") {
    CHECK(encodeSaslData("") == "=");
    CHECK(encodeSaslData("foo") == "Zm9v");
    CHECK(decodeSaslData("=") == std::optional<std::string>(""));
    CHECK(decodeSaslData("Zm9v") == std::optional<std::string>("foo"));
    CHECK(decodeSaslData("") == std::optional<std::string>(""));
    CHECK_FALSE(decodeSaslData("=="));
    CHECK_FALSE(decodeSaslData(" ="));
    CHECK_FALSE(decodeSaslData("Zm9"));
}
