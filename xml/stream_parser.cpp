#include "xml/stream_parser.h"

#include <expat.h>

#include <algorithm>
#include <cstring>

#include "xml/parser_heap.h"
#include "xml/serializer.h"

namespace corvid::xml {

namespace {

constexpr char kNsSeparator = ' ';  // never part of a namespace URI or a name

XML_Parser asExpat(void* p) {
    return static_cast<XML_Parser>(p);
}

/// expat allocates apart from the common heap (see ParserHeap).
constexpr XML_Memory_Handling_Suite kParserMemory = {&ParserHeap::allocate, &ParserHeap::reallocate,
                                                     &ParserHeap::release};

/// Splits expat's "uri name" into namespace and local name.
void splitName(const char* expatName, std::string_view& ns, std::string_view& local);

void splitName(const char* expatName, std::string& ns, std::string& local) {
    std::string_view n;
    std::string_view l;
    splitName(expatName, n, l);
    ns.assign(n);
    local.assign(l);
}

/// The prefix expat reports third ("uri name prefix", XML_SetReturnNSTriplet), or "".
std::string_view prefixOf(const char* expatName) {
    std::string_view all(expatName);
    const std::size_t first = all.find(kNsSeparator);
    if (first == std::string_view::npos) {
        return {};
    }
    const std::size_t second = all.find(kNsSeparator, first + 1);
    return second == std::string_view::npos ? std::string_view() : all.substr(second + 1);
}

/// Splits expat's "uri name" without copying.
void splitName(const char* expatName, std::string_view& ns, std::string_view& local) {
    std::string_view all(expatName);
    const std::size_t sep = all.find(kNsSeparator);
    if (sep == std::string_view::npos) {
        ns = {};
        local = all;
    } else {
        ns = all.substr(0, sep);
        local = all.substr(sep + 1);
        local = local.substr(0, local.find(kNsSeparator));  // drop a prefix (NS triplets)
    }
}

bool isXmlWhitespace(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return (x | 0x20) == (y | 0x20);
           });
}

}  // namespace

std::string_view StreamHeader::attr(std::string_view attrName, std::string_view attrNs) const {
    for (const auto& a : attributes) {
        if (a.name == attrName && a.ns == attrNs) {
            return a.value;
        }
    }
    return {};
}

/// expat's C callbacks, forwarding to the StreamParser in userData.
struct StreamParser::Callbacks {
    static StreamParser& self(void* userData) { return *static_cast<StreamParser*>(userData); }

    static void XMLCALL startElement(void* userData, const XML_Char* name, const XML_Char** atts) {
        StreamParser& p = self(userData);
        if (p.stopped_) {
            return;
        }
        std::size_t attCount = 0;
        while (atts[2 * attCount] != nullptr) {
            ++attCount;
        }
        if (p.depth_ == 0 && p.resuming_) {
            // The synthetic root of resume(): the stream was reported long ago.
            p.depth_ = 1;
            p.markBoundary();
            return;
        }
        if (p.depth_ == 0) {
            StreamHeader header;
            splitName(name, header.ns, header.name);
            header.defaultNs = std::move(p.rootDefaultNs_);
            if (header.ns != kStreamNs || header.name != "stream") {
                p.fail(ParseErrorKind::InvalidNamespace,
                       "the stream root must be {http://etherx.jabber.org/streams}stream");
                return;
            }
            if (attCount > p.limits_.maxAttributes) {
                p.fail(ParseErrorKind::TooManyAttributes, "too many attributes on the stream");
                return;
            }
            for (std::size_t i = 0; i < attCount; ++i) {
                header.attributes.push_back(p.makeAttribute(atts[2 * i], atts[2 * i + 1]));
            }
            p.rootPrefix_ = prefixOf(name);
            p.depth_ = 1;
            p.markBoundary();
            p.handler_.onStreamStart(std::move(header));
            return;
        }
        if (p.depth_ > p.limits_.maxDepth) {
            p.fail(ParseErrorKind::TooDeep,
                   "elements nested deeper than " + std::to_string(p.limits_.maxDepth));
            return;
        }
        if (attCount > p.limits_.maxAttributes) {
            p.fail(ParseErrorKind::TooManyAttributes,
                   "more than " + std::to_string(p.limits_.maxAttributes) + " attributes");
            return;
        }
        Element* e = nullptr;
        if (p.depth_ == 1) {
            p.stanza_ = Element();
            p.nsCache_.clear();
            e = &p.stanza_;
        } else {
            e = &p.open_.back()->addChild(Element());
        }
        std::string_view ns;
        std::string_view local;
        splitName(name, ns, local);
        e->setName(std::string(local));
        e->setNs(p.intern(ns));
        e->attributes().reserve(attCount);
        for (std::size_t i = 0; i < attCount; ++i) {
            e->attributes().push_back(p.makeAttribute(atts[2 * i], atts[2 * i + 1]));
        }
        p.open_.push_back(e);
        ++p.depth_;
    }

