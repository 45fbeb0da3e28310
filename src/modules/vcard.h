#pragma once

#include <cstddef>

#include "modules/module.h"

namespace corvid::modules {

/// Largest vCard accepted, serialised (a vCard carries the avatar in base64, XEP-0153).
inline constexpr std::size_t kMaxVcardBytes = 128 * 1024;

/// XEP-0054 vcard-temp: an account reads and replaces its own vCard; anyone reads another
/// account's by its bare JID. Stored in PostgreSQL.
ModulePtr makeVcardModule(ModuleContext& context);

}  // namespace corvid::modules
