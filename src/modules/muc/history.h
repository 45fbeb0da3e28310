#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xml/element.h"

namespace corvid::modules::muc {

using Clock = std::chrono::system_clock;

/// An XEP-0082 DateTime ("2002-10-13T23:58:37Z", fractions of a second and a "+hh:mm" or
/// "-hh:mm" offset allowed), or std::nullopt when it is not one.
std::optional<Clock::time_point> parseDateTime(std::string_view text);

/// What a joining occupant asked for with <history/> (XEP-0045 §7.2.14); absent: no limit of
/// that kind.
struct HistoryRequest {
    std::optional<std::size_t> maxStanzas;
    std::optional<std::size_t> maxChars;
    std::optional<std::chrono::seconds> seconds;
    std::optional<Clock::time_point> since;
};

/// Reads the attributes of <history/> (nullptr: none given); an error text names the attribute
/// whose value is not a non-negative integer or a DateTime.
std::expected<HistoryRequest, std::string> parseHistoryRequest(const xml::Element* history);

/// The discussion history of one room, in memory, oldest first.
class RoomHistory {
  public:
    struct Entry {
        xml::Element message;  ///< as sent on join: from the occupant JID, with <delay/>
        Clock::time_point at;
        std::size_t chars;  ///< characters of the serialised message
    };

    /// Keeps `message` (a groupchat message as broadcast, without 'to'), stamped with a delay
    /// from `roomJid`, and drops the oldest entries beyond `keep`.
    void add(const xml::Element& message, std::string_view roomJid, Clock::time_point at,
             std::size_t keep);
    /// Drops the oldest entries beyond `keep`.
    void trim(std::size_t keep);
    /// The newest entries that fit the request and `limit` (the room's history length), oldest
    /// first.
    std::vector<const Entry*> select(const HistoryRequest& request, std::size_t limit,
                                     Clock::time_point now) const;
    std::size_t size() const { return entries_.size(); }

  private:
    std::deque<Entry> entries_;
};

}  // namespace corvid::modules::muc