    static void XMLCALL endElement(void* userData, const XML_Char* /*name*/) {
        StreamParser& p = self(userData);
        if (p.stopped_) {
            return;
        }
        if (p.depth_ == 1) {
            p.depth_ = 0;
            p.handler_.onStreamEnd();
            // Nothing may follow the end of the stream.
            p.stop();
            return;
        }
        --p.depth_;
        p.open_.pop_back();
        if (p.depth_ == 1) {
            p.markBoundary();
            p.handler_.onElement(std::move(p.stanza_));
            p.stanza_ = Element();
        }
    }

    static void XMLCALL characterData(void* userData, const XML_Char* s, int len) {
        StreamParser& p = self(userData);
        if (p.stopped_) {
            return;
        }
        std::string_view text(s, static_cast<std::size_t>(len));
        if (p.depth_ == 1) {
            // Between stanzas only whitespace (keepalives) is allowed.
            if (!isXmlWhitespace(text)) {
                p.fail(ParseErrorKind::NotWellFormed, "text at the stream level");
                return;
            }
            p.markBoundary();
            return;
        }
        if (p.depth_ > 1) {
            p.open_.back()->addText(text);
        }
    }

    static void XMLCALL startNamespace(void* userData, const XML_Char* prefix,
                                       const XML_Char* uri) {
        StreamParser& p = self(userData);
        if (p.depth_ == 0 && !p.resuming_) {
            // Remembered so that resume() can declare them again on a fresh parser.
            p.rootNamespaces_.emplace_back(prefix ? prefix : "", uri ? uri : "");
            if (prefix == nullptr && uri != nullptr) {
                p.rootDefaultNs_ = uri;
            }
        }
    }

    static void XMLCALL xmlDecl(void* userData, const XML_Char* /*version*/,
                                const XML_Char* encoding, int /*standalone*/) {
        StreamParser& p = self(userData);
        if (encoding != nullptr && !equalsIgnoreCase(encoding, "UTF-8")) {
            p.fail(ParseErrorKind::UnsupportedEncoding,
                   std::string("encoding '") + encoding + "' is not UTF-8");
        }
    }

    static void XMLCALL doctype(void* userData, const XML_Char*, const XML_Char*, const XML_Char*,
                                int) {
        self(userData).fail(ParseErrorKind::RestrictedXml, "DOCTYPE is not allowed");
    }

    static void XMLCALL entityDecl(void* userData, const XML_Char*, int, const XML_Char*, int,
                                   const XML_Char*, const XML_Char*, const XML_Char*,
                                   const XML_Char*) {
        self(userData).fail(ParseErrorKind::RestrictedXml, "entity declarations are not allowed");
    }

    static void XMLCALL processingInstruction(void* userData, const XML_Char*, const XML_Char*) {
        self(userData).fail(ParseErrorKind::RestrictedXml,
                            "processing instructions are not allowed");
    }

    static void XMLCALL comment(void* userData, const XML_Char*) {
        self(userData).fail(ParseErrorKind::RestrictedXml, "comments are not allowed");
    }
};

Ns StreamParser::intern(std::string_view ns) {
    if (ns.empty()) {
        return Ns();
    }
    // Children usually inherit their parent's namespace: share it.
    if (!open_.empty() && open_.back()->ns() == ns) {
        return open_.back()->nsHandle();
    }
    for (const Ns& known : nsCache_) {
        if (known == ns) {
            return known;
        }
    }
    Ns fresh(ns);
    if (nsCache_.size() < 16) {
        nsCache_.push_back(fresh);
    }
    return fresh;
}

