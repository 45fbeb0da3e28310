#include "modules/mam/archive_query.h"

#include <catch2/catch.hpp>

#include "modules/mam/archive_rules.h"
#include "stanza/ns.h"

using namespace corvid;
using namespace corvid::modules::mam;
using stanza::StanzaCondition;

namespace {

xml::Element queryWith(std::vector<std::pair<std::string, std::string>> fields,
                       std::string_view max = {}, std::string_view after = {},
                       std::optional<std::string> before = std::nullopt) {
    xml::Element q("query", std::string(stanza::ns::kMam));
    q.setAttr("queryid", "f27");
    xml::Element& x = q.addChild("x", stanza::ns::kDataForms);
    x.setAttr("type", "submit");
    for (auto& [var, value] : fields) {
        xml::Element& f = x.addChild("field");
        f.setAttr("var", var);
        f.addTextChild("value", value);
    }
    if (!max.empty() || !after.empty() || before) {
        xml::Element& set = q.addChild("set", stanza::ns::kRsm);
        if (!max.empty()) {
            set.addTextChild("max", max);
        }
        if (!after.empty()) {
            set.addTextChild("after", after);
        }
        if (before) {
            set.addTextChild("before", *before);
        }
    }
    return q;
}

}  // namespace

TEST_CASE("mam: XEP-0082 date-times", "[modules]") {
    CHECK(parseDateTime("1970-01-01T00:00:00Z") == 0);
    CHECK(parseDateTime("1970-01-01T00:00:01.5Z") == 1'500'000);
    CHECK(parseDateTime("2010-06-07T00:00:00Z") == 1275868800LL * 1'000'000);
    CHECK(parseDateTime("2010-06-07T02:00:00+02:00") == 1275868800LL * 1'000'000);
    CHECK(parseDateTime("2010-06-06T19:30:00-04:30") == 1275868800LL * 1'000'000);
    for (const char* bad :
         {"", "2010-06-07", "2010-06-07T00:00:00", "2010-13-07T00:00:00Z", "2010-02-30T00:00:00Z",
          "2010-06-07T00:00:00.Z", "2010-06-07T00:00:00+0200", "2010-06-07 00:00:00Z"}) {
        INFO(bad);
        CHECK_FALSE(parseDateTime(bad));
    }
    CHECK(formatDateTime(1'500'000) == "1970-01-01T00:00:01.500000Z");
    CHECK(parseDateTime(formatDateTime(1796664792959347)) == 1796664792959347);
}

TEST_CASE("mam: ids", "[modules]") {
    CHECK(parseId(formatId(1796664792959347)) == 1796664792959347);
    for (const char* bad : {"", "0", "-5", "+5", "12a", "99999999999999999999", " 1"}) {
        INFO(bad);
        CHECK_FALSE(parseId(bad));
    }
}

TEST_CASE("mam: a query folds time, ids and RSM into one range", "[modules]") {
    auto q = parseQuery(queryWith({{"FORM_TYPE", "urn:xmpp:mam:2"},
                                   {"with", "Juliet@Capulet.lit/Balcony"},
                                   {"start", "1970-01-01T00:00:01Z"},
                                   {"end", "1970-01-01T00:00:09Z"},
                                   {"after-id", "2000000"}},
                                  "500", "3000000"),
                        100, true);
    REQUIRE(q);
    const auto& r = q->request;
    CHECK(q->queryId == "f27");
    CHECK(r.max == 100);  // lowered to the server's page
    CHECK(r.filter.withJid == "juliet@capulet.lit");
    CHECK(r.filter.withResource == "Balcony");
    CHECK(r.filter.minId == 3000001);
    CHECK(r.filter.maxId == 9000000);
    CHECK_FALSE(r.fromEnd);
    CHECK(r.mustExist == std::vector<std::int64_t>{2000000, 3000000});

    auto last = parseQuery(queryWith({}, "10", {}, std::string()), 100, true);
    REQUIRE(last);
    CHECK(last->request.fromEnd);
    CHECK(last->request.mustExist.empty());
    CHECK(last->request.max == 10);
}

