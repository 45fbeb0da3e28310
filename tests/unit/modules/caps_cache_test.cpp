#include "modules/caps_cache.h"

#include <catch2/catch.hpp>

#include "router/router.h"
#include "stanza/ns.h"

using namespace corvid;
using stanza::Jid;

namespace {

xml::Element identity(std::string_view category, std::string_view type, std::string_view name,
                      std::string_view lang = {}) {
    xml::Element e("identity", std::string(stanza::ns::kDiscoInfo));
    e.setAttr("category", std::string(category));
    e.setAttr("type", std::string(type));
    e.setAttr("name", std::string(name));
    if (!lang.empty()) {
        e.setAttr("lang", std::string(lang), xml::kXmlNs);
    }
    return e;
}

xml::Element feature(std::string_view var) {
    xml::Element e("feature", std::string(stanza::ns::kDiscoInfo));
    e.setAttr("var", std::string(var));
    return e;
}

xml::Element field(std::string_view var, std::vector<std::string> values,
                   std::string_view type = {}) {
    xml::Element f("field", std::string(stanza::ns::kDataForms));
    f.setAttr("var", std::string(var));
    if (!type.empty()) {
        f.setAttr("type", std::string(type));
    }
    for (const auto& v : values) {
        f.addTextChild("value", v);
    }
    return f;
}

xml::Element query() {
    return xml::Element("query", std::string(stanza::ns::kDiscoInfo));
}

}  // namespace

TEST_CASE("caps ver: XEP-0115 §5.2 simple example", "[modules][caps]") {
    xml::Element q = query();
    q.addChild(identity("client", "pc", "Exodus 0.9.1"));
    for (auto f :
         {"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
          "http://jabber.org/protocol/muc", "http://jabber.org/protocol/caps"}) {
        q.addChild(feature(f));
    }
    CHECK(modules::capsVerOfInfo(q) == "QgayPKawpkPSDYmwT/WM94uAlu0=");
}

TEST_CASE("caps ver: XEP-0115 §5.3 complex example with an extended form", "[modules][caps]") {
    xml::Element q = query();
    q.addChild(identity("client", "pc", "Psi 0.11", "en"));
    q.addChild(identity("client", "pc", "Ψ 0.11", "el"));
    for (auto f :
         {"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
          "http://jabber.org/protocol/muc", "http://jabber.org/protocol/caps"}) {
        q.addChild(feature(f));
    }
    xml::Element x("x", std::string(stanza::ns::kDataForms));
    x.setAttr("type", "result");
    x.addChild(field("FORM_TYPE", {"urn:xmpp:dataforms:softwareinfo"}, "hidden"));
    x.addChild(field("ip_version", {"ipv4", "ipv6"}));
    x.addChild(field("os", {"Mac"}));
    x.addChild(field("os_version", {"10.5.1"}));
    x.addChild(field("software", {"Psi"}));
    x.addChild(field("software_version", {"0.11"}));
    q.addChild(std::move(x));
    CHECK(modules::capsVerOfInfo(q) == "q07IKJEyjvHSyhy//CH0CxmKi8w=");

    // §5.4: duplicates make the answer unusable.
    xml::Element dup = q;
    dup.addChild(feature("http://jabber.org/protocol/muc"));
    CHECK(!modules::capsVerOfInfo(dup));
}

TEST_CASE("caps of a presence", "[modules][caps]") {
    xml::Element p("presence", std::string(stanza::ns::kClient));
    CHECK(!modules::capsOf(p));
    xml::Element& c = p.addChild("c", stanza::ns::kCaps);
    c.setAttr("hash", "sha-1");
    c.setAttr("node", "https://gajim.org");
    CHECK(!modules::capsOf(p));  // no ver
    c.setAttr("ver", "abc=");
    auto caps = modules::capsOf(p);
    REQUIRE(caps);
    CHECK(caps->node == "https://gajim.org");
    CHECK(caps->ver == "abc=");
}

