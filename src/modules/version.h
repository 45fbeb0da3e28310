#pragma once

#include <string_view>

namespace corvid::modules {

/// The software version corvid reports (XEP-0092). Keep in step with project() in CMakeLists.txt.
inline constexpr std::string_view kSoftwareName = "corvid";
inline constexpr std::string_view kSoftwareVersion = "0.1.0";

}  // namespace corvid::modules
