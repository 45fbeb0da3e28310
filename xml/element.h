#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace corvid::xml {

/// The XML namespace bound to the `xml:` prefix (xml:lang).
inline constexpr std::string_view kXmlNs = "http://www.w3.org/XML/1998/namespace";

/// A namespace name, shared between the elements and attributes that use it: a parsed tree holds
/// one copy of each namespace, however many elements inherit it (otherwise a long namespace
/// inherited by many small children would multiply memory far beyond the stanza size limit).
/// Compares by content.
class Ns {
  public:
    Ns() = default;
    Ns(std::string_view s)  // NOLINT(google-explicit-constructor): a namespace is a string
        : p_(s.empty() ? nullptr : std::make_shared<const std::string>(s)) {}
    Ns(const std::string& s) : Ns(std::string_view(s)) {}  // NOLINT
    Ns(const char* s) : Ns(std::string_view(s)) {}         // NOLINT

    const std::string& str() const { return p_ ? *p_ : empty_(); }
    operator std::string_view() const { return str(); }  // NOLINT
    bool empty() const { return !p_; }
    std::size_t size() const { return str().size(); }

    friend bool operator==(const Ns& a, const Ns& b) { return a.p_ == b.p_ || a.str() == b.str(); }
    friend bool operator==(const Ns& a, std::string_view b) { return a.str() == b; }

  private:
    static const std::string& empty_() {
        static const std::string kEmpty;
        return kEmpty;
    }
    std::shared_ptr<const std::string> p_;
};

/// One attribute. `ns` is empty for the usual unqualified attributes; `xml:lang` has ns == kXmlNs
/// and name == "lang".
struct Attribute {
    std::string name;
    std::string value;
    Ns ns;

    bool operator==(const Attribute&) const = default;
};

class Element;

/// A child of an element: either an element or a run of character data.
using Node = std::variant<Element, std::string>;

/// A namespace-aware XML element tree. Plain data: parsing and serialising live in
/// StreamParser and serializer.h. Names and text are stored decoded (no entities).
class Element {
  public:
    Element() = default;
    Element(std::string name, Ns ns) : name_(std::move(name)), ns_(std::move(ns)) {}

    const std::string& name() const { return name_; }
    const std::string& ns() const { return ns_.str(); }
    /// The namespace as a shareable handle (copying it copies no string).
    const Ns& nsHandle() const { return ns_; }
    void setName(std::string name) { name_ = std::move(name); }
    void setNs(Ns ns) { ns_ = std::move(ns); }
    bool is(std::string_view name, std::string_view ns) const { return name_ == name && ns_ == ns; }

    // --- attributes (unqualified unless a namespace is given) ---
    const std::vector<Attribute>& attributes() const { return attrs_; }
    std::vector<Attribute>& attributes() { return attrs_; }
    /// The attribute's value, or nullptr when absent.
    const std::string* findAttr(std::string_view name, std::string_view ns = {}) const;
    /// The attribute's value, or "" when absent.
    std::string_view attr(std::string_view name, std::string_view ns = {}) const;
    bool hasAttr(std::string_view name, std::string_view ns = {}) const {
        return findAttr(name, ns) != nullptr;
    }
    /// Sets (replacing) an attribute; returns *this for chaining.
    Element& setAttr(std::string_view name, std::string value, std::string_view ns = {});
    void removeAttr(std::string_view name, std::string_view ns = {});

    // --- children ---
    const std::vector<Node>& children() const { return children_; }
    std::vector<Node>& children() { return children_; }
    /// Appends a child element and returns a reference to it (valid until the next append).
    Element& addChild(Element child);
    /// Appends `Element(name, ns)`; `ns` empty means "same namespace as this element".
    Element& addChild(std::string name, std::string_view ns = {});
    /// Appends character data (merged with a preceding text node).
    Element& addText(std::string_view text);
    /// Appends a child element `<name>text</name>` in this element's namespace unless ns is given.
    Element& addTextChild(std::string name, std::string_view text, std::string_view ns = {});

    /// The first child element with this name and namespace (ns empty: this element's ns).
    const Element* findChild(std::string_view name, std::string_view ns = {}) const;
    Element* findChild(std::string_view name, std::string_view ns = {});
    /// The first child element in namespace ns, whatever its name.
    const Element* findChildNs(std::string_view ns) const;
    /// All child elements (skipping text), in order.
    std::vector<const Element*> childElements() const;
    /// The first child element, or nullptr.
    const Element* firstChildElement() const;
    /// Removes every child element with this name and namespace; returns how many.
    std::size_t removeChildren(std::string_view name, std::string_view ns);

    /// Concatenation of the direct text children.
    std::string text() const;
    /// Text of the first child `<name/>` (ns empty: this element's ns), "" if absent.
    std::string childText(std::string_view name, std::string_view ns = {}) const;

    bool operator==(const Element&) const = default;

  private:
    std::string name_;
    Ns ns_;
    std::vector<Attribute> attrs_;
    std::vector<Node> children_;
};

}  // namespace corvid::xml
