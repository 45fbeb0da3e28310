#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "router/router.h"
#include "stanza/jid.h"
#include "xml/element.h"

namespace corvid::modules {

/// The entity capabilities an available presence announces (XEP-0115 §4).
struct CapsRef {
    std::string hash;  ///< 'hash' attribute; only "sha-1" is verified and cached
    std::string node;
    std::string ver;
};

/// The <c xmlns='http://jabber.org/protocol/caps'/> of a presence, if any.
std::optional<CapsRef> capsOf(const xml::Element& presence);

/// The XEP-0115 §5.1 verification string of a disco#info <query/> answer: identities,
/// features and extended service discovery forms (XEP-0128), hashed with SHA-1 and base64
/// encoded. std::nullopt when the answer breaks the §5.4 rules (duplicate identities or
/// features, a form whose FORM_TYPE is not a single hidden value, two forms of one FORM_TYPE).
std::optional<std::string> capsVerOfInfo(const xml::Element& query);

/// Features of client software by verification string (XEP-0115 §5.4, §6.1): learnt with one
/// disco#info query per unknown ver (never two at a time for one ver), kept only when the answer
/// hashes to the ver, at most `capacity` of them (least recently used go first). In memory,
/// shared by every account of the server.
class CapsCache {
  public:
    using Features = std::shared_ptr<const std::unordered_set<std::string>>;
    /// nullptr when the ver could not be learnt (no answer, an error, a hash mismatch).
    using Done = std::function<void(Features)>;

    CapsCache(router::Router& router, std::size_t capacity);
    ~CapsCache();
    CapsCache(const CapsCache&) = delete;
    CapsCache& operator=(const CapsCache&) = delete;

    /// The features of a known ver, or nullptr (and it becomes the most recently used).
    Features find(std::string_view ver);

    /// Calls `done` (later, or now if the ver is known) with the features of `caps`, asking
    /// `entity` (from `from`, a domain of ours) when the ver is unknown.
    void resolve(const CapsRef& caps, const stanza::Jid& entity, const stanza::Jid& from,
                 Done done);

    std::size_t size() const { return index_.size(); }

  private:
    struct State;
    void insert(const std::string& ver, Features features);

    router::Router& router_;
    std::size_t capacity_;
    std::list<std::pair<std::string, Features>> lru_;  // front: most recently used
    std::unordered_map<std::string, decltype(lru_)::iterator> index_;
    std::unordered_map<std::string, std::vector<Done>> inFlight_;
    // The router keeps the query callbacks, which may outlive this cache: they hold a weak_ptr.
    std::shared_ptr<CapsCache*> self_;
};

}  // namespace corvid::modules
