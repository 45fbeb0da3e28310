#include "modules/mam/archive_query.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "stanza/ns.h"

namespace corvid::modules::mam {

using stanza::StanzaCondition;
namespace ns = stanza::ns;

namespace {

constexpr std::string_view kFulltextField = "{urn:xmpp:fulltext:0}fulltext";  // XEP-0431 §3
constexpr std::string_view kXdataValidate = "http://jabber.org/protocol/xdata-validate";

std::unexpected<QueryError> refuse(StanzaCondition condition, std::string text) {
    return std::unexpected(QueryError{condition, std::move(text)});
}

bool digits(std::string_view s, std::size_t n) {
    if (s.size() < n) {
        return false;
    }
    for (std::size_t i = 0; i < n; ++i) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

int number(std::string_view s, std::size_t pos, std::size_t n) {
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

std::vector<std::string> fieldValues(const xml::Element& field) {
    std::vector<std::string> out;
    for (const xml::Element* v : field.childElements()) {
        if (v->is("value", ns::kDataForms)) {
            out.push_back(v->text());
        }
    }
    return out;
}

xml::Element field(std::string_view var, std::string_view type) {
    xml::Element f("field", std::string(ns::kDataForms));
    f.setAttr("var", std::string(var));
    f.setAttr("type", std::string(type));
    return f;
}

}  // namespace

std::string formatId(std::int64_t id) {
    return std::to_string(id);
}

std::optional<std::int64_t> parseId(std::string_view text) {
    std::int64_t v = 0;
    if (text.empty() || text.size() > 19 || text.front() == '-' || text.front() == '+') {
        return std::nullopt;
    }
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || v <= 0) {
        return std::nullopt;
    }
    return v;
}

std::optional<std::int64_t> parseDateTime(std::string_view s) {
    // CCYY-MM-DDThh:mm:ss[.sss]TZD (XEP-0082 §3.3)
    if (!digits(s, 4) || s.size() < 20 || s[4] != '-' || !digits(s.substr(5), 2) || s[7] != '-' ||
        !digits(s.substr(8), 2) || s[10] != 'T' || !digits(s.substr(11), 2) || s[13] != ':' ||
        !digits(s.substr(14), 2) || s[16] != ':' || !digits(s.substr(17), 2)) {
        return std::nullopt;
    }
    const int year = number(s, 0, 4), month = number(s, 5, 2), day = number(s, 8, 2);
    const int hour = number(s, 11, 2), minute = number(s, 14, 2), second = number(s, 17, 2);
    std::size_t pos = 19;
    std::int64_t micros = 0;
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        int n = 0;
        std::int64_t scale = 100000;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            micros += (s[pos] - '0') * scale;
            scale /= 10;
            ++pos;
            ++n;
        }
        if (n == 0) {
            return std::nullopt;
        }
    }
    int offsetMinutes = 0;
    const std::string_view tz = s.substr(pos);
    if (tz == "Z") {
        offsetMinutes = 0;
    } else if (tz.size() == 6 && (tz[0] == '+' || tz[0] == '-') && digits(tz.substr(1), 2) &&
               tz[3] == ':' && digits(tz.substr(4), 2)) {
        offsetMinutes = number(tz, 1, 2) * 60 + number(tz, 4, 2);
        if (tz[0] == '-') {
            offsetMinutes = -offsetMinutes;
        }
    } else {
        return std::nullopt;
    }
    using namespace std::chrono;
    const year_month_day date{std::chrono::year(year),
                              std::chrono::month(static_cast<unsigned>(month)),
                              std::chrono::day(static_cast<unsigned>(day))};
    if (!date.ok() || hour > 23 || minute > 59 || second > 60) {
        return std::nullopt;
    }
    const std::int64_t days = sys_days(date).time_since_epoch().count();
    const std::int64_t seconds =
        days * 86400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60;
    return seconds * 1'000'000 + micros;
}

std::string formatDateTime(std::int64_t micros) {
    const std::time_t seconds = static_cast<std::time_t>(micros / 1'000'000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(micros % 1'000'000));
    return buf;
}

