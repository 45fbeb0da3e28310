// HTTP file upload (XEP-0363 v1.1): the upload service on upload.<domain> hands out slots. A
// slot is a PUT URL signed with the server secret "http-upload" (util::UploadGrant), which the
// HTTP listener checks without asking the database, and a GET URL. The database keeps one row
// per slot for the per-account quota; retention forgets rows after retention_days, and the HTTP
// side deletes the files.

#include <event2/event.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <memory>

#include "modules/module_registry.h"
#include "stanza/ns.h"
#include "storage/secret_store.h"
#include "storage/upload_store.h"
#include "util/c_handles.h"
#include "util/log.h"
#include "util/random.h"
#include "util/upload_grant.h"

namespace corvid::modules {

namespace {

namespace ns = stanza::ns;
using stanza::Jid;
using stanza::StanzaCondition;

constexpr std::string_view kUploadNs = "urn:xmpp:http:upload:0";
constexpr std::string_view kDataFormsNs = "jabber:x:data";
/// Slot requests that wait for the secret to load (right after start): bounded like every queue.
constexpr std::size_t kMaxWaitingForSecret = 256;
constexpr std::size_t kMaxFilenameBytes = 255;

std::string percentEncode(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

/// Why a file name is refused, or "" when it is fine: one path segment that a file system and a
/// browser's download dialog take as it is.
std::string_view badFilename(std::string_view name) {
    if (name.empty()) {
        return "the file name is empty";
    }
    if (name.size() > kMaxFilenameBytes) {
        return "the file name is longer than 255 bytes";
    }
    if (name == "." || name == "..") {
        return "the file name cannot be . or ..";
    }
    for (unsigned char c : name) {
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') {
            return "the file name holds a slash, a backslash or a control character";
        }
    }
    return {};
}

/// A media type "type/subtype" of RFC 9110 §8.3.1 tokens, without parameters.
bool validContentType(std::string_view type) {
    auto tokenChar = [](unsigned char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                   std::string_view::npos;
    };
    const auto slash = type.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == type.size() ||
        type.size() > 255) {
        return false;
    }
    for (std::size_t i = 0; i < type.size(); ++i) {
        if (i != slash && !tokenChar(static_cast<unsigned char>(type[i]))) {
            return false;
        }
    }
    return true;
}

bool typeAllowed(const std::vector<std::string>& allowed, std::string_view type) {
    if (allowed.empty()) {
        return true;
    }
    auto lower = [](std::string_view s) {
        std::string out(s);
        std::transform(out.begin(), out.end(), out.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        return out;
    };
    const std::string t = lower(type);
    return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& pattern) {
        const std::string p = lower(pattern);
        if (p.ends_with("/*")) {
            return t.starts_with(p.substr(0, p.size() - 1));
        }
        return t == p;
    });
}

struct UploadSettings {
    std::uint64_t maxBytes = 0;
    std::uint64_t quotaBytes = 0;
    int retentionDays = 0;
    int slotLifetimeSeconds = 300;
    std::string urlBase;
    std::vector<std::string> contentTypes;
};

class UploadModule final : public Module {
  public:
    explicit UploadModule(ModuleContext& context)
        : router_(context.router),
          store_(context.database),
          secrets_(context.database),
          state_(std::make_shared<State>()) {
        const conf::OptionTable& o = context.config.options;
        settings_.maxBytes = static_cast<std::uint64_t>(o.getInt("max_bytes"));
        settings_.quotaBytes = static_cast<std::uint64_t>(o.getInt("quota_bytes"));
        settings_.retentionDays = static_cast<int>(o.getInt("retention_days"));
        settings_.slotLifetimeSeconds = static_cast<int>(o.getInt("slot_lifetime_s"));
        settings_.contentTypes = o.getStringArray("content_types");
        if (const std::string* base = o.findString("url_base")) {
            settings_.urlBase = *base;
        }
        std::vector<std::string> domains;
        if (const std::string* domain = o.findString("domain")) {
            domains.push_back(*domain);
        } else {
            for (const std::string& host : router_.localDomains()) {
                domains.push_back("upload." + host);
            }
        }
        for (std::string& domain : domains) {
            hooks_.push_back(router_.addDomainService(
                std::move(domain), [this](xml::Element&& stanza, const Jid& from, const Jid& to,
                                          router::LocalSession*) { handle(stanza, from, to); }));
        }
        if (settings_.retentionDays > 0) {
            retention_.reset(event_new(
                context.base, -1, EV_PERSIST,
                [](evutil_socket_t, short, void* arg) {
                    static_cast<UploadModule*>(arg)->expire();
                },
                this));
            const timeval hourly{3600, 0};
            event_add(retention_.get(), &hourly);
        }
    }