namespace {

struct FakeSession final : router::LocalSession {
    explicit FakeSession(std::string_view j) : jid_(*Jid::parse(j)) {}
    router::SessionId id() const override { return 7; }
    const Jid& jid() const override { return jid_; }
    const std::string& peerAddress() const override { return address_; }
    void deliver(const xml::Element& stanza) override { received.push_back(stanza); }
    void terminate(stanza::StreamCondition, std::string_view) override {}
    Jid jid_;
    std::string address_ = "127.0.0.1";
    std::vector<xml::Element> received;
};

xml::Element exodus() {
    xml::Element q = query();
    q.addChild(identity("client", "pc", "Exodus 0.9.1"));
    for (auto f :
         {"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
          "http://jabber.org/protocol/muc", "http://jabber.org/protocol/caps"}) {
        q.addChild(feature(f));
    }
    return q;
}

/// The client's answer to the server's query.
void answer(router::Router& router, const xml::Element& request, xml::Element q) {
    xml::Element result("iq", std::string(stanza::ns::kClient));
    result.setAttr("type", "result");
    result.setAttr("id", std::string(request.attr("id")));
    result.setAttr("from", std::string(request.attr("to")));
    result.setAttr("to", std::string(request.attr("from")));
    result.addChild(std::move(q));
    router.route(std::move(result));
}

}  // namespace

TEST_CASE("caps cache: one query per ver, verified answers only", "[modules][caps]") {
    router::Router router;
    router.addLocalDomain("example.org");
    FakeSession session("a@example.org/r");
    router.sessions().add(session);
    modules::CapsCache cache(router, 2);
    const Jid server = *Jid::parse("example.org");

    // Unknown hashes are never queried; legacy caps name no verifiable set.
    bool called = false;
    cache.resolve({"md5", "n", "v"}, session.jid(), server, [&](modules::CapsCache::Features f) {
        called = true;
        CHECK(!f);
    });
    CHECK(called);
    CHECK(session.received.empty());

    const std::string ver = "QgayPKawpkPSDYmwT/WM94uAlu0=";
    std::vector<modules::CapsCache::Features> got;
    for (int i = 0; i < 2; ++i) {
        cache.resolve({"sha-1", "http://exodus", ver}, session.jid(), server,
                      [&](modules::CapsCache::Features f) { got.push_back(f); });
    }
    REQUIRE(session.received.size() == 1);  // §6.1: one query for both
    const xml::Element request = session.received[0];
    CHECK(request.findChild("query", stanza::ns::kDiscoInfo)->attr("node") ==
          "http://exodus#" + ver);
    CHECK(got.empty());

    // An answer that does not hash to the ver is not cached (§5.4 step 3.5).
    xml::Element wrong = exodus();
    wrong.addChild(feature("urn:xmpp:avatar:metadata+notify"));
    answer(router, request, wrong);
    REQUIRE(got.size() == 2);
    CHECK(!got[0]);
    CHECK(!got[1]);
    CHECK(cache.size() == 0);

    // Asked again, answered right: cached, and known without a query afterwards.
    got.clear();
    cache.resolve({"sha-1", "http://exodus", ver}, session.jid(), server,
                  [&](modules::CapsCache::Features f) { got.push_back(f); });
    REQUIRE(session.received.size() == 2);
    answer(router, session.received[1], exodus());
    REQUIRE(got.size() == 1);
    REQUIRE(got[0]);
    CHECK(got[0]->contains("http://jabber.org/protocol/muc"));
    CHECK(cache.size() == 1);
    CHECK(cache.find(ver) != nullptr);
    cache.resolve({"sha-1", "http://exodus", ver}, session.jid(), server,
                  [&](modules::CapsCache::Features f) { got.push_back(f); });
    CHECK(got.size() == 2);
    CHECK(session.received.size() == 2);

    router.sessions().remove(session);
}

TEST_CASE("caps cache: at most `capacity` vers, the least recently used go", "[modules][caps]") {
    router::Router router;
    router.addLocalDomain("example.org");
    FakeSession session("a@example.org/r");
    router.sessions().add(session);
    modules::CapsCache cache(router, 2);
    const Jid server = *Jid::parse("example.org");

    std::vector<std::string> vers;
    for (int i = 0; i < 3; ++i) {
        xml::Element q = exodus();
        q.addChild(feature("urn:test:" + std::to_string(i)));
        const std::string ver = *modules::capsVerOfInfo(q);
        vers.push_back(ver);
        bool known = false;
        cache.resolve({"sha-1", "http://exodus", ver}, session.jid(), server,
                      [&](modules::CapsCache::Features f) { known = f != nullptr; });
        answer(router, session.received.back(), q);
        CHECK(known);
        if (i == 1) {
            CHECK(cache.find(vers[0]) != nullptr);  // 0 becomes the most recently used
        }
    }
    CHECK(cache.size() == 2);
    CHECK(cache.find(vers[0]) != nullptr);
    CHECK(cache.find(vers[1]) == nullptr);  // evicted: least recently used
    CHECK(cache.find(vers[2]) != nullptr);
    router.sessions().remove(session);
}
