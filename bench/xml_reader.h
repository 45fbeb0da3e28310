#pragma once

#include "c_handles.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corvid::bench {

/// A small element tree: enough to look at what a server sends a client. Names are kept as
/// written ("stream:features"); the reader does no namespace processing because the bench only
/// needs local names and a few xmlns attributes.
struct XmlNode {
    std::string name;
    std::vector<std::pair<std::string, std::string>> attrs;
    std::vector<XmlNode> children;
    std::string text;

    /// The name without its prefix.
    std::string_view localName() const;
    /// The attribute's value, or an empty view when absent.
    std::string_view attr(std::string_view key) const;
    /// The first child with this local name, or nullptr.
    const XmlNode* child(std::string_view local) const;
};

class XmlReaderListener {
  public:
    virtual ~XmlReaderListener() = default;
    virtual void onStreamOpen(const XmlNode& header) = 0;
    /// A complete child of the stream root (a stanza or a negotiation element).
    virtual void onElement(XmlNode&& element) = 0;
    virtual void onStreamClose() = 0;
};

/// Incremental reader of one XMPP stream over expat: bytes in, stream-level events out.
class XmlReader {
  public:
    enum class FeedResult { Ok, Stopped, Error };

    explicit XmlReader(XmlReaderListener& listener);
    XmlReader(const XmlReader&) = delete;
    XmlReader& operator=(const XmlReader&) = delete;

    FeedResult feed(const char* data, size_t len);
    /// Called from a listener callback: the current feed() returns Stopped after this event and
    /// ignores the rest of its bytes (used for stream restarts, after which the server sends
    /// nothing until it has our new header).
    void stop();
    /// Starts a new document (stream restart). Never call from inside a callback.
    void reset();
    std::string errorText() const;

  private:
    void install();
    static void onStart(void* self, const char* name, const char** attrs);
    static void onEnd(void* self, const char* name);
    static void onText(void* self, const char* text, int len);

    XmlReaderListener& listener_;
    XmlParserPtr parser_;
    // The open elements of the stanza being built, outermost first. Each points into its parent's
    // children, which only grow while that parent has no open child: the pointers stay valid.
    std::vector<XmlNode*> open_;
    XmlNode current_;
    int depth_ = 0;
    bool stopped_ = false;
};

}  // namespace corvid::bench