    ~UploadModule() override {
        state_->waiting.clear();  // they would call into this module
    }

  private:
    /// What the asynchronous callbacks share with the module: the secret, once loaded, and the
    /// requests waiting for it. Shared (not `this`) because a database answer may come after
    /// the module is gone at shutdown; then it only touches this.
    struct State {
        std::string secret;
        bool loading = false;
        std::vector<std::move_only_function<void(bool)>> waiting;
    };

    void handle(const xml::Element& stanza, const Jid& from, const Jid& to) {
        const std::string& kind = stanza.name();
        const std::string_view type = stanza.attr("type");
        if (kind == "presence") {
            return;  // nothing to subscribe to here
        }
        if (kind == "message" || !to.local().empty() || !to.resource().empty()) {
            router_.bounce(stanza, StanzaCondition::ServiceUnavailable,
                           "the upload service only answers slot requests");
            return;
        }
        if (type != "get" && type != "set") {
            return;  // results and errors
        }
        const xml::Element* payload = stanza.firstChildElement();
        if (payload != nullptr && type == "get" && payload->name() == "query" &&
            payload->ns() == ns::kDiscoInfo && payload->attr("node").empty()) {
            replyResult(router_, stanza, from, to, discoInfo());
            return;
        }
        if (payload != nullptr && type == "get" && payload->name() == "query" &&
            payload->ns() == ns::kDiscoItems && payload->attr("node").empty()) {
            replyResult(router_, stanza, from, to,
                        xml::Element("query", std::string(ns::kDiscoItems)));
            return;
        }
        if (payload != nullptr && type == "get" && payload->name() == "request" &&
            payload->ns() == kUploadNs) {
            requestSlot(stanza, *payload, from, to);
            return;
        }
        router_.bounce(stanza, StanzaCondition::ServiceUnavailable);
    }

    xml::Element discoInfo() const {
        xml::Element query("query", std::string(ns::kDiscoInfo));
        xml::Element& identity = query.addChild("identity");
        identity.setAttr("category", "store");
        identity.setAttr("type", "file");
        identity.setAttr("name", "HTTP File Upload");
        query.addChild("feature").setAttr("var", std::string(ns::kDiscoInfo));
        query.addChild("feature").setAttr("var", std::string(kUploadNs));
        // XEP-0363 §3: the largest file, as an extended disco form (XEP-0128).
        xml::Element& form = query.addChild("x", kDataFormsNs);
        form.setAttr("type", "result");
        xml::Element& formType = form.addChild("field");
        formType.setAttr("var", "FORM_TYPE");
        formType.setAttr("type", "hidden");
        formType.addTextChild("value", kUploadNs);
        xml::Element& size = form.addChild("field");
        size.setAttr("var", "max-file-size");
        size.addTextChild("value", std::to_string(settings_.maxBytes));
        return query;
    }

    void requestSlot(const xml::Element& iq, const xml::Element& request, const Jid& from,
                     const Jid& to) {
        if (from.local().empty() || !router_.isLocalDomain(from.domain())) {
            router_.bounce(iq, StanzaCondition::NotAllowed,
                           "only accounts of this server may upload files here");
            return;
        }
        const std::string filename(request.attr("filename"));
        if (std::string_view why = badFilename(filename); !why.empty()) {
            router_.bounce(iq, StanzaCondition::BadRequest, why);
            return;
        }
        const std::string_view sizeText = request.attr("size");
        std::uint64_t size = 0;
        const auto [end, ec] =
            std::from_chars(sizeText.data(), sizeText.data() + sizeText.size(), size);
        if (sizeText.empty() || ec != std::errc() || end != sizeText.data() + sizeText.size() ||
            size == 0) {
            router_.bounce(iq, StanzaCondition::BadRequest, "size must be a positive integer");
            return;
        }
        if (size > settings_.maxBytes) {
            // XEP-0363 §4: not-acceptable with the largest size allowed.
            xml::Element tooLarge("file-too-large", std::string(kUploadNs));
            tooLarge.addTextChild("max-file-size", std::to_string(settings_.maxBytes));
            stanza::StanzaErrorOptions options;
            options.type = stanza::ErrorType::Modify;
            options.appCondition = &tooLarge;
            router_.route(stanza::makeStanzaError(
                iq, StanzaCondition::NotAcceptable,
                "the file is larger than " + std::to_string(settings_.maxBytes) + " bytes",
                options));
            return;
        }
        const std::string contentType(request.attr("content-type"));
        if (!contentType.empty() && !validContentType(contentType)) {
            router_.bounce(iq, StanzaCondition::BadRequest, "content-type is not a media type");
            return;
        }
        if (!settings_.contentTypes.empty() &&
            (contentType.empty() || !typeAllowed(settings_.contentTypes, contentType))) {
            router_.bounce(iq, StanzaCondition::NotAcceptable,
                           contentType.empty()
                               ? "name the content-type of the file"
                               : "files of type " + contentType + " are not accepted here");
            return;
        }
        util::UploadGrant grant;
        grant.slot = util::randomId(24);
        grant.filename = filename;
        grant.size = size;
        grant.contentType = contentType;
        withSecret([this, iq, from, to, grant = std::move(grant)](bool ready) mutable {
            if (!ready) {
                router_.bounce(iq, StanzaCondition::InternalServerError,
                               "the upload service is not ready; try again later");
                return;
            }
            reserve(iq, from, to, std::move(grant));
        });
    }

