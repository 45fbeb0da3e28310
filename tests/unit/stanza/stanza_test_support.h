#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "xml/element.h"
#include "xml/stream_parser.h"

namespace corvid::stanza::test {

/// Parses one stanza written as XML inside a stream whose default namespace is `ns`.
inline xml::Element parseStanza(std::string_view text, std::string_view ns = "jabber:client") {
    struct One : xml::StreamHandler {
        std::vector<xml::Element> elements;
        bool failed = false;
        void onStreamStart(xml::StreamHeader&&) override {}
        void onElement(xml::Element&& e) override { elements.push_back(std::move(e)); }
        void onStreamEnd() override {}
        void onParseError(const xml::ParseError&) override { failed = true; }
    } handler;
    xml::StreamParser parser(handler);
    std::string doc = "<stream:stream xmlns='" + std::string(ns) +
                      "' xmlns:stream='http://etherx.jabber.org/streams'>" + std::string(text);
    REQUIRE(parser.feed(doc));
    REQUIRE_FALSE(handler.failed);
    REQUIRE(handler.elements.size() == 1);
    return std::move(handler.elements.front());
}

}  // namespace corvid::stanza::test
