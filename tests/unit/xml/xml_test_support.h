#pragma once

#include <vector>

#include "xml/stream_parser.h"

namespace corvid::xml::test {

/// A StreamHandler that records every event.
struct Collector : StreamHandler {
    std::vector<StreamHeader> headers;
    std::vector<Element> elements;
    std::vector<ParseError> errors;
    bool ended = false;

    void onStreamStart(StreamHeader&& h) override { headers.push_back(std::move(h)); }
    void onElement(Element&& e) override { elements.push_back(std::move(e)); }
    void onStreamEnd() override { ended = true; }
    void onParseError(const ParseError& e) override { errors.push_back(e); }
};

}  // namespace corvid::xml::test
