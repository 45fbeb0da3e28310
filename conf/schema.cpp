#include "conf/schema.h"

#include <algorithm>

namespace corvid::conf {

namespace {

constexpr std::int64_t kKiB = 1024;
constexpr std::int64_t kMiB = 1024 * kKiB;
constexpr std::int64_t kGiB = 1024 * kMiB;
constexpr std::int64_t kDay = 24 * 3600;
constexpr std::int64_t kPortMax = 65535;

KeyInfo section(std::string_view path, std::string_view doc) {
    return {.path = path, .type = ValueType::Table, .doc = doc};
}

KeyInfo boolean(std::string_view path, std::string_view def, std::string_view doc) {
    return {.path = path, .type = ValueType::Bool, .defaultValue = def, .doc = doc};
}

KeyInfo integer(std::string_view path, std::string_view def, std::int64_t min, std::int64_t max,
                std::string_view doc) {
    return {.path = path,
            .type = ValueType::Int,
            .defaultValue = def,
            .min = min,
            .max = max,
            .doc = doc};
}

KeyInfo string(std::string_view path, std::string_view def, StringFormat format,
               std::string_view doc) {
    return {
        .path = path, .type = ValueType::String, .defaultValue = def, .format = format, .doc = doc};
}

KeyInfo choice(std::string_view path, std::string_view def, std::vector<std::string_view> allowed,
               std::string_view doc) {
    return {.path = path,
            .type = ValueType::String,
            .defaultValue = def,
            .allowed = std::move(allowed),
            .doc = doc};
}

KeyInfo required(KeyInfo row) {
    row.required = true;
    return row;
}

/// The module's on/off switch; every module table has one.
KeyInfo enabled(std::string_view path, bool on) {
    return boolean(path, on ? "true" : "false", "load this module");
}

// Rows are grouped by section; the docs and the example file follow the same order. Bounds are
// there to catch typos (an extra zero), not to second-guess the admin, so they are generous.
std::vector<KeyInfo> buildSchema() {
    std::vector<KeyInfo> rows = {
        // --- [server] ---
        section("server", "process-wide settings"),
        choice("server.log_level", "\"info\"", {"trace", "debug", "info", "warn", "error"},
               "least severe log message written"),
        string("server.pid_file", "", StringFormat::NonEmpty,
               "write the daemon's process id to this file (default: no pid file)"),
        choice("server.bind_resource_conflict", "\"replace\"", {"replace", "reject", "rename"},
               "what a bind to a resource already in use does (RFC 6120 §7.7.2.2): replace "
               "the old session, reject the new one, or rename the new one"),

        // --- [database] ---
        section("database", "PostgreSQL, the system of record"),
        required(string("database.dsn", "", StringFormat::Any,
                        "libpq connection string, e.g. \"host=/run/postgresql dbname=corvid\" or "
                        "a postgresql:// URI; \"\" uses libpq's PG* environment variables")),
        integer("database.connections", "2", 1, 64, "connections kept open to PostgreSQL"),
        integer("database.statement_timeout_ms", "5000", 0, kDay * 1000,
                "a query running longer is cancelled (0 = no limit)"),
        integer("database.connect_timeout_ms", "5000", 100, 600'000,
                "give up a connection attempt after this long"),
        integer("database.reconnect_max_backoff_ms", "30000", 100, 3600 * 1000,
                "the delay between reconnection attempts doubles up to this"),

        // --- [tls] ---
        section("tls", "TLS defaults for every host"),
        string("tls.certificate", "", StringFormat::NonEmpty,
               "PEM certificate chain for hosts that do not set their own"),
        string("tls.key", "", StringFormat::NonEmpty, "PEM private key matching tls.certificate"),
        choice("tls.min_version", "\"1.2\"", {"1.2", "1.3"}, "oldest TLS version accepted"),
        string("tls.ciphers", "", StringFormat::NonEmpty,
               "OpenSSL cipher list for TLS 1.2 (default: OpenSSL's)"),
        string("tls.ciphersuites", "", StringFormat::NonEmpty,
               "OpenSSL ciphersuites for TLS 1.3 (default: OpenSSL's)"),

        // --- [[hosts]] ---
        {.path = "hosts",
         .type = ValueType::TableArray,
         .required = true,
         .min = 1,
         .doc = "the virtual hosts served (at least one)"},
        required(string("hosts[].domain", "", StringFormat::Domain,
                        "the domain served; unique among hosts")),
        string("hosts[].certificate", "", StringFormat::NonEmpty,
               "PEM certificate chain for this host (default: tls.certificate)"),
        string("hosts[].key", "", StringFormat::NonEmpty,
               "PEM private key for this host (default: tls.key)"),
        {.path = "hosts[].admins",
         .type = ValueType::StringArray,
         .defaultValue = "[]",
         .format = StringFormat::BareJid,
         .doc = "bare JIDs of this host's administrators"},

        // --- [[listeners]] ---
        {.path = "listeners",
         .type = ValueType::TableArray,
         .doc = "sockets to listen on (default: c2s on 5222, c2s_direct_tls on 5223 and, "
                "unless s2s.enabled = false, s2s on 5269, all on 0.0.0.0; with [[components]], "
                "component on 127.0.0.1:5347)"},
        required(
            choice("listeners[].type", "",
                   {"c2s", "c2s_direct_tls", "s2s", "s2s_direct_tls", "component", "http", "https"},
                   "c2s (STARTTLS), c2s_direct_tls (XEP-0368), s2s, s2s_direct_tls, "
                   "component (XEP-0114), http or https (file upload, WebSocket, host-meta)")),
        string("listeners[].address", "\"0.0.0.0\"", StringFormat::IpAddress,
               "IPv4 or IPv6 address to bind; \"::\" for every IPv6 address"),
        integer("listeners[].port", "", 1, kPortMax,
                "TCP port (default by type: c2s 5222, c2s_direct_tls 5223, s2s 5269, "
                "s2s_direct_tls 5270, component 5347, http 5280, https 5443)"),

        // --- [limits] ---
        section("limits", "bounds on what one peer may cost the server"),
        // RFC 6120 §13.12: a server must accept stanzas of at least 10000 bytes.
        integer("limits.max_stanza_bytes", "262144", 10000, 64 * kMiB,
                "largest stanza accepted from an authenticated client"),
        integer("limits.max_stanza_bytes_preauth", "16384", 1 * kKiB, 64 * kMiB,
                "largest element accepted before authentication (at most max_stanza_bytes)"),
        integer("limits.max_depth", "32", 4, 1000, "deepest element nesting inside a stanza"),
        integer("limits.max_attributes", "64", 4, 10000, "most attributes on one element"),
        integer("limits.stream_header_timeout_s", "10", 1, 3600,
                "a new connection that has not sent its stream header by then is closed"),
        integer("limits.auth_timeout_s", "30", 1, 3600,
                "a connection that has not authenticated (and bound) by then is closed"),
        integer("limits.idle_timeout_s", "900", 0, 7 * kDay,
                "a client connection silent this long is closed (0 = never)"),
        integer("limits.max_connections_per_ip", "64", 1, 1'000'000,
                "simultaneous connections from one IP address"),
        integer("limits.output_buffer_bytes", "1048576", 64 * kKiB, 1 * kGiB,
                "a connection whose unsent output exceeds this is closed"),
        integer("limits.s2s_max_stanza_bytes", "524288", 10000, 64 * kMiB,
                "largest stanza accepted from a peer server"),
        integer("limits.s2s_queue_max", "1000", 1, 1'000'000,
                "stanzas queued for a remote domain while its connection is set up"),
        integer("limits.worker_queue_max", "1024", 1, 1'000'000,
                "password hashing jobs (PLAIN logins, password changes, registrations) waiting "
                "for or running on the worker thread"),
        integer("limits.max_directed_presences", "256", 1, 100'000,
                "entities one session may have sent directed presence to (RFC 6121 §4.6)"),

        // --- [http] ---
        section("http", "the HTTP(S) listeners (file upload, XMPP over WebSocket, host-meta)"),
        integer("http.max_header_bytes", "8192", 1 * kKiB, 1 * kMiB,
                "largest request line plus headers; larger requests get 431"),
        integer("http.max_body_bytes", "1048576", 16 * kKiB, 64 * kMiB,
                "largest request body other than a file upload (whose limit is "
                "modules.upload.max_bytes); larger ones get 413"),
        integer("http.header_timeout_s", "10", 1, 3600,
                "a request whose line and headers have not all arrived by then is dropped"),
        integer("http.idle_timeout_s", "60", 1, 3600,
                "a connection that sends nothing for this long (between requests, or in the "
                "middle of a body) is closed"),
        integer("http.max_connections_per_ip", "32", 1, 1'000'000,
                "simultaneous HTTP connections from one IP address"),
        boolean("http.websocket", "true",
                "serve XMPP over WebSocket (RFC 7395) at /xmpp-websocket"),
        {.path = "http.websocket_origins",
         .type = ValueType::StringArray,
         .defaultValue = "[\"*\"]",
         .format = StringFormat::NonEmpty,
         .doc = "origins (\"https://chat.example.org\") whose web pages may open a WebSocket; "
                "\"*\" for any"},
        boolean("http.trust_loopback_proxy", "true",
                "connections from a loopback address come through a reverse proxy that "
                "terminated TLS: they count as encrypted, the client is the last address of "
                "X-Forwarded-For"),
        string("http.public_url", "", StringFormat::Url,
               "URL clients reach corvid's HTTP endpoints at (\"https://chat.example.org\"), "
               "for the host-meta links (default: from the request's Host)"),

        // --- [auth] ---
        section("auth", "client authentication (SASL, RFC 6120 §6)"),
        {.path = "auth.mechanisms",
         .type = ValueType::StringArray,
         .defaultValue = "[\"SCRAM-SHA-256-PLUS\", \"SCRAM-SHA-1-PLUS\", \"SCRAM-SHA-256\", "
                         "\"SCRAM-SHA-1\", \"PLAIN\"]",
         .min = 1,
         .allowed = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1",
                     "PLAIN", "EXTERNAL"},
         .doc = "SASL mechanisms offered, in order of preference"},
        boolean("auth.allow_plaintext", "false",
                "allow c2s streams without TLS (otherwise STARTTLS is required)"),
        integer("auth.scram_iterations", "4096", 4096, 10'000'000,
                "PBKDF2 iterations for newly stored SCRAM credentials (RFC 7677 §4)"),
        integer("auth.max_failures_per_ip", "5", 1, 1'000'000,
                "failed authentications from one IP address within failure_window_s"),
        integer("auth.max_failures_per_account", "10", 1, 1'000'000,
                "failed authentications for one account within failure_window_s"),
        integer("auth.failure_window_s", "300", 1, kDay,
                "how long a failed authentication counts against the limits"),

        // --- [s2s] ---
        section("s2s", "server-to-server federation"),
        boolean("s2s.enabled", "true", "federate with other servers"),
        boolean("s2s.require_valid_certificate", "true",
                "authenticate peers with a certificate valid for their domain (RFC 7590)"),
        boolean("s2s.dialback", "true", "offer and accept Server Dialback (XEP-0220)"),
        boolean("s2s.dialback_without_certificate", "false",
                "accept dialback from peers whose certificate is missing or invalid"),
        {.path = "s2s.dialback_secret",
         .type = ValueType::String,
         .min = 16,
         .doc = "secret for dialback keys (XEP-0185), at least 16 bytes; set the same value on "
                "every node of a cluster (default: random at each start)"},
        integer("s2s.idle_timeout_s", "600", 0, 7 * kDay,
                "a server connection silent this long is closed (0 = never)"),
        integer("s2s.connect_timeout_s", "30", 1, 600,
                "give up connecting to a peer server after this long"),
        string("s2s.ca_file", "", StringFormat::NonEmpty,
               "extra PEM CA bundle trusted for peer certificates"),
        {.path = "s2s.routes",
         .type = ValueType::StringMap,
         .defaultValue = "{}",
         .format = StringFormat::HostPort,
         .keyFormat = StringFormat::Domain,
         .doc = "static routes: \"domain\" = \"host:port\", used instead of DNS SRV lookups"},
        boolean("s2s.allow_private_addresses", "false",
                "connect to peers that DNS places at loopback, private or link-local addresses"),

        // --- [[components]] ---
        {.path = "components",
         .type = ValueType::TableArray,
         .defaultValue = "[]",
         .doc = "external components (XEP-0114) allowed to connect"},
        required(string("components[].domain", "", StringFormat::Domain,
                        "the component's domain; unique among hosts and components")),
        {.path = "components[].secret",
         .type = ValueType::String,
         .required = true,
         .min = 1,
         .doc = "the shared secret of the handshake (never logged)"},

        // --- [modules.*] ---
        section("modules",
                "one table per module; all except register and upload are enabled by default"),
        section("modules.roster", "rosters (RFC 6121 §2)"),
        enabled("modules.roster.enabled", true),
        integer("modules.roster.max_items", "1000", 1, 1'000'000, "most contacts in one roster"),
        section("modules.offline", "offline message storage (XEP-0160)"),
        enabled("modules.offline.enabled", true),
        integer("modules.offline.max_messages", "1000", 1, 1'000'000,
                "most messages stored for one account; more are bounced"),
        integer("modules.offline.max_pending_bytes_per_account", "2097152", 64 * kKiB, 1 * kGiB,
                "bytes of messages for one account that may wait in memory for PostgreSQL to "
                "store them; past that, new ones are bounced"),
        integer("modules.offline.max_pending_bytes", "8388608", 64 * kKiB, 16 * kGiB,
                "the same for all accounts together"),
        section("modules.disco", "service discovery (XEP-0030)"),
        enabled("modules.disco.enabled", true),
        section("modules.ping", "XMPP ping (XEP-0199)"),
        enabled("modules.ping.enabled", true),
        section("modules.version", "software version (XEP-0092)"),
        enabled("modules.version.enabled", true),
        boolean("modules.version.hide_os", "false", "leave the operating system out of the answer"),
        boolean("modules.version.hide", "false",
                "answer with service-unavailable instead of the version"),
        section("modules.vcard", "vcard-temp (XEP-0054)"),
        enabled("modules.vcard.enabled", true),
        section("modules.blocking", "blocking command (XEP-0191)"),
        enabled("modules.blocking.enabled", true),
        section("modules.private", "private XML storage (XEP-0049)"),
        enabled("modules.private.enabled", true),
        section("modules.last", "last activity (XEP-0012)"),
        enabled("modules.last.enabled", true),
        section("modules.time", "entity time (XEP-0202)"),
        enabled("modules.time.enabled", true),
        section("modules.pep", "personal eventing (XEP-0163)"),
        enabled("modules.pep.enabled", true),
        integer("modules.pep.max_items", "100", 1, 100'000,
                "most items kept per PEP node (the ceiling of pubsub#max_items)"),
        integer("modules.pep.max_nodes", "100", 1, 10'000, "most PEP nodes per account"),
        section("modules.carbons", "message carbons (XEP-0280)"),
        enabled("modules.carbons.enabled", true),
        section("modules.mam", "message archive management (XEP-0313)"),
        enabled("modules.mam.enabled", true),
        choice("modules.mam.default_policy", "\"always\"", {"always", "roster", "never"},
               "which messages are archived for accounts that set no preference (XEP-0313 §6)"),
        integer("modules.mam.max_results", "100", 1, 10'000,
                "most messages in one result page (a larger RSM max is lowered to this)"),
        integer("modules.mam.retention_days", "0", 0, 100'000,
                "delete archived messages older than this (0 = keep forever)"),
        integer("modules.mam.max_pending_bytes", "8388608", 64 * kKiB, 16 * kGiB,
                "bytes of messages that may wait in memory for PostgreSQL to archive them; past "
                "that, messages are delivered without being archived"),
        section("modules.register", "in-band registration (XEP-0077)"),
        enabled("modules.register.enabled", false),
        integer("modules.register.min_interval_s", "60", 0, kDay,
                "least time between two registrations from one IP address"),
        section("modules.csi", "client state indication (XEP-0352)"),
        enabled("modules.csi.enabled", true),
        section("modules.sm", "stream management (XEP-0198)"),
        enabled("modules.sm.enabled", true),
        integer("modules.sm.resume_timeout_s", "300", 0, kDay,
                "how long a dropped session can be resumed (0 = no resumption)"),
        integer("modules.sm.max_unacked", "500", 1, 100'000,
                "unacknowledged stanzas kept before the session is closed"),
        section("modules.muc", "multi-user chat (XEP-0045)"),
        enabled("modules.muc.enabled", true),
        string("modules.muc.domain", "", StringFormat::Domain,
               "domain of the chat service (default: conference.<domain> of each host)"),
        integer("modules.muc.max_history", "50", 0, 10'000,
                "most messages of discussion history a room keeps and sends to a newcomer (the "
                "ceiling of the owners' muc#maxhistoryfetch; new rooms keep 20, or this if less)"),
        choice("modules.muc.create_rooms", "\"local\"", {"local", "nobody"},
               "who may create rooms: the accounts of this server's hosts, or nobody"),
        integer("modules.muc.max_occupants", "1000", 1, 100'000,
                "most occupants of one room (the ceiling of the owners' muc#roomconfig_maxusers)"),
        section("modules.upload", "HTTP file upload (XEP-0363); needs an http or https listener"),
        enabled("modules.upload.enabled", false),
        string("modules.upload.domain", "", StringFormat::Domain,
               "domain of the upload service (default: upload.<domain> of each host)"),
        integer("modules.upload.max_bytes", "10485760", 1, 64 * kGiB, "largest file accepted"),
        string("modules.upload.directory", "\"/var/lib/corvid/upload\"", StringFormat::NonEmpty,
               "where uploaded files are stored; must exist and be writable by corvid"),
        string("modules.upload.url_base", "", StringFormat::Url,
               "public URL of the upload path of corvid's HTTP listener, ending in /upload/ "
               "(e.g. \"https://upload.example.org:5443/upload/\"); required when enabled"),
        integer("modules.upload.quota_bytes", "104857600", 0, 1024 * kGiB,
                "bytes one account may have stored (slots handed out count from then on; 0 = "
                "no quota)"),
        integer("modules.upload.retention_days", "30", 0, 100'000,
                "files (and their quota) are deleted this many days after upload (0 = never)"),
        {.path = "modules.upload.content_types",
         .type = ValueType::StringArray,
         .defaultValue = "[]",
         .format = StringFormat::NonEmpty,
         .doc = "content types accepted, such as \"image/png\" or \"image/*\" (default: any)"},
        integer("modules.upload.slot_lifetime_s", "300", 10, kDay,
                "how long a PUT URL is valid after the slot was handed out"),
        section("modules.push", "push notifications (XEP-0357)"),
        enabled("modules.push.enabled", true),
        section("modules.extdisco", "external service discovery, e.g. STUN/TURN (XEP-0215)"),
        enabled("modules.extdisco.enabled", true),
        integer("modules.extdisco.credential_lifetime_s", "86400", 60, 30 * kDay,
                "how long the TURN credentials made from a service's secret are valid"),
        {.path = "modules.extdisco.services",
         .type = ValueType::TableArray,
         .defaultValue = "[]",
         .doc = "STUN and TURN services announced to the hosts' users (none: the module "
                "answers nothing and advertises nothing)"},
        required(choice("modules.extdisco.services[].type", "", {"stun", "stuns", "turn", "turns"},
                        "kind of service")),
        required(string("modules.extdisco.services[].host", "", StringFormat::NonEmpty,
                        "host name or address of the service")),
        integer("modules.extdisco.services[].port", "", 1, kPortMax,
                "port (default: 3478, or 5349 for stuns and turns)"),
        choice("modules.extdisco.services[].transport", "", {"udp", "tcp"},
               "transport protocol (default: not announced)"),
        string("modules.extdisco.services[].username", "", StringFormat::NonEmpty,
               "fixed username handed to clients (not with secret)"),
        string("modules.extdisco.services[].password", "", StringFormat::NonEmpty,
               "fixed password handed to clients, with username"),
        string("modules.extdisco.services[].secret", "", StringFormat::NonEmpty,
               "shared secret for time-limited credentials (coturn's static-auth-secret; not "
               "with username or password)"),
    };
    return rows;
}

}  // namespace

// What the schema already describes but this version does not have: each line is a feature, and
// the change that builds it deletes the line. Keep docs/configuration.md ("Not yet available")
// in step; tests/unit/conf/ checks both.
const std::vector<NotYetBuilt>& notYetBuilt() {
    static const std::vector<NotYetBuilt> entries = {
        {"server.pid_file"}, {"hosts[].admins"},  // nothing has host administrators yet
        {"modules.carbons"},                      // XEP-0280
        {"modules.csi"},                          // XEP-0352
        {"modules.push"},                         // XEP-0357
    };
    return entries;
}

bool isBuilt(std::string_view path) {
    for (const NotYetBuilt& e : notYetBuilt()) {
        if (!e.value.empty() || !path.starts_with(e.path)) {
            continue;
        }
        const std::string_view rest = path.substr(e.path.size());
        if (rest.empty() || rest.starts_with(".") || rest.starts_with("[]")) {
            return false;
        }
    }
    return true;
}

bool isBuiltValue(std::string_view path, std::string_view value) {
    return std::none_of(notYetBuilt().begin(), notYetBuilt().end(),
                        [&](const NotYetBuilt& e) { return e.path == path && e.value == value; });
}

std::string_view KeyInfo::name() const {
    const auto dot = path.rfind('.');
    return dot == std::string_view::npos ? path : path.substr(dot + 1);
}

std::string_view KeyInfo::parent() const {
    const auto dot = path.rfind('.');
    return dot == std::string_view::npos ? std::string_view{} : path.substr(0, dot);
}

const std::vector<KeyInfo>& schema() {
    static const std::vector<KeyInfo> rows = buildSchema();
    return rows;
}

const KeyInfo* findKey(std::string_view path) {
    const auto& rows = schema();
    const auto it =
        std::find_if(rows.begin(), rows.end(), [&](const KeyInfo& k) { return k.path == path; });
    return it == rows.end() ? nullptr : &*it;
}

std::vector<const KeyInfo*> childrenOf(std::string_view parent) {
    std::vector<const KeyInfo*> out;
    for (const KeyInfo& k : schema()) {
        if (k.parent() == parent) {
            out.push_back(&k);
        }
    }
    return out;
}

std::vector<std::string_view> moduleNames() {
    std::vector<std::string_view> out;
    for (const KeyInfo* k : childrenOf("modules")) {
        if (isBuilt(k->path)) {
            out.push_back(k->name());
        }
    }
    return out;
}

std::string_view typeName(ValueType type) {
    switch (type) {
        case ValueType::Bool:
            return "boolean";
        case ValueType::Int:
            return "integer";
        case ValueType::String:
            return "string";
        case ValueType::StringArray:
            return "array of strings";
        case ValueType::StringMap:
            return "table of strings";
        case ValueType::Table:
            return "table";
        case ValueType::TableArray:
            return "array of tables";
    }
    return "value";
}

}  // namespace corvid::conf
