// libFuzzer target for xml::StreamParser.
//
// Input layout: 4 header bytes, then the stream bytes.
//   byte 0: options. Bits 0-1 pick the limits (default, pre-auth 16 KiB, tiny, tiny-depth);
//           bit 2 makes the handler restart() the stream when it sees <starttls/>, as a session
//           does; bit 3 raises the limits with setLimits() after the first stanza, as after SASL;
//           bit 4 calls releaseIdle() after every chunk of the chunked run, as the server does
//           for idle connections (the parser is then resumed from the root's declarations).
//   bytes 1-3: chunk sizes, used in turn; 0 means "all that is left". So the fuzzer mutates the
//           places where the stream is cut as well as its content.
//
// Checked on every run (abort on failure):
//   - each reported element survives serialize-then-parse unchanged;
//   - the events are the same as when the same stream is fed in one chunk;
//   - the parser never holds more than the stanza limit pending.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "xml/element.h"
#include "xml/serializer.h"
#include "xml/stream_parser.h"

namespace {

using corvid::xml::Element;
using corvid::xml::ParseError;
using corvid::xml::ParseErrorKind;
using corvid::xml::StreamHandler;
using corvid::xml::StreamHeader;
using corvid::xml::StreamLimits;
using corvid::xml::StreamParser;

[[noreturn]] void fail(const char* what, const std::string& detail) {
    std::fprintf(stderr, "stream_parser_fuzz: %s\n%s\n", what, detail.c_str());
    std::abort();
}

StreamLimits limitsFor(std::uint8_t options) {
    StreamLimits limits;
    switch (options & 3U) {
        case 0:
            break;
        case 1:
            limits.maxStanzaBytes = 16 * 1024;
            break;
        case 2:
            limits.maxStanzaBytes = 200;
            limits.maxAttributes = 4;
            break;
        default:
            limits.maxStanzaBytes = 4096;
            limits.maxDepth = 3;
            break;
    }
    return limits;
}

/// Parses `xml` (one serialized element) inside a stream header declaring `defaultNs` and the
/// stream prefix, with limits roomy enough for the escaping to have grown it.
std::vector<Element> reparse(const std::string& xml, std::string_view defaultNs,
                             const StreamLimits& original);

/// Records what a parser reports and checks the round trip of each element.
struct Recorder : StreamHandler {
    StreamParser* parser = nullptr;
    bool restartOnStarttls = false;
    bool raiseLimits = false;
    bool checkRoundTrip = true;
    std::string defaultNs;
    std::vector<std::string> events;  // a flat log, compared between the two ways of feeding

    void onStreamStart(StreamHeader&& header) override {
        defaultNs = header.defaultNs;
        std::string ev = "start {" + header.ns + "}" + header.name + " xmlns=" + header.defaultNs;
        for (const auto& a : header.attributes) {
            ev += " {" + std::string(a.ns.str()) + "}" + a.name + "=" + a.value;
        }
        events.push_back(std::move(ev));
    }

    void onElement(Element&& element) override {
        const corvid::xml::SerializeScope scope{defaultNs, true};
        const std::string xml = corvid::xml::toString(element, scope);
        if (checkRoundTrip) {
            const std::vector<Element> back = reparse(xml, defaultNs, parser->limits());
            if (back.size() != 1 || !(back[0] == element)) {
                fail("parse(serialize(e)) != e",
                     "serialized: " + xml + "\nreparsed elements: " + std::to_string(back.size()) +
                         (back.size() == 1
                              ? "\nreparsed as: " + corvid::xml::toString(back[0], scope)
                              : std::string()));
            }
        }
        const bool restart = restartOnStarttls && element.name() == "starttls";
        events.push_back("element " + xml);
        if (raiseLimits) {
            raiseLimits = false;
            StreamLimits bigger = parser->limits();
            bigger.maxStanzaBytes *= 4;
            parser->setLimits(bigger);
        }
        if (restart) {
            // Bytes after a restart go to a fresh parser when they come in a later chunk and are
            // dropped when they share the chunk, so the two ways of feeding differ from here on.
            events.emplace_back("restart");
            parser->restart();
        }
    }

    void onStreamEnd() override { events.emplace_back("end"); }

    void onParseError(const ParseError& error) override {
        events.push_back("error " + std::to_string(static_cast<int>(error.kind)));
    }
};

/// Collects the elements of a re-parse; any error means the serializer wrote something the parser
/// does not read back.
struct Plain : StreamHandler {
    std::vector<Element> elements;
    std::string error;
    void onStreamStart(StreamHeader&&) override {}
    void onElement(Element&& e) override { elements.push_back(std::move(e)); }
    void onStreamEnd() override {}
    void onParseError(const ParseError& e) override { error = e.detail; }
};

std::vector<Element> reparse(const std::string& xml, std::string_view defaultNs,
                             const StreamLimits& original) {
    std::string doc = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'";
    if (!defaultNs.empty()) {
        doc += " xmlns='";
        corvid::xml::escapeAttr(defaultNs, doc);
        doc += "'";
    }
    doc += ">";
    doc += xml;
    StreamLimits roomy = original;
    roomy.maxStanzaBytes = xml.size() + 1024;
    Plain plain;
    StreamParser p(plain, roomy);
    if (!p.feed(doc)) {
        fail("the serializer's output does not parse",
             "serialized: " + xml + "\nerror: " + plain.error);
    }
    return std::move(plain.elements);
}

std::vector<std::string> run(std::uint8_t options, std::string_view stream,
                             const std::uint8_t* sizes, bool oneChunk, bool checkRoundTrip) {
    Recorder rec;
    rec.restartOnStarttls = (options & 4U) != 0;
    rec.raiseLimits = (options & 8U) != 0;
    rec.checkRoundTrip = checkRoundTrip;
    StreamParser parser(rec, limitsFor(options));
    rec.parser = &parser;
    std::size_t turn = 0;
    while (!stream.empty()) {
        std::size_t n = stream.size();
        if (!oneChunk && sizes[turn % 3] != 0) {
            n = std::min<std::size_t>(sizes[turn % 3], stream.size());
        }
        ++turn;
        const bool ok = parser.feed(stream.substr(0, n));
        stream.remove_prefix(n);
        if (!oneChunk && (options & 16U) != 0) {
            parser.releaseIdle();
        }
        if (parser.pendingBytes() > parser.limits().maxStanzaBytes) {
            fail("pending bytes over the limit", std::to_string(parser.pendingBytes()));
        }
        if (!ok) {
            break;
        }
    }
    return std::move(rec.events);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 4) {
        return 0;
    }
    const std::uint8_t options = data[0];
    const std::string_view stream(reinterpret_cast<const char*>(data + 4), size - 4);

    std::vector<std::string> chunked = run(options, stream, data + 1, false, true);
    std::vector<std::string> whole = run(options, stream, data + 1, true, false);
    for (auto* events : {&chunked, &whole}) {
        const auto restart = std::find(events->begin(), events->end(), "restart");
        events->erase(restart, events->end());
    }
    if (chunked != whole) {
        std::string detail;
        for (std::size_t i = 0; i < std::max(chunked.size(), whole.size()); ++i) {
            detail += "  chunked: " + (i < chunked.size() ? chunked[i] : std::string("-")) + "\n";
            detail += "  whole:   " + (i < whole.size() ? whole[i] : std::string("-")) + "\n";
        }
        fail("feeding in chunks changed the events", detail);
    }
    return 0;
}
