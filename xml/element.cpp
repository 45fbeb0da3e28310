#include "xml/element.h"

#include <algorithm>

namespace corvid::xml {

const std::string* Element::findAttr(std::string_view name, std::string_view ns) const {
    for (const auto& a : attrs_) {
        if (a.name == name && a.ns == ns) {
            return &a.value;
        }
    }
    return nullptr;
}

std::string_view Element::attr(std::string_view name, std::string_view ns) const {
    const std::string* v = findAttr(name, ns);
    return v ? std::string_view(*v) : std::string_view();
}

Element& Element::setAttr(std::string_view name, std::string value, std::string_view ns) {
    for (auto& a : attrs_) {
        if (a.name == name && a.ns == ns) {
            a.value = std::move(value);
            return *this;
        }
    }
    attrs_.push_back(Attribute{std::string(name), std::move(value), Ns(ns)});
    return *this;
}

void Element::removeAttr(std::string_view name, std::string_view ns) {
    std::erase_if(attrs_, [&](const Attribute& a) { return a.name == name && a.ns == ns; });
}

Element& Element::addChild(Element child) {
    children_.emplace_back(std::move(child));
    return std::get<Element>(children_.back());
}

Element& Element::addChild(std::string name, std::string_view ns) {
    return addChild(Element(std::move(name), ns.empty() ? ns_ : Ns(ns)));
}

Element& Element::addText(std::string_view text) {
    if (text.empty()) {
        return *this;
    }
    if (!children_.empty()) {
        if (auto* s = std::get_if<std::string>(&children_.back())) {
            s->append(text);
            return *this;
        }
    }
    children_.emplace_back(std::string(text));
    return *this;
}

Element& Element::addTextChild(std::string name, std::string_view text, std::string_view ns) {
    Element& child = addChild(std::move(name), ns);
    child.addText(text);
    return child;
}

const Element* Element::findChild(std::string_view name, std::string_view ns) const {
    if (ns.empty()) {
        ns = ns_.str();
    }
    for (const auto& n : children_) {
        if (const auto* e = std::get_if<Element>(&n); e && e->name_ == name && e->ns_ == ns) {
            return e;
        }
    }
    return nullptr;
}

Element* Element::findChild(std::string_view name, std::string_view ns) {
    return const_cast<Element*>(std::as_const(*this).findChild(name, ns));
}

const Element* Element::findChildNs(std::string_view ns) const {
    for (const auto& n : children_) {
        if (const auto* e = std::get_if<Element>(&n); e && e->ns_ == ns) {
            return e;
        }
    }
    return nullptr;
}

std::vector<const Element*> Element::childElements() const {
    std::vector<const Element*> out;
    for (const auto& n : children_) {
        if (const auto* e = std::get_if<Element>(&n)) {
            out.push_back(e);
        }
    }
    return out;
}

const Element* Element::firstChildElement() const {
    for (const auto& n : children_) {
        if (const auto* e = std::get_if<Element>(&n)) {
            return e;
        }
    }
    return nullptr;
}

std::size_t Element::removeChildren(std::string_view name, std::string_view ns) {
    return std::erase_if(children_, [&](const Node& n) {
        const auto* e = std::get_if<Element>(&n);
        return e && e->name_ == name && e->ns_ == ns;
    });
}

std::string Element::text() const {
    std::string out;
    for (const auto& n : children_) {
        if (const auto* s = std::get_if<std::string>(&n)) {
            out += *s;
        }
    }
    return out;
}

std::string Element::childText(std::string_view name, std::string_view ns) const {
    const Element* c = findChild(name, ns);
    return c ? c->text() : std::string();
}

}  // namespace corvid::xml
