#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>

#include "xml/element.h"

namespace corvid::c2s {

inline constexpr std::string_view kSmNs = "urn:xmpp:sm:3";  // XEP-0198

/// modules.sm: stream management (XEP-0198).
struct SmSettings {
    bool enabled = false;
    int resumeTimeoutSeconds = 300;  ///< 0: no resumption
    std::size_t maxUnacked = 500;
};

/// The counters and the unacknowledged queue of one session that enabled stream management
/// (XEP-0198 §4): `h` counts stanzas in each direction modulo 2^32; what was sent to the client
/// stays queued until an <a h/> covers it, so that it can be sent again after a resumption or,
/// when the session ends, routed elsewhere instead of being lost.
class SmQueue {
  public:
    struct Sent {
        xml::Element stanza;
        std::chrono::system_clock::time_point at;
    };

    /// A stanza from the client was handled (our h).
    void received() { ++inbound_; }
    std::uint32_t inbound() const { return inbound_; }
    /// A stanza to the client.
    void sent(const xml::Element& stanza, std::chrono::system_clock::time_point at) {
        unacked_.push_back(Sent{stanza, at});
        ++outbound_;
    }
    std::uint32_t outbound() const { return outbound_; }

    /// The client's h: drops what it covers. False (nothing changes) when it acknowledges more
    /// than was sent (XEP-0198 §4: an error) — wrap-around at 2^32 included.
    bool acknowledge(std::uint32_t h) {
        const std::uint32_t newlyAcked = h - acked_;  // modulo 2^32
        if (newlyAcked > unacked_.size()) {
            return false;
        }
        unacked_.erase(unacked_.begin(), unacked_.begin() + newlyAcked);
        acked_ = h;
        return true;
    }
    std::deque<Sent>& unacked() { return unacked_; }
    std::size_t size() const { return unacked_.size(); }

    /// For tests of the wrap-around: start the counters at `h`.
    void startAt(std::uint32_t h) { inbound_ = outbound_ = acked_ = h; }

  private:
    std::uint32_t inbound_ = 0;
    std::uint32_t outbound_ = 0;
    std::uint32_t acked_ = 0;  // the client's last h
    std::deque<Sent> unacked_;
};

}  // namespace corvid::c2s
