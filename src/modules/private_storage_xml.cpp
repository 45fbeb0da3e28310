#include "modules/private_storage_xml.h"

#include "xml/serializer.h"
#include "xml/stream_parser.h"

namespace corvid::modules {

namespace {

/// Takes the first child of the wrapping stream root.
class FirstElement final : public xml::StreamHandler {
  public:
    void onStreamStart(xml::StreamHeader&&) override {}
    void onElement(xml::Element&& element) override {
        if (!element_ && !failed_) {
            element_ = std::move(element);
        } else {
            failed_ = true;  // more than one element: not something storedXml() wrote
        }
    }
    void onStreamEnd() override { ended_ = true; }
    void onParseError(const xml::ParseError&) override { failed_ = true; }

    std::optional<xml::Element> take() {
        if (failed_ || !ended_) {
            return std::nullopt;
        }
        return std::move(element_);
    }

  private:
    std::optional<xml::Element> element_;
    bool failed_ = false;
    bool ended_ = false;
};

constexpr std::string_view kOpen =
    "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>";
constexpr std::string_view kClose = "</stream:stream>";

}  // namespace

std::string storedXml(const xml::Element& element) {
    return xml::toString(element);
}

std::optional<xml::Element> parseStoredXml(std::string_view text) {
    FirstElement handler;
    // The text passed the stream limits when it arrived (inside a stanza, so one level deeper than
    // here); these limits only keep a damaged row from costing more than that.
    xml::StreamLimits limits{text.size() + kOpen.size() + kClose.size() + 64, 256, 1024};
    xml::StreamParser parser(handler, limits);
    std::string wrapped;
    wrapped.reserve(kOpen.size() + text.size() + kClose.size());
    wrapped.append(kOpen).append(text).append(kClose);
    if (!parser.feed(wrapped)) {
        return std::nullopt;
    }
    return handler.take();
}

}  // namespace corvid::modules
