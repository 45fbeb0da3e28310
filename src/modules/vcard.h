#pragma once

#include <cstddef>

namespace corvid::modules {

/// Largest vCard accepted, serialised (a vCard carries the avatar in base64, XEP-0153).
inline constexpr std::size_t kMaxVcardBytes = 128 * 1024;

}  // namespace corvid::modules
