#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "xml/element.h"

namespace corvid::xml {

/// Limits enforced while parsing, before anything is buffered whole.
struct StreamLimits {
    /// Bytes of one child of the stream root (a stanza), including its markup. The stream header
    /// itself is bounded by the same figure.
    std::size_t maxStanzaBytes = 256 * 1024;
    /// Element depth below the stream root (a stanza is depth 1).
    std::size_t maxDepth = 32;
    /// Attributes on one element.
    std::size_t maxAttributes = 64;
};

/// Why a stream could not be parsed. Each maps to one stream error condition (RFC 6120 §4.9.3).
enum class ParseErrorKind {
    NotWellFormed,        ///< syntax, invalid UTF-8 or characters: <not-well-formed/>
    RestrictedXml,        ///< DOCTYPE, entity declaration, PI or comment: <restricted-xml/>
    UnsupportedEncoding,  ///< an encoding other than UTF-8: <unsupported-encoding/>
    InvalidNamespace,     ///< the root is not {http://etherx.jabber.org/streams}stream
    StanzaTooLarge,       ///< over StreamLimits::maxStanzaBytes: <policy-violation/>
    TooDeep,              ///< over StreamLimits::maxDepth: <policy-violation/>
    TooManyAttributes,    ///< over StreamLimits::maxAttributes: <policy-violation/>
};

struct ParseError {
    ParseErrorKind kind;
    std::string detail;
};

/// The opening `<stream:stream>` tag.
struct StreamHeader {
    std::string name;       ///< local name of the root ("stream")
    std::string ns;         ///< namespace of the root
    std::string defaultNs;  ///< the default namespace it declares (jabber:client, ...)
    std::vector<Attribute> attributes;

    std::string_view attr(std::string_view name, std::string_view attrNs = {}) const;
};

/// Receives the events of a StreamParser. A handler may call StreamParser::restart() or stop()
/// from inside any of these.
class StreamHandler {
  public:
    virtual ~StreamHandler() = default;
    virtual void onStreamStart(StreamHeader&& header) = 0;
    /// A complete child of the stream root.
    virtual void onElement(Element&& element) = 0;
    /// The closing `</stream:stream>`.
    virtual void onStreamEnd() = 0;
    /// The stream cannot go on; nothing more is parsed until restart().
    virtual void onParseError(const ParseError& error) = 0;
};

/// An incremental, namespace-aware parser of one XML stream (expat). Takes bytes in chunks of any
/// size and reports the stream header, each child of the root as a complete tree, and the end.
/// Refuses everything RFC 6120 §11 rules out and enforces StreamLimits while parsing.
class StreamParser {
  public:
    StreamParser(StreamHandler& handler, StreamLimits limits = {});
    ~StreamParser();
    StreamParser(const StreamParser&) = delete;
    StreamParser& operator=(const StreamParser&) = delete;

    /// Parses the bytes. Returns false if the stream failed (onParseError was called), now or
    /// before. After a restart() or stop() from a callback, the rest of `bytes` is discarded.
    bool feed(std::string_view bytes);

    /// Starts a new stream with a fresh parser, forgetting any bytes buffered so far (RFC 6120
    /// §5.4.3.3, §6.4.6). Called from inside a callback, it takes effect when feed() returns and
    /// the rest of the chunk being fed is discarded.
    void restart();
    /// Parses nothing more until restart(): the rest of the current chunk is discarded.
    void stop();

    /// Changes the limits, e.g. to the larger ones that apply after authentication.
    void setLimits(StreamLimits limits) { limits_ = limits; }
    const StreamLimits& limits() const { return limits_; }

    /// Between stanzas of an open stream, frees the parser's memory (expat's tables and
    /// buffers); the next feed() carries on exactly as before. Returns false (and keeps
    /// everything) when a stanza is partly received or the stream is not open.
    bool releaseIdle();
    bool released() const { return parser_ == nullptr; }

    bool failed() const { return failed_; }
    bool streamOpen() const { return depth_ > 0; }
    /// Inside the stream root and not inside a stanza (every element begun has ended).
    bool betweenStanzas() const { return depth_ == 1; }
    /// Bytes fed since the current stanza began (what counts towards maxStanzaBytes).
    std::size_t pendingBytes() const;

  private:
    struct Callbacks;
    friend struct Callbacks;

    void createParser();
    void resume();
    void destroyParser();
    void fail(ParseErrorKind kind, std::string detail);
    void markBoundary();
    Ns intern(std::string_view ns);
    Attribute makeAttribute(const char* expatName, const char* value);

    StreamHandler& handler_;
    StreamLimits limits_;
    void* parser_ = nullptr;  // XML_Parser, kept opaque so expat.h stays out of this header
    bool failed_ = false;
    bool stopped_ = false;
    bool inFeed_ = false;
    bool restartPending_ = false;
    std::size_t depth_ = 0;       // 1 inside the stream root
    std::uint64_t fed_ = 0;       // bytes fed to this parser
    std::uint64_t boundary_ = 0;  // byte offset where the current stanza began
    std::vector<Element*> open_;  // path from the stanza being built to the open element
    Element stanza_;              // the stanza being built
    std::string rootDefaultNs_;   // xmlns declared while opening the root
    std::vector<std::pair<std::string, std::string>> rootNamespaces_;  // every one, for resume()
    bool resuming_ = false;         // parsing resume()'s synthetic root
    std::string rootPrefix_;        // the root's prefix ("stream")
    std::vector<Ns> nsCache_;       // namespaces of the stanza being built, shared by its nodes
    bool encodingChecked_ = false;  // the first two bytes have been looked at
    std::string head_;              // those bytes, until there are two
};

}  // namespace corvid::xml