TEST_CASE("mam: refused queries say why", "[modules]") {
    struct Case {
        xml::Element query;
        StanzaCondition condition;
    };
    xml::Element index = queryWith({});
    index.addChild("set", stanza::ns::kRsm).addTextChild("index", "3");
    const std::vector<Case> cases = {
        {queryWith({{"FORM_TYPE", "urn:xmpp:mam:1"}}), StanzaCondition::BadRequest},
        {queryWith({{"start", "soon"}}), StanzaCondition::BadRequest},
        {queryWith({{"with", "a@@b"}}), StanzaCondition::JidMalformed},
        {queryWith({{"after-id", "x"}}), StanzaCondition::ItemNotFound},
        {queryWith({{"include-groupchat", "true"}}), StanzaCondition::FeatureNotImplemented},
        {queryWith({{"{urn:xmpp:fulltext:0}fulltext", "x"}}),  // not offered
         StanzaCondition::FeatureNotImplemented},
        {queryWith({}, "many"), StanzaCondition::BadRequest},
        {queryWith({}, {}, "zz"), StanzaCondition::ItemNotFound},
        {std::move(index), StanzaCondition::FeatureNotImplemented},
    };
    for (const Case& c : cases) {
        auto q = parseQuery(c.query, 100, false);
        REQUIRE_FALSE(q);
        CHECK(q.error().condition == c.condition);
        CHECK_FALSE(q.error().text.empty());
    }
}

TEST_CASE("mam: what a user archive keeps", "[modules]") {
    auto message = [](std::string_view type, std::vector<xml::Element> children) {
        xml::Element m("message", std::string(stanza::ns::kClient));
        if (!type.empty()) {
            m.setAttr("type", std::string(type));
        }
        for (auto& c : children) {
            m.addChild(std::move(c));
        }
        return m;
    };
    auto body = [] { return xml::Element("body", std::string(stanza::ns::kClient)); };
    auto hint = [](const char* name) {
        return xml::Element(name, std::string(stanza::ns::kHints));
    };
    CHECK(archivable(message("chat", {body()})));
    CHECK(archivable(message("", {body()})));
    CHECK_FALSE(archivable(message("groupchat", {body()})));
    CHECK_FALSE(archivable(message("error", {body()})));
    CHECK_FALSE(archivable(message("headline", {body()})));
    CHECK_FALSE(archivable(message("chat", {body(), hint("no-store")})));
    CHECK(archivable(message("chat", {body(), hint("no-store"), hint("store")})));
    CHECK_FALSE(archivable(
        message("chat", {xml::Element("active", std::string(stanza::ns::kChatStates))})));
    CHECK(
        archivable(message("chat", {xml::Element("encrypted", "eu.siacs.conversations.axolotl")})));
    CHECK(archivable(
        message("chat", {xml::Element("received", std::string(stanza::ns::kReceipts))})));
    CHECK_FALSE(
        archivable(message("chat", {xml::Element("request", std::string(stanza::ns::kReceipts))})));
    CHECK_FALSE(archivable(
        message("chat", {xml::Element("received", std::string(stanza::ns::kCarbons)), body()})));
}

TEST_CASE("mam: stanza-ids by the archive are stripped, others kept", "[modules]") {
    xml::Element m("message", std::string(stanza::ns::kClient));
    stampStanzaId(m, "Juliet@Capulet.lit", "1");
    stampStanzaId(m, "juliet@capulet.lit", "2");
    stampStanzaId(m, "room@chat.lit", "3");
    stampStanzaId(m, "not a jid@@", "4");
    CHECK(stripStanzaIds(m, "juliet@capulet.lit"));
    REQUIRE(m.childElements().size() == 1);
    CHECK(m.childElements().front()->attr("id") == "3");
    CHECK_FALSE(stripStanzaIds(m, "juliet@capulet.lit"));
}