std::expected<ArchiveQuery, QueryError> parseQuery(const xml::Element& query, int maxPage,
                                                   bool fulltext) {
    ArchiveQuery out;
    out.queryId = std::string(query.attr("queryid"));
    if (query.hasAttr("node")) {
        // XEP-0313 §3: reserved for pubsub archives (XEP-0442), which a user archive is not.
        return refuse(StanzaCondition::FeatureNotImplemented, "this archive has no nodes");
    }
    storage::ArchivePageRequest& req = out.request;
    storage::ArchiveFilter& f = req.filter;
    req.max = maxPage;

    if (const xml::Element* x = query.findChild("x", ns::kDataForms)) {
        if (x->attr("type") != "submit") {
            return refuse(StanzaCondition::BadRequest, "the query form must be of type submit");
        }
        for (const xml::Element* fieldElement : x->childElements()) {
            if (!fieldElement->is("field", ns::kDataForms)) {
                continue;
            }
            const std::string_view var = fieldElement->attr("var");
            std::vector<std::string> values = fieldValues(*fieldElement);
            if (var == "FORM_TYPE") {
                if (values.size() != 1 || values.front() != ns::kMam) {
                    return refuse(StanzaCondition::BadRequest, "FORM_TYPE must be urn:xmpp:mam:2");
                }
                continue;
            }
            if (var == "ids") {
                for (const std::string& v : values) {
                    auto id = parseId(v);
                    if (!id) {
                        return refuse(StanzaCondition::ItemNotFound,
                                      "no message with id '" + v + "' in the archive");
                    }
                    f.ids.push_back(*id);
                    req.mustExist.push_back(*id);
                }
                if (f.ids.empty()) {
                    return refuse(StanzaCondition::BadRequest, "the ids field has no value");
                }
                continue;
            }
            if (values.size() > 1) {
                return refuse(StanzaCondition::BadRequest,
                              "the field '" + std::string(var) + "' takes one value");
            }
            const std::string value = values.empty() ? std::string() : values.front();
            if (var == "with") {
                if (value.empty()) {
                    continue;
                }
                auto jid = stanza::Jid::parse(value);
                if (!jid) {
                    return refuse(StanzaCondition::JidMalformed,
                                  "the with field is not a valid JID");
                }
                f.withJid = jid->bare().full();
                if (jid->hasResource()) {
                    f.withResource = std::string(jid->resource());
                }
            } else if (var == "start" || var == "end") {
                if (value.empty()) {
                    continue;
                }
                auto micros = parseDateTime(value);
                if (!micros) {
                    return refuse(
                        StanzaCondition::BadRequest,
                        "the " + std::string(var) + " field is not a XEP-0082 date and time");
                }
                if (var == "start") {
                    f.minId = std::max(f.minId, *micros);
                } else {
                    f.maxId = std::min(f.maxId, *micros);
                }
            } else if (var == "after-id" || var == "before-id") {
                if (value.empty()) {
                    continue;
                }
                auto id = parseId(value);
                if (!id) {
                    return refuse(StanzaCondition::ItemNotFound,
                                  "no message with id '" + value + "' in the archive");
                }
                req.mustExist.push_back(*id);
                if (var == "after-id") {
                    f.minId = std::max(f.minId, *id + 1);
                } else {
                    f.maxId = std::min(f.maxId, *id - 1);
                }
            } else if (var == kFulltextField && fulltext) {
                if (value.find_first_not_of(" \t\r\n") == std::string::npos) {
                    continue;
                }
                f.fulltext = value;
            } else {
                return refuse(StanzaCondition::FeatureNotImplemented,
                              "the query field '" + std::string(var) + "' is not supported");
            }
        }
    }

    if (const xml::Element* set = query.findChild("set", ns::kRsm)) {
        if (set->findChild("index", ns::kRsm) != nullptr) {
            return refuse(StanzaCondition::FeatureNotImplemented,
                          "paging by index is not supported; use after or before");
        }
        if (const xml::Element* max = set->findChild("max", ns::kRsm)) {
            const std::string text = max->text();
            int n = 0;
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
            if (ec != std::errc{} || end != text.data() + text.size() || n < 0) {
                return refuse(StanzaCondition::BadRequest,
                              "RSM max must be a non-negative integer");
            }
            req.max = std::min(n, maxPage);
        }
        if (const xml::Element* after = set->findChild("after", ns::kRsm)) {
            auto id = parseId(after->text());
            if (!id) {
                return refuse(StanzaCondition::ItemNotFound,
                              "no message with id '" + after->text() + "' in the archive");
            }
            req.mustExist.push_back(*id);
            f.minId = std::max(f.minId, *id + 1);
        }
        if (const xml::Element* before = set->findChild("before", ns::kRsm)) {
            const std::string text = before->text();
            // An empty <before/> asks for the last page (XEP-0059 §2.5).
            if (!text.empty()) {
                auto id = parseId(text);
                if (!id) {
                    return refuse(StanzaCondition::ItemNotFound,
                                  "no message with id '" + text + "' in the archive");
                }
                req.mustExist.push_back(*id);
                f.maxId = std::min(f.maxId, *id - 1);
            }
            // With both <after/> and <before/> the page is taken from the oldest end of the
            // range between them (XEP-0313 §4.3 leaves it undefined).
            req.fromEnd = set->findChild("after", ns::kRsm) == nullptr;
        }
    }
    out.flip = query.findChild("flip-page", ns::kMam) != nullptr;
    return out;
}

