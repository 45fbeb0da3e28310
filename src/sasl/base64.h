#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace corvid::sasl {

/// Base64 with the standard alphabet and padding (RFC 4648 §4).
std::string encodeBase64(std::string_view bytes);

/// Strict RFC 4648 §4 decoding: the standard alphabet only, padding required, no whitespace or
/// line breaks, and the unused bits of the last group must be zero (so that every byte string has
/// exactly one accepted encoding). Returns nullopt for anything else. "" decodes to "".
std::optional<std::string> decodeBase64(std::string_view text);

/// The text content of <auth/>, <challenge/>, <response/> or <success/> for these bytes: "=" for
/// zero-length data (RFC 6120 §6.4.2, §6.4.3), base64 otherwise.
std::string encodeSaslData(std::string_view bytes);

/// Decodes the text content of a SASL element: "=" is zero-length data (RFC 6120 §6.4.2), anything
/// else must be strict base64 (a failure maps to <incorrect-encoding/>, RFC 6120 §6.5.2). Note that
/// "" also yields "": an <auth/> without text means "no initial response", which the caller must
/// tell apart before calling this.
std::optional<std::string> decodeSaslData(std::string_view text);

}  // namespace corvid::sasl
