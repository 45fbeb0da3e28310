#pragma once

#include "modules/module.h"

namespace corvid::modules {

/// The software version corvid reports (XEP-0092). Keep in step with project() in CMakeLists.txt.
inline constexpr std::string_view kSoftwareName = "corvid";
inline constexpr std::string_view kSoftwareVersion = "0.1.0";

/// XEP-0092 Software Version for the server. Options: hide (answer nothing, as if the module
/// were off: service-unavailable) and hide_os (leave <os/> out).
ModulePtr makeVersionModule(ModuleContext& context);

}  // namespace corvid::modules
