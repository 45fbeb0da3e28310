#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace corvid::util {

/// What an HTTP upload slot (XEP-0363) allows: one PUT of `size` bytes of `contentType` to
/// `slot`/`filename` until `expires`. The upload module signs it into the PUT URL and the HTTP
/// listener checks the signature, so a PUT needs no database round trip; both share the server
/// secret "http-upload".
struct UploadGrant {
    std::string slot;          ///< random, lower-case letters and digits
    std::string filename;      ///< as the client asked for it (no '/')
    std::uint64_t size = 0;    ///< exact Content-Length of the PUT
    std::string contentType;   ///< "" when the client named none
    std::int64_t expires = 0;  ///< Unix time

    /// HMAC-SHA-256 over every field, in hex.
    std::string sign(std::string_view secret) const;
    /// Whether `signature` is sign(secret), compared in constant time.
    bool verify(std::string_view secret, std::string_view signature) const;
};

}  // namespace corvid::util
