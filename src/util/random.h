#pragma once

#include <string>

namespace corvid::util {

/// `n` random bytes from OpenSSL's CSPRNG, as lower-case letters and digits (base32 without
/// padding); for stream ids, generated resources and nonces.
std::string randomId(std::size_t n = 12);

}  // namespace corvid::util
