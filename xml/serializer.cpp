#include "xml/serializer.h"

namespace corvid::xml {

void escapeText(std::string_view text, std::string& out) {
    std::size_t start = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char* rep = nullptr;
        switch (text[i]) {
            case '&':
                rep = "&amp;";
                break;
            case '<':
                rep = "&lt;";
                break;
            case '>':
                rep = "&gt;";
                break;
            case '\r':
                rep = "&#13;";
                break;  // would be normalised to LF by a parser
            default:
                // Other C0 controls are not XML 1.0 characters at all: never written.
                if (static_cast<unsigned char>(text[i]) < 0x20 && text[i] != '\t' &&
                    text[i] != '\n') {
                    rep = "";
                    break;
                }
                continue;
        }
        out.append(text, start, i - start);
        out.append(rep);
        start = i + 1;
    }
    out.append(text, start, std::string_view::npos);
}

void escapeAttr(std::string_view value, std::string& out) {
    std::size_t start = 0;
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char* rep = nullptr;
        switch (value[i]) {
            case '&':
                rep = "&amp;";
                break;
            case '<':
                rep = "&lt;";
                break;
            case '>':
                rep = "&gt;";
                break;
            case '\'':
                rep = "&apos;";
                break;
            case '"':
                rep = "&quot;";
                break;
            // Attribute-value normalisation turns literal whitespace into spaces.
            case '\t':
                rep = "&#9;";
                break;
            case '\n':
                rep = "&#10;";
                break;
            case '\r':
                rep = "&#13;";
                break;
            default:
                if (static_cast<unsigned char>(value[i]) < 0x20) {
                    rep = "";  // not an XML 1.0 character: never written
                    break;
                }
                continue;
        }
        out.append(value, start, i - start);
        out.append(rep);
        start = i + 1;
    }
    out.append(value, start, std::string_view::npos);
}

namespace {

void writeElement(const Element& e, std::string& out, std::string_view defaultNs,
                  bool streamPrefix) {
    // Elements of the stream namespace use the prefix the stream header declared; they do not
    // change the default namespace their children see.
    const bool prefixed = streamPrefix && e.ns() == kStreamNs;
    out.push_back('<');
    if (prefixed) {
        out.append("stream:");
    }
    out.append(e.name());
    std::string_view childNs = defaultNs;
    if (!prefixed && e.ns() != defaultNs) {
        out.append(" xmlns='");
        escapeAttr(e.ns(), out);
        out.push_back('\'');
        childNs = e.ns();
    }
    int extraPrefix = 0;
    for (const auto& a : e.attributes()) {
        out.push_back(' ');
        if (a.ns == kXmlNs) {
            out.append("xml:");
        } else if (!a.ns.empty()) {
            // Rare in XMPP: declare a private prefix for this attribute's namespace.
            // (Appending, not "a" + to_string(): g++ 12 -O3 warns falsely on the latter.)
            std::string prefix("a");
            prefix += std::to_string(extraPrefix++);
            out.append("xmlns:").append(prefix).append("='");
            escapeAttr(a.ns, out);
            out.append("' ").append(prefix).push_back(':');
        }
        out.append(a.name);
        out.append("='");
        escapeAttr(a.value, out);
        out.push_back('\'');
    }
    if (e.children().empty()) {
        out.append("/>");
        return;
    }
    out.push_back('>');
    for (const auto& child : e.children()) {
        if (const auto* text = std::get_if<std::string>(&child)) {
            escapeText(*text, out);
        } else {
            writeElement(std::get<Element>(child), out, childNs, streamPrefix);
        }
    }
    out.append("</");
    if (prefixed) {
        out.append("stream:");
    }
    out.append(e.name());
    out.push_back('>');
}

}  // namespace

void serialize(const Element& e, std::string& out, SerializeScope scope) {
    writeElement(e, out, scope.defaultNs, scope.streamPrefix);
}

std::string toString(const Element& e, SerializeScope scope) {
    std::string out;
    serialize(e, out, scope);
    return out;
}

}  // namespace corvid::xml