Attribute StreamParser::makeAttribute(const char* expatName, const char* value) {
    std::string_view ns;
    std::string_view local;
    splitName(expatName, ns, local);
    return Attribute{std::string(local), std::string(value), intern(ns)};
}

StreamParser::StreamParser(StreamHandler& handler, StreamLimits limits)
    : handler_(handler), limits_(limits) {
    createParser();
}

StreamParser::~StreamParser() {
    destroyParser();
}

void StreamParser::createParser() {
    // Forcing UTF-8 makes expat reject anything else; xmlDecl() names a declared other encoding.
    XML_Parser p = XML_ParserCreate_MM("UTF-8", &kParserMemory, &kNsSeparator);
    if (p == nullptr) {
        throw std::bad_alloc();
    }
    XML_SetUserData(p, this);
    // Names come as "uri local prefix": resume() must reopen the root with its own prefix.
    XML_SetReturnNSTriplet(p, 1);
    XML_SetElementHandler(p, &Callbacks::startElement, &Callbacks::endElement);
    XML_SetCharacterDataHandler(p, &Callbacks::characterData);
    XML_SetStartNamespaceDeclHandler(p, &Callbacks::startNamespace);
    XML_SetXmlDeclHandler(p, &Callbacks::xmlDecl);
    XML_SetStartDoctypeDeclHandler(p, &Callbacks::doctype);
    XML_SetEntityDeclHandler(p, &Callbacks::entityDecl);
    XML_SetProcessingInstructionHandler(p, &Callbacks::processingInstruction);
    XML_SetCommentHandler(p, &Callbacks::comment);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
#ifdef CORVID_EXPAT_HAS_REPARSE_DEFERRAL
    // A stream is interactive: a complete stanza must be reported as soon as its last byte is
    // fed, not held back until more input comes (which may be never). feed() bounds what expat
    // buffers, so the quadratic re-parse this deferral guards against stays bounded too.
    XML_SetReparseDeferralEnabled(p, XML_FALSE);
#endif
    parser_ = p;
    failed_ = false;
    stopped_ = false;
    depth_ = 0;
    fed_ = 0;
    boundary_ = 0;
    encodingChecked_ = false;
    head_.clear();
    open_.clear();
    stanza_ = Element();
    rootDefaultNs_.clear();
    if (!resuming_) {
        rootNamespaces_.clear();
    }
}

bool StreamParser::releaseIdle() {
    if (parser_ == nullptr || inFeed_ || failed_ || stopped_ || depth_ != 1 ||
        pendingBytes() != 0) {
        return false;
    }
    // Between stanzas the stream's whole state is "inside the root, with these namespace
    // declarations": expat's tables and buffers (several KiB) can go until bytes come again.
    destroyParser();
    return true;
}

void StreamParser::resume() {
    resuming_ = true;
    createParser();
    encodingChecked_ = true;
    // The same qualified name as the peer's root, so that its closing tag matches; the
    // prefix is bound by the recorded declarations.
    // (Appends only: g++ 12 -O3 warns falsely on "literal" + std::string temporaries.)
    std::string root("<");
    if (!rootPrefix_.empty()) {
        root.append(rootPrefix_).append(":");
    }
    root.append("stream");
    for (const auto& [prefix, uri] : rootNamespaces_) {
        if (prefix.empty()) {
            root.append(" xmlns='");
        } else {
            root.append(" xmlns:").append(prefix).append("='");
        }
        escapeAttr(uri, root);
        root += '\'';
    }
    root += '>';
    const XML_Status status =
        XML_Parse(asExpat(parser_), root.data(), static_cast<int>(root.size()), XML_FALSE);
    fed_ = root.size();
    resuming_ = false;
    if (status != XML_STATUS_OK || depth_ != 1) {
        fail(ParseErrorKind::NotWellFormed, "cannot resume the stream's namespace context");
    }
}

void StreamParser::destroyParser() {
    if (parser_ != nullptr) {
        XML_ParserFree(asExpat(parser_));
        parser_ = nullptr;
    }
}

void StreamParser::restart() {
    if (inFeed_) {
        restartPending_ = true;
        stop();
        return;
    }
    destroyParser();
    createParser();
}

