#pragma once

#include <cstddef>

#include "modules/module.h"

namespace corvid::modules {

/// Largest fragment accepted, serialised.
inline constexpr std::size_t kMaxPrivateBytes = 128 * 1024;
/// Most fragments (distinct element name and namespace) one account may keep.
inline constexpr int kMaxPrivateItems = 64;

/// XEP-0049 Private XML Storage: an account keeps XML fragments on its server, keyed by the
/// fragment's element name and namespace, readable and writable only by the account itself.
ModulePtr makePrivateStorageModule(ModuleContext& context);

}  // namespace corvid::modules
