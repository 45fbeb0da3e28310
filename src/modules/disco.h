#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "router/hooks.h"

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

/// Provided by the disco module: who lists the items of an account's bare JID (XEP-0030 §4;
/// PEP lists the account's nodes, XEP-0163 §6.1). Without a lister the list is empty.
class AccountDiscoItems {
  public:
    static constexpr std::string_view kInterfaceName = "the accounts' disco#items (XEP-0030)";

    /// `handler` answers every disco#items get on an account's bare JID until the handle goes.
    [[nodiscard]] virtual router::HookHandle listAccountItems(router::IqHandler handler) = 0;

  protected:
    ~AccountDiscoItems() = default;
};

}  // namespace corvid::modules
