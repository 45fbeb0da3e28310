#include "modules/caps_cache.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "sasl/base64.h"
#include "sasl/crypto.h"
#include "stanza/ns.h"

namespace corvid::modules {

namespace ns = stanza::ns;

std::optional<CapsRef> capsOf(const xml::Element& presence) {
    const xml::Element* c = presence.findChild("c", ns::kCaps);
    if (c == nullptr || c->attr("ver").empty() || c->attr("node").empty()) {
        return std::nullopt;
    }
    return CapsRef{std::string(c->attr("hash")), std::string(c->attr("node")),
                   std::string(c->attr("ver"))};
}

std::optional<std::string> capsVerOfInfo(const xml::Element& query) {
    using Identity = std::tuple<std::string, std::string, std::string, std::string>;
    std::vector<Identity> identities;
    std::vector<std::string> features;
    // FORM_TYPE -> (var -> sorted values), the FORM_TYPE field left out (§5.1 step 7).
    std::map<std::string, std::map<std::string, std::vector<std::string>>> forms;
    for (const xml::Element* child : query.childElements()) {
        if (child->is("identity", ns::kDiscoInfo)) {
            identities.emplace_back(child->attr("category"), child->attr("type"),
                                    child->attr("lang", xml::kXmlNs), child->attr("name"));
        } else if (child->is("feature", ns::kDiscoInfo)) {
            features.emplace_back(child->attr("var"));
        } else if (child->is("x", ns::kDataForms)) {
            std::optional<std::string> formType;
            std::map<std::string, std::vector<std::string>> fields;
            for (const xml::Element* field : child->childElements()) {
                if (!field->is("field", ns::kDataForms)) {
                    continue;
                }
                std::vector<std::string> values;
                for (const xml::Element* v : field->childElements()) {
                    if (v->is("value", ns::kDataForms)) {
                        values.push_back(v->text());
                    }
                }
                if (field->attr("var") == "FORM_TYPE") {
                    if (values.size() != 1 || formType) {
                        return std::nullopt;
                    }
                    formType = values.front();
                    continue;
                }
                std::sort(values.begin(), values.end());
                fields[std::string(field->attr("var"))] = std::move(values);
            }
            // §5.4 step 3.6: forms without a FORM_TYPE are not part of the hash.
            if (formType && !forms.emplace(*formType, std::move(fields)).second) {
                return std::nullopt;  // two forms of one FORM_TYPE (§5.4 step 3.4)
            }
        }
    }
    std::sort(identities.begin(), identities.end());
    std::sort(features.begin(), features.end());
    // §5.4 steps 3.2, 3.3: duplicates make the answer ill-formed.
    if (std::adjacent_find(identities.begin(), identities.end()) != identities.end() ||
        std::adjacent_find(features.begin(), features.end()) != features.end()) {
        return std::nullopt;
    }
    std::string s;
    for (const auto& [category, type, lang, name] : identities) {
        s.append(category).append("/").append(type).append("/").append(lang).append("/");
        s.append(name).append("<");
    }
    for (const auto& f : features) {
        s.append(f).append("<");
    }
    for (const auto& [formType, fields] : forms) {
        s.append(formType).append("<");
        for (const auto& [var, values] : fields) {
            s.append(var).append("<");
            for (const auto& v : values) {
                s.append(v).append("<");
            }
        }
    }
    return sasl::encodeBase64(sasl::digest(sasl::Hash::Sha1, s));
}

CapsCache::CapsCache(router::Router& router, std::size_t capacity)
    : router_(router),
      capacity_(std::max<std::size_t>(capacity, 1)),
      self_(std::make_shared<CapsCache*>(this)) {}

CapsCache::~CapsCache() = default;

CapsCache::Features CapsCache::find(std::string_view ver) {
    auto it = index_.find(std::string(ver));
    if (it == index_.end()) {
        return nullptr;
    }
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
}

void CapsCache::insert(const std::string& ver, Features features) {
    if (auto it = index_.find(ver); it != index_.end()) {
        lru_.erase(it->second);
        index_.erase(it);
    }
    lru_.emplace_front(ver, std::move(features));
    index_[ver] = lru_.begin();
    while (index_.size() > capacity_) {
        index_.erase(lru_.back().first);
        lru_.pop_back();
    }
}

void CapsCache::resolve(const CapsRef& caps, const stanza::Jid& entity, const stanza::Jid& from,
                        Done done) {
    if (Features known = find(caps.ver)) {
        done(std::move(known));
        return;
    }
    // Only SHA-1 is hashed here (the mandatory one, §5.1); legacy caps without 'hash' name no
    // verifiable feature set at all (§8.3), so their features stay unknown.
    if (caps.hash != "sha-1") {
        done(nullptr);
        return;
    }
    auto [waiting, first] = inFlight_.try_emplace(caps.ver);
    waiting->second.push_back(std::move(done));
    if (!first) {
        return;  // §6.1: one query per ver
    }
    xml::Element iq("iq", std::string(ns::kClient));
    iq.setAttr("type", "get");
    iq.setAttr("from", from.full());
    iq.setAttr("to", entity.full());
    iq.addChild("query", ns::kDiscoInfo).setAttr("node", caps.node + "#" + caps.ver);
    std::weak_ptr<CapsCache*> alive = self_;
    router_.sendIq(
        std::move(iq),
        [alive, ver = caps.ver](const xml::Element* answer) {
            auto self = alive.lock();
            if (!self) {
                return;
            }
            CapsCache& cache = **self;
            Features features;
            const xml::Element* query = answer != nullptr && answer->attr("type") == "result"
                                            ? answer->findChild("query", ns::kDiscoInfo)
                                            : nullptr;
            // §5.4 step 3.5: only an answer that hashes to the ver describes it.
            if (query != nullptr && capsVerOfInfo(*query) == ver) {
                auto set = std::make_shared<std::unordered_set<std::string>>();
                for (const xml::Element* f : query->childElements()) {
                    if (f->is("feature", ns::kDiscoInfo)) {
                        set->emplace(f->attr("var"));
                    }
                }
                features = std::move(set);
                cache.insert(ver, features);
            }
            auto it = cache.inFlight_.find(ver);
            if (it == cache.inFlight_.end()) {
                return;
            }
            std::vector<Done> waiters = std::move(it->second);
            cache.inFlight_.erase(it);
            for (auto& w : waiters) {
                w(features);
            }
        },
        std::chrono::seconds(20));
}

}  // namespace corvid::modules
