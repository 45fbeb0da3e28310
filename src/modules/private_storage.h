#pragma once

#include <cstddef>

namespace corvid::modules {

/// Largest fragment accepted, serialised.
inline constexpr std::size_t kMaxPrivateBytes = 128 * 1024;
/// Most fragments (distinct element name and namespace) one account may keep.
inline constexpr int kMaxPrivateItems = 64;

}  // namespace corvid::modules