    /// Runs `next` once the secret is there (true) or could not be loaded (false).
    void withSecret(std::move_only_function<void(bool)> next) {
        if (!state_->secret.empty()) {
            next(true);
            return;
        }
        if (state_->waiting.size() >= kMaxWaitingForSecret) {
            next(false);
            return;
        }
        state_->waiting.push_back(std::move(next));
        if (state_->loading) {
            return;
        }
        state_->loading = true;
        const std::string random = util::randomId(32);
        secrets_.getOrCreate(
            "http-upload", storage::Bytes(random.begin(), random.end()),
            [state = state_](std::expected<storage::Bytes, storage::StoreError> secret) {
                state->loading = false;
                if (secret) {
                    state->secret.assign(secret->begin(), secret->end());
                } else {
                    log::warn("upload: cannot load the signing secret: {}", secret.error().message);
                }
                auto waiting = std::exchange(state->waiting, {});
                for (auto& w : waiting) {
                    w(!state->secret.empty());
                }
            });
    }

    void reserve(const xml::Element& iq, const Jid& from, const Jid& to, util::UploadGrant grant) {
        // The router outlives the database's callbacks (the server destroys the database first).
        router::Router& router = router_;
        const std::uint64_t quota = settings_.quotaBytes;
        const std::string slot = grant.slot;
        const std::uint64_t size = grant.size;
        store_.reserve(
            from.domain(), from.local(), slot, size, quota,
            [&router, state = state_, iq, from, to, grant = std::move(grant), quota,
             base = settings_.urlBase, lifetime = settings_.slotLifetimeSeconds](
                std::expected<bool, storage::StoreError> r) mutable {
                if (!r) {
                    log::warn("upload: slot for {}: {}", from.bare().full(), r.error().message);
                    router.bounce(iq, StanzaCondition::InternalServerError,
                                  "the upload service cannot record the slot; try again later");
                    return;
                }
                if (!*r) {
                    stanza::StanzaErrorOptions options;
                    options.type = stanza::ErrorType::Wait;
                    router.route(stanza::makeStanzaError(iq, StanzaCondition::ResourceConstraint,
                                                         "your upload quota of " +
                                                             std::to_string(quota) +
                                                             " bytes would be exceeded",
                                                         options));
                    return;
                }
                const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
                grant.expires = now + lifetime;
                const std::string get = base + grant.slot + "/" + percentEncode(grant.filename);
                const std::string put = get + "?e=" + std::to_string(grant.expires) +
                                        "&s=" + std::to_string(grant.size) +
                                        "&sig=" + grant.sign(state->secret);
                xml::Element slotElement("slot", std::string(kUploadNs));
                slotElement.addChild("put").setAttr("url", put);
                slotElement.addChild("get").setAttr("url", get);
                replyResult(router, iq, from, to, std::move(slotElement));
            });
    }

    void expire() {
        store_.expire(settings_.retentionDays,
                      [](std::expected<std::uint64_t, storage::StoreError> r) {
                          if (!r) {
                              log::warn("upload retention: {}", r.error().message);
                          } else if (*r > 0) {
                              log::info("upload retention: {} slot(s) forgotten", *r);
                          }
                      });
    }

    router::Router& router_;
    storage::UploadStore store_;
    storage::SecretStore secrets_;
    UploadSettings settings_;
    std::shared_ptr<State> state_;
    util::EventPtr retention_;
};

const ModuleRegistrar kRegistrar({
    .name = "upload",
    .section = "upload",
    .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<UploadModule>(c); },
});

}  // namespace

}  // namespace corvid::modules
