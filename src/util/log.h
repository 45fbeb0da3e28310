#pragma once

// Logging goes through spdlog (stderr, or the journal when run by systemd).
#include <spdlog/spdlog.h>

namespace corvid::log {
using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::trace;
using spdlog::warn;
}  // namespace corvid::log