void StreamParser::stop() {
    if (!stopped_) {
        stopped_ = true;
        if (inFeed_) {
            XML_StopParser(asExpat(parser_), XML_FALSE);
        }
    }
}

void StreamParser::fail(ParseErrorKind kind, std::string detail) {
    if (stopped_) {
        return;
    }
    failed_ = true;
    stop();
    handler_.onParseError(ParseError{kind, std::move(detail)});
}

void StreamParser::markBoundary() {
    XML_Parser p = asExpat(parser_);
    const XML_Index index = XML_GetCurrentByteIndex(p);
    if (index >= 0) {
        boundary_ = static_cast<std::uint64_t>(index) +
                    static_cast<std::uint64_t>(XML_GetCurrentByteCount(p));
    }
}

std::size_t StreamParser::pendingBytes() const {
    return static_cast<std::size_t>(fed_ - std::min(fed_, boundary_));
}

namespace {

ParseErrorKind classify(XML_Error code) {
    switch (code) {
        case XML_ERROR_UNDEFINED_ENTITY:
        case XML_ERROR_MISPLACED_XML_PI:
        case XML_ERROR_PARAM_ENTITY_REF:
        case XML_ERROR_RECURSIVE_ENTITY_REF:
        case XML_ERROR_BINARY_ENTITY_REF:
        case XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF:
        case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
        case XML_ERROR_AMPLIFICATION_LIMIT_BREACH:
            return ParseErrorKind::RestrictedXml;
        case XML_ERROR_UNKNOWN_ENCODING:
        case XML_ERROR_INCORRECT_ENCODING:
            return ParseErrorKind::UnsupportedEncoding;
        default:
            return ParseErrorKind::NotWellFormed;
    }
}

}  // namespace

bool StreamParser::feed(std::string_view bytes) {
    if (failed_) {
        return false;
    }
    if (stopped_) {
        return true;  // stopped after the stream end: ignore until restart()
    }
    if (parser_ == nullptr) {
        resume();
        if (failed_) {
            return false;
        }
    }
    if (!encodingChecked_) {
        // RFC 6120 §11.6: UTF-8 only. expat would honour a UTF-16 byte order mark over the
        // encoding we force, so the first two bytes are looked at before expat sees them.
        const std::size_t take = std::min(bytes.size(), 2 - head_.size());
        head_.append(bytes.substr(0, take));
        bytes.remove_prefix(take);
        if (head_.size() < 2) {
            return true;
        }
        encodingChecked_ = true;
        const auto b0 = static_cast<unsigned char>(head_[0]);
        const auto b1 = static_cast<unsigned char>(head_[1]);
        if ((b0 == 0xFF && b1 == 0xFE) || (b0 == 0xFE && b1 == 0xFF) || b0 == 0 || b1 == 0) {
            fail(ParseErrorKind::UnsupportedEncoding, "the stream is not UTF-8 (UTF-16?)");
            return false;
        }
        std::string head = std::move(head_);
        head_.clear();
        if (!feed(head)) {
            return false;
        }
        if (stopped_) {
            return !failed_;
        }
    }
    inFeed_ = true;
    // Feed in slices no larger than what the current stanza may still grow by, so that neither
    // expat's buffer nor the tree being built can exceed the limit.
    while (!bytes.empty() && !stopped_) {
        const std::size_t pending = pendingBytes();
        if (pending >= limits_.maxStanzaBytes) {
            fail(ParseErrorKind::StanzaTooLarge,
                 "stanza larger than " + std::to_string(limits_.maxStanzaBytes) + " bytes");
            break;
        }
        const std::size_t slice = std::min(bytes.size(), limits_.maxStanzaBytes - pending);
        fed_ += slice;
        const XML_Status status =
            XML_Parse(asExpat(parser_), bytes.data(), static_cast<int>(slice), XML_FALSE);
        bytes.remove_prefix(slice);
        if (status == XML_STATUS_ERROR && !stopped_) {
            const XML_Error code = XML_GetErrorCode(asExpat(parser_));
            fail(classify(code), XML_ErrorString(code));
        }
    }
    inFeed_ = false;
    if (restartPending_) {
        restartPending_ = false;
        destroyParser();
        createParser();
        return true;
    }
    return !failed_;
}

}  // namespace corvid::xml