xml::Element queryForm(bool fulltext) {
    xml::Element query("query", std::string(ns::kMam));
    xml::Element& x = query.addChild("x", ns::kDataForms);
    x.setAttr("type", "form");
    xml::Element& formType = x.addChild(field("FORM_TYPE", "hidden"));
    formType.addTextChild("value", ns::kMam);
    x.addChild(field("with", "jid-single"));
    x.addChild(field("start", "text-single"));
    x.addChild(field("end", "text-single"));
    x.addChild(field("before-id", "text-single"));
    x.addChild(field("after-id", "text-single"));
    xml::Element& ids = x.addChild(field("ids", "list-multi"));
    xml::Element& validate = ids.addChild("validate", kXdataValidate);
    validate.setAttr("datatype", "xs:string");
    validate.addChild("open", kXdataValidate);
    if (fulltext) {
        x.addChild(field(kFulltextField, "text-single"));
    }
    return query;
}

xml::Element resultMessage(const stanza::Jid& archive, const stanza::Jid& to,
                           std::string_view queryId, std::int64_t id, xml::Element message) {
    xml::Element out("message", std::string(ns::kClient));
    out.setAttr("from", archive.full());
    out.setAttr("to", to.full());
    xml::Element& result = out.addChild("result", ns::kMam);
    if (!queryId.empty()) {
        result.setAttr("queryid", std::string(queryId));
    }
    result.setAttr("id", formatId(id));
    xml::Element& forwarded = result.addChild("forwarded", ns::kForward);
    xml::Element& delay = forwarded.addChild("delay", ns::kDelay);
    delay.setAttr("stamp", formatDateTime(id));
    forwarded.addChild(std::move(message));
    return out;
}

xml::Element finElement(const storage::ArchivePage& page) {
    xml::Element fin("fin", std::string(ns::kMam));
    fin.setAttr("complete", page.complete ? "true" : "false");
    // A query runs after every write queued before it and ids only grow, so the same query later
    // returns the same messages, ids and order (XEP-0313 §4.3; the default, said explicitly).
    fin.setAttr("stable", "true");
    xml::Element& set = fin.addChild("set", ns::kRsm);
    if (!page.messages.empty()) {
        set.addTextChild("first", formatId(page.messages.front().id));
        set.addTextChild("last", formatId(page.messages.back().id));
    }
    return fin;
}

}  // namespace corvid::modules::mam
