#include "xml_reader.h"

namespace corvid::bench {

std::string_view XmlNode::localName() const {
    std::string_view n = name;
    auto colon = n.find(':');
    return colon == std::string_view::npos ? n : n.substr(colon + 1);
}

std::string_view XmlNode::attr(std::string_view key) const {
    for (const auto& [k, v] : attrs) {
        if (k == key) {
            return v;
        }
    }
    return {};
}

const XmlNode* XmlNode::child(std::string_view local) const {
    for (const auto& c : children) {
        if (c.localName() == local) {
            return &c;
        }
    }
    return nullptr;
}

XmlReader::XmlReader(XmlReaderListener& listener)
    : listener_(listener), parser_(XML_ParserCreate("UTF-8")) {
    install();
}

void XmlReader::install() {
    XML_SetUserData(parser_.get(), this);
    XML_SetElementHandler(parser_.get(), &XmlReader::onStart, &XmlReader::onEnd);
    XML_SetCharacterDataHandler(parser_.get(), &XmlReader::onText);
}

void XmlReader::reset() {
    XML_ParserReset(parser_.get(), "UTF-8");
    install();
    open_.clear();
    current_ = XmlNode{};
    depth_ = 0;
    stopped_ = false;
}

void XmlReader::stop() {
    stopped_ = true;
    XML_StopParser(parser_.get(), XML_FALSE);
}

XmlReader::FeedResult XmlReader::feed(const char* data, size_t len) {
    if (stopped_) {
        return FeedResult::Stopped;
    }
    if (XML_Parse(parser_.get(), data, static_cast<int>(len), XML_FALSE) == XML_STATUS_OK) {
        return FeedResult::Ok;
    }
    return stopped_ ? FeedResult::Stopped : FeedResult::Error;
}

std::string XmlReader::errorText() const {
    return XML_ErrorString(XML_GetErrorCode(parser_.get()));
}

void XmlReader::onStart(void* self, const char* name, const char** attrs) {
    auto& r = *static_cast<XmlReader*>(self);
    ++r.depth_;
    XmlNode node;
    node.name = name;
    for (const char** a = attrs; *a != nullptr; a += 2) {
        node.attrs.emplace_back(a[0], a[1]);
    }
    if (r.depth_ == 1) {
        r.listener_.onStreamOpen(node);
        return;
    }
    if (r.depth_ == 2) {
        r.current_ = std::move(node);
        r.open_.assign(1, &r.current_);
        return;
    }
    XmlNode& parent = *r.open_.back();
    parent.children.push_back(std::move(node));
    r.open_.push_back(&parent.children.back());
}

void XmlReader::onEnd(void* self, const char* /*name*/) {
    auto& r = *static_cast<XmlReader*>(self);
    int depth = r.depth_--;
    if (depth == 1) {
        r.listener_.onStreamClose();
        return;
    }
    r.open_.pop_back();
    if (depth == 2) {
        r.listener_.onElement(std::move(r.current_));
        r.current_ = XmlNode{};
    }
}

void XmlReader::onText(void* self, const char* text, int len) {
    auto& r = *static_cast<XmlReader*>(self);
    if (r.depth_ >= 2 && !r.open_.empty()) {
        r.open_.back()->text.append(text, static_cast<size_t>(len));
    }
}

}  // namespace corvid::bench
