#pragma once

#include <string>
#include <string_view>

namespace corvid::s2s {

/// The Server Dialback key (XEP-0220 §2.1.1) by the algorithm of XEP-0185:
/// hex(HMAC-SHA256(hex(SHA256(secret)), receiving + ' ' + originating + ' ' + streamId)).
/// `receiving` is the domain the key is sent to, `originating` the domain it is for, `streamId`
/// the id the receiving server gave the stream the key is sent on.
std::string dialbackKey(std::string_view secret, std::string_view receiving,
                        std::string_view originating, std::string_view streamId);

/// Compares two keys in constant time (a verifier must not leak how much of a key matched).
bool keysEqual(std::string_view a, std::string_view b);

}  // namespace corvid::s2s
