#include "modules/offline_codec.h"

#include <ctime>

#include "stanza/ns.h"
#include "xml/serializer.h"
#include "xml/stream_parser.h"

namespace corvid::modules {

namespace {

/// Collects the first element of a stream and stops.
class OneElement final : public xml::StreamHandler {
  public:
    void onStreamStart(xml::StreamHeader&&) override {}
    void onElement(xml::Element&& element) override {
        if (!element_) {
            element_ = std::move(element);
        }
    }
    void onStreamEnd() override {}
    void onParseError(const xml::ParseError&) override { failed_ = true; }

    std::optional<xml::Element> take() {
        if (failed_) {
            return std::nullopt;
        }
        return std::move(element_);
    }

  private:
    std::optional<xml::Element> element_;
    bool failed_ = false;
};

}  // namespace

std::string encodeStoredStanza(const xml::Element& stanza) {
    return xml::toString(stanza);
}

std::optional<xml::Element> decodeStoredStanza(std::string_view text) {
    OneElement handler;
    // What was stored came through a stream with these limits or smaller ones, plus the little
    // the server added (a delay element): generous bounds, still bounds.
    xml::StreamLimits limits;
    limits.maxStanzaBytes = text.size() + 1024;
    limits.maxDepth = 64;
    limits.maxAttributes = 256;
    xml::StreamParser parser(handler, limits);
    const std::string header = "<stream:stream xmlns='" + std::string(stanza::ns::kClient) +
                               "' xmlns:stream='" + std::string(xml::kStreamNs) + "'>";
    if (!parser.feed(header) || !parser.feed(text) || !parser.feed("</stream:stream>")) {
        return std::nullopt;
    }
    return handler.take();
}

std::string xmppTimestamp(std::chrono::system_clock::time_point when) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch());
    const std::time_t seconds = static_cast<std::time_t>(ms.count() / 1000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms.count() % 1000));
    return buf;
}

xml::Element delayElement(std::string_view from, std::chrono::system_clock::time_point when) {
    xml::Element delay("delay", std::string(stanza::ns::kDelay));
    delay.setAttr("from", std::string(from));
    delay.setAttr("stamp", xmppTimestamp(when));
    return delay;
}

}  // namespace corvid::modules
