#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "modules/module.h"

namespace corvid::modules {

/// The caps node of corvid (XEP-0115 §4: a URI naming the software).
inline constexpr std::string_view kCapsNode = "https://corvid.invalid/caps";

/// A disco#info identity (XEP-0030 §3.1).
struct DiscoIdentity {
    std::string category;
    std::string type;
    std::string lang;  ///< xml:lang, usually empty
    std::string name;
};

/// The XEP-0115 §5.1 verification string with hash sha-1: base64(SHA-1(S)), where S lists the
/// identities ("category/type/lang/name<", sorted by category, type, lang, then name) and then
/// the features ("var<", sorted). No extended data forms (XEP-0128) yet.
std::string capsVer(std::vector<DiscoIdentity> identities, std::vector<std::string> features);

/// XEP-0030 Service Discovery for the server and for its accounts' bare JIDs, and the server's
/// XEP-0115 capabilities as a post-authentication stream feature.
ModulePtr makeDiscoModule(ModuleContext& context);

}  // namespace corvid::modules
