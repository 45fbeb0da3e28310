#include "modules/offline_codec.h"

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

}  // namespace corvid::modules
