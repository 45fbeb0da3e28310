#pragma once

#include <string>
#include <string_view>

namespace corvid::component {

/// The value a component sends in <handshake/> to prove that it knows its secret (XEP-0114 §3):
/// the lower-case hex SHA-1 of the stream id followed by the secret.
std::string handshakeDigest(std::string_view streamId, std::string_view secret);

/// Whether `received` (the text of the component's <handshake/>) is that digest. Hex digits may
/// be in either case and surrounding whitespace is ignored; the comparison takes the same time
/// wherever the first difference is.
bool handshakeMatches(std::string_view streamId, std::string_view secret,
                      std::string_view received);

/// A fresh stream id: 16 random bytes in hex. The component hashes it with its secret, so it
/// must never repeat.
std::string newStreamId();

}  // namespace corvid::component
