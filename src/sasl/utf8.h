#pragma once

#include <string_view>

namespace corvid::sasl {

/// True if `s` is well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
/// U+10FFFF. NUL is allowed here; callers that forbid it check separately.
bool isValidUtf8(std::string_view s);

}  // namespace corvid::sasl
