#include <unistd.h>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>

#include "conf/config.h"
#include "conf/schema.h"
#include "conf_test_support.h"

using namespace corvid::conf;
using corvid::conf::test::errorFor;
using corvid::conf::test::errorsOf;
using corvid::conf::test::kMinimal;
using corvid::conf::test::load;

TEST_CASE("a minimal configuration gets every default", "[conf]") {
    const Config c = load(kMinimal);
    CHECK(c.sourceName == "corvid.toml");

    CHECK(c.server.logLevel == LogLevel::Info);
    CHECK_FALSE(c.server.pidFile.has_value());
    CHECK(c.server.bindResourceConflict == ResourceConflict::Replace);

    CHECK(c.database.dsn == "dbname=corvid");
    CHECK(c.database.connections == 2);
    CHECK(c.database.statementTimeout == std::chrono::milliseconds(5000));
    CHECK(c.database.connectTimeout == std::chrono::milliseconds(5000));
    CHECK(c.database.reconnectMaxBackoff == std::chrono::milliseconds(30000));

    CHECK(c.tls.minVersion == TlsVersion::Tls12);
    CHECK_FALSE(c.tls.ciphers.has_value());
    CHECK_FALSE(c.tls.ciphersuites.has_value());

    REQUIRE(c.hosts.size() == 1);
    CHECK(c.hosts[0].domain == "example.org");
    // The host falls back to [tls]'s certificate.
    CHECK(c.hosts[0].certificate == "/etc/corvid/cert.pem");
    CHECK(c.hosts[0].key == "/etc/corvid/key.pem");
    CHECK(c.hosts[0].admins.empty());
    CHECK(c.findHost("example.org") == &c.hosts[0]);
    CHECK(c.findHost("example.com") == nullptr);

    REQUIRE(c.listeners.size() == 3);
    CHECK(c.listeners[0].type == ListenerType::C2s);
    CHECK(c.listeners[0].address == "0.0.0.0");
    CHECK(c.listeners[0].port == 5222);
    CHECK(c.listeners[1].type == ListenerType::C2sDirectTls);
    CHECK(c.listeners[1].port == 5223);
    CHECK(c.listeners[2].type == ListenerType::S2s);
    CHECK(c.listeners[2].port == 5269);

    CHECK(c.limits.maxStanzaBytes == 262144);
    CHECK(c.limits.maxStanzaBytesPreauth == 16384);
    CHECK(c.limits.maxDepth == 32);
    CHECK(c.limits.maxAttributes == 64);
    CHECK(c.limits.streamHeaderTimeout == std::chrono::seconds(10));
    CHECK(c.limits.authTimeout == std::chrono::seconds(30));
    CHECK(c.limits.idleTimeout == std::chrono::seconds(900));
    CHECK(c.limits.maxConnectionsPerIp == 64);
    CHECK(c.limits.outputBufferBytes == 1048576);
    CHECK(c.limits.s2sMaxStanzaBytes == 524288);
    CHECK(c.limits.s2sQueueMax == 1000);
    CHECK(c.limits.workerQueueMax == 1024);
    CHECK(c.limits.maxDirectedPresences == 256);

    CHECK(c.auth.mechanisms == std::vector<std::string>{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS",
                                                        "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"});
    CHECK_FALSE(c.auth.allowPlaintext);
    CHECK(c.auth.scramIterations == 4096);
    CHECK(c.auth.maxFailuresPerIp == 5);
    CHECK(c.auth.maxFailuresPerAccount == 10);
    CHECK(c.auth.failureWindow == std::chrono::seconds(300));

    CHECK(c.s2s.enabled);
    CHECK(c.s2s.requireValidCertificate);
    CHECK(c.s2s.dialback);
    CHECK_FALSE(c.s2s.dialbackWithoutCertificate);
    CHECK_FALSE(c.s2s.dialbackSecret.has_value());
    CHECK(c.s2s.idleTimeout == std::chrono::seconds(600));
    CHECK(c.s2s.connectTimeout == std::chrono::seconds(30));
    CHECK_FALSE(c.s2s.caFile.has_value());
    CHECK(c.s2s.routes.empty());
    CHECK_FALSE(c.s2s.allowPrivateAddresses);

    CHECK(c.components.empty());
}

TEST_CASE("every module is present with its defaults; only register and upload are off", "[conf]") {
    const Config c = load(kMinimal);
    for (std::string_view name : moduleNames()) {
        INFO(name);
        REQUIRE(c.modules.contains(name));
        CHECK(c.module(name).name == name);
        // upload needs an HTTP listener and a URL: off until configured.
        CHECK(c.module(name).enabled == (name != "register" && name != "upload"));
    }
    CHECK(c.modules.size() == moduleNames().size());
    CHECK(c.module("roster").options.getInt("max_items") == 1000);
    CHECK(c.module("offline").options.getInt("max_messages") == 1000);
    CHECK(c.module("offline").options.getInt("max_pending_bytes_per_account") == 2097152);
    CHECK(c.module("offline").options.getInt("max_pending_bytes") == 8388608);
    CHECK_FALSE(c.module("version").options.getBool("hide_os"));
    CHECK_FALSE(c.module("version").options.getBool("hide"));
    CHECK(c.module("pep").options.getInt("max_items") == 100);
    CHECK(c.module("pep").options.getInt("max_nodes") == 100);
    CHECK(c.module("register").options.getInt("min_interval_s") == 60);
    CHECK(c.module("muc").options.getInt("max_history") == 50);
    CHECK(c.module("muc").options.findString("domain") == nullptr);
    CHECK(c.module("muc").options.getString("create_rooms") == "local");
    CHECK(c.module("muc").options.getInt("max_occupants") == 1000);
    CHECK(c.module("mam").options.getString("default_policy") == "always");
    CHECK(c.module("mam").options.getInt("max_results") == 100);
    CHECK(c.module("mam").options.getInt("retention_days") == 0);
    CHECK(c.module("mam").options.getInt("max_pending_bytes") == 8388608);
    // Modules not built yet are not in the model at all.
    CHECK_FALSE(c.modules.contains("carbons"));
    // `enabled` is the module's switch, not an option.
    CHECK_FALSE(c.module("roster").options.has("enabled"));
}

TEST_CASE("every section is read into the typed model", "[conf]") {
    const Config c = load(R"(
[server]
log_level = "debug"
bind_resource_conflict = "rename"
[database]
dsn = "postgresql://corvid@db/corvid"
connections = 8
statement_timeout_ms = 0
connect_timeout_ms = 1500
reconnect_max_backoff_ms = 60000
[tls]
min_version = "1.3"
ciphers = "ECDHE+AESGCM"
ciphersuites = "TLS_AES_128_GCM_SHA256"
[[hosts]]
domain = "Example.ORG."
certificate = "/tls/example.pem"
key = "/tls/example.key"
[[hosts]]
domain = "chat.example.net"
certificate = "/tls/net.pem"
key = "/tls/net.key"
[[listeners]]
type = "c2s"
address = "::"
[[listeners]]
type = "s2s_direct_tls"
address = "127.0.0.1"
port = 5555
[limits]
max_stanza_bytes = 100000
max_stanza_bytes_preauth = 4096
idle_timeout_s = 0
worker_queue_max = 8
max_directed_presences = 20
[auth]
mechanisms = ["SCRAM-SHA-256", "EXTERNAL"]
allow_plaintext = true
scram_iterations = 10000
failure_window_s = 60
[s2s]
dialback_without_certificate = true
dialback_secret = "0123456789abcdef0123"
ca_file = "/etc/ssl/extra.pem"
allow_private_addresses = true
[s2s.routes]
"Example.COM" = "[2001:db8::1]:5270"
"example.net" = "relay.example.net"
[modules.offline]
max_messages = 50
[modules.register]
enabled = true
[modules.ping]
enabled = false
[modules.version]
hide_os = true
)");
    CHECK(c.server.logLevel == LogLevel::Debug);
    CHECK(c.server.bindResourceConflict == ResourceConflict::Rename);
    CHECK(c.database.dsn == "postgresql://corvid@db/corvid");
    CHECK(c.database.connections == 8);
    CHECK(c.database.statementTimeout.count() == 0);
    CHECK(c.database.connectTimeout.count() == 1500);
    CHECK(c.database.reconnectMaxBackoff.count() == 60000);
    CHECK(c.tls.minVersion == TlsVersion::Tls13);
    CHECK(c.tls.ciphers == "ECDHE+AESGCM");
    CHECK(c.tls.ciphersuites == "TLS_AES_128_GCM_SHA256");

    REQUIRE(c.hosts.size() == 2);
    // RFC 7622 §3.2: case-folded, trailing dot removed.
    CHECK(c.hosts[0].domain == "example.org");
    CHECK(c.hosts[0].certificate == "/tls/example.pem");
    CHECK(c.hosts[0].key == "/tls/example.key");
    CHECK(c.hosts[1].domain == "chat.example.net");

    REQUIRE(c.listeners.size() == 2);
    CHECK(c.listeners[0].type == ListenerType::C2s);
    CHECK(c.listeners[0].address == "::");
    CHECK(c.listeners[0].port == 5222);
    CHECK(c.listeners[1].type == ListenerType::S2sDirectTls);
    CHECK(c.listeners[1].address == "127.0.0.1");
    CHECK(c.listeners[1].port == 5555);

    CHECK(c.limits.maxStanzaBytes == 100000);
    CHECK(c.limits.maxStanzaBytesPreauth == 4096);
    CHECK(c.limits.idleTimeout.count() == 0);
    CHECK(c.limits.workerQueueMax == 8);
    CHECK(c.limits.maxDirectedPresences == 20);
    CHECK(c.limits.maxDepth == 32);

    CHECK(c.auth.mechanisms == std::vector<std::string>{"SCRAM-SHA-256", "EXTERNAL"});
    CHECK(c.auth.allowPlaintext);
    CHECK(c.auth.scramIterations == 10000);
    CHECK(c.auth.failureWindow == std::chrono::seconds(60));

    CHECK(c.s2s.dialbackWithoutCertificate);
    CHECK(c.s2s.dialbackSecret == "0123456789abcdef0123");
    CHECK(c.s2s.caFile == "/etc/ssl/extra.pem");
    CHECK(c.s2s.allowPrivateAddresses);
    REQUIRE(c.s2s.routes.size() == 2);
    CHECK(c.s2s.routes.at("example.com") == StaticRoute{"2001:db8::1", 5270});
    CHECK(c.s2s.routes.at("example.net") == StaticRoute{"relay.example.net", 5269});

    CHECK(c.module("offline").options.getInt("max_messages") == 50);
    CHECK(c.module("register").enabled);
    CHECK_FALSE(c.module("ping").enabled);
    CHECK(c.module("roster").enabled);
    CHECK(c.module("version").options.getBool("hide_os"));
    CHECK_FALSE(c.module("version").options.getBool("hide"));
}

TEST_CASE("the documented error line for a misspelt key", "[conf]") {
    // The misspelt key is on line 12, column 1.
    const std::string text = kMinimal +  // 7 lines
                             "\n"
                             "[limits]\n"
                             "max_depth = 16\n"
                             "# the next key is misspelt\n"
                             "max_stanza_byte = 100000\n";
    const auto errors = errorsOf(text);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].format() ==
          "corvid.toml:12:1: limits.max_stanza_byte: unknown key (did you mean "
          "limits.max_stanza_bytes?)");
    CHECK(errors[0].line == 12);
    CHECK(errors[0].column == 1);
}

TEST_CASE("each kind of error names its key, line and column", "[conf]") {
    SECTION("TOML syntax error") {
        const auto errors = errorsOf("[server]\nlog_level = \"info\"\nbind_resource_conflict = \n");
        REQUIRE(errors.size() == 1);
        CHECK(errors[0].line == 3);
        CHECK(errors[0].column == 26);
        CHECK(errors[0].key.empty());
        CHECK_THAT(errors[0].message, Catch::StartsWith("TOML syntax error"));
        CHECK_THAT(errors[0].format(), Catch::StartsWith("corvid.toml:3:26: TOML syntax error"));
    }
    SECTION("a section defined twice is a syntax error") {
        const auto errors = errorsOf(kMinimal + "[limits]\nmax_depth = 8\n[limits]\n");
        REQUIRE(errors.size() == 1);
        CHECK(errors[0].line == 10);
    }
    SECTION("unknown key inside [[hosts]]") {
        const auto e =
            errorFor(errorsOf(kMinimal + "  certficate = \"/c.pem\"\n"), "hosts[0].certficate");
        CHECK(e.line == 8);
        CHECK(e.column == 3);
        CHECK(e.message == "unknown key (did you mean hosts[0].certificate?)");
    }
    SECTION("unknown top-level section") {
        const auto e = errorFor(errorsOf(kMinimal + "[limit]\nmax_depth = 3\n"), "limit");
        CHECK(e.line == 8);
        CHECK(e.message == "unknown key (did you mean limits?)");
    }
    SECTION("a key in the wrong section") {
        const auto e =
            errorFor(errorsOf("[server]\nmax_depth = 3\n" + kMinimal), "server.max_depth");
        CHECK(e.line == 2);
        CHECK(e.message == "unknown key (did you mean limits.max_depth?)");
    }
    SECTION("a quoted key that looks like a path is still unknown") {
        const auto e =
            errorFor(errorsOf("\"limits.max_depth\" = 8\n" + kMinimal), "\"limits.max_depth\"");
        CHECK(e.line == 1);
        CHECK_THAT(e.message, Catch::StartsWith("unknown key"));
    }
    SECTION("unknown module") {
        const auto e =
            errorFor(errorsOf(kMinimal + "[modules.ofline]\nenabled = true\n"), "modules.ofline");
        CHECK(e.line == 8);
        CHECK_THAT(e.message, Catch::StartsWith("unknown module (did you mean modules.offline?)"));
    }
    SECTION("unknown module option") {
        const auto e = errorFor(errorsOf(kMinimal + "[modules.roster]\nmax_item = 5\n"),
                                "modules.roster.max_item");
        CHECK(e.line == 9);
        CHECK(e.message == "unknown key (did you mean modules.roster.max_items?)");
    }
    SECTION("wrong type") {
        const auto errors = errorsOf(kMinimal +
                                     "[limits]\n"
                                     "max_depth = \"32\"\n"
                                     "auth_timeout_s = 1.5\n"
                                     "[s2s]\n"
                                     "  enabled = 1\n"
                                     "allow_private_addresses = \"yes\"\n");
        CHECK(errorFor(errors, "limits.max_depth").message == "expected an integer, got a string");
        CHECK(errorFor(errors, "limits.max_depth").line == 9);
        CHECK(errorFor(errors, "limits.auth_timeout_s").message ==
              "expected an integer, got a floating-point number");
        const auto e = errorFor(errors, "s2s.enabled");
        CHECK(e.message == "expected a boolean, got an integer");
        CHECK(e.line == 12);
        CHECK(e.column == 3);
        CHECK(errorFor(errors, "s2s.allow_private_addresses").message ==
              "expected a boolean, got a string");
        CHECK(errorFor(errors, "s2s.allow_private_addresses").line == 13);
    }
    SECTION("a table where an array of tables belongs") {
        const auto e = errorFor(errorsOf(kMinimal + "[listeners]\ntype = \"c2s\"\n"), "listeners");
        CHECK(e.line == 8);
        CHECK(e.message == "expected an array of tables ([[listeners]]), got a table");
    }
    SECTION("value out of range") {
        const auto errors = errorsOf(
            "[database]\ndsn = \"\"\nconnections = 65\n[[hosts]]\ndomain = \"a.org\"\n"
            "[[listeners]]\ntype = \"c2s\"\nport = 0\n[limits]\nworker_queue_max = 0\n");
        const auto e = errorFor(errors, "database.connections");
        CHECK(e.line == 3);
        CHECK(e.message == "must be between 1 and 64, got 65");
        const auto p = errorFor(errors, "listeners[0].port");
        CHECK(p.line == 8);
        CHECK(p.message == "must be between 1 and 65535, got 0");
        const auto w = errorFor(errors, "limits.worker_queue_max");
        CHECK(w.line == 10);
        CHECK(w.message == "must be between 1 and 1000000, got 0");
        const auto bounds = errorsOf(kMinimal +
                                     "[limits]\nmax_directed_presences = 0\n"
                                     "[modules.offline]\nmax_pending_bytes = 1000\n");
        CHECK(errorFor(bounds, "limits.max_directed_presences").message ==
              "must be between 1 and 100000, got 0");
        CHECK(errorFor(bounds, "modules.offline.max_pending_bytes").message ==
              "must be between 65536 and 17179869184, got 1000");
    }
    SECTION("value not allowed") {
        const auto errors = errorsOf(kMinimal +
                                     "[[listeners]]\n"
                                     "type = \"s2s_direct_tsl\"\n"
                                     "[auth]\n"
                                     "mechanisms = [\"PLAIN\", \"DIGEST-MD5\", \"PLAIN\"]\n");
        const auto t = errorFor(errors, "listeners[0].type");
        CHECK(t.line == 9);
        CHECK_THAT(t.message, Catch::StartsWith("must be one of \"c2s\", \"c2s_direct_tls\""));
        CHECK_THAT(t.message,
                   Catch::EndsWith("got \"s2s_direct_tsl\" (did you mean \"s2s_direct_tls\"?)"));
        // Array elements point at the element itself.
        const auto m = errorFor(errors, "auth.mechanisms[1]");
        CHECK(m.line == 11);
        CHECK(m.column == 24);
        const auto d = errorFor(errors, "auth.mechanisms[2]");
        CHECK(d.column == 38);
        CHECK(d.message == "duplicate value \"PLAIN\"");
    }
    SECTION("missing required keys") {
        const auto errors = errorsOf(
            "[server]\n\n[[hosts]]\ncertificate = \"/c\"\nkey = \"/k\"\n"
            "[[listeners]]\naddress = \"::1\"\n");
        // [database] is absent altogether: reported at the top of the file.
        const auto dsn = errorFor(errors, "database.dsn");
        CHECK(dsn.line == 1);
        CHECK(dsn.column == 1);
        CHECK(dsn.message == "missing required key");
        // Keys missing from a table are reported at its header.
        CHECK(errorFor(errors, "hosts[0].domain").line == 3);
        CHECK(errorFor(errors, "listeners[0].type").line == 6);
    }
    SECTION("no [[hosts]] at all") {
        const auto e = errorFor(errorsOf("[database]\ndsn = \"x\"\n"), "hosts");
        CHECK(e.message == "missing: at least one [[hosts]] is required");
        CHECK_FALSE(errorsOf("[database]\ndsn = \"x\"\nhosts = []\n").empty());
    }
    SECTION("bad string formats") {
        const auto errors = errorsOf(kMinimal +
                                     "[[hosts]]\n"
                                     "domain = \"bad domain\"\n"
                                     "[[listeners]]\n"
                                     "type = \"s2s\"\n"
                                     "address = \"localhost\"\n"
                                     "[s2s.routes]\n"
                                     "\"example.net\" = \"[::1:5269\"\n");
        const auto d = errorFor(errors, "hosts[1].domain");
        CHECK(d.line == 9);
        // The reason comes from stanza::prepDomainpart; the loader adds the value.
        CHECK_THAT(d.message,
                   Catch::StartsWith("domainpart") && Catch::EndsWith(", got \"bad domain\""));
        CHECK(errorFor(errors, "listeners[0].address").line == 12);
        CHECK(errorFor(errors, "s2s.routes.\"example.net\"").line == 14);
    }
}

TEST_CASE("every error is reported at once, in file order", "[conf]") {
    const std::string text =
        "[server]\n"                 // 1
        "log_level = \"verbose\"\n"  // 2  not allowed
        "colour = true\n"            // 3  unknown
        "[database]\n"               // 4  dsn missing (reported here)
        "connections = \"many\"\n"   // 5  wrong type
        "[limits]\n"                 // 6
        "max_depth = 2\n"            // 7  out of range
        "[[hosts]]\n"                // 8  no certificate (reported here)
        "domain = \"a.example\"\n"   // 9
        "[[hosts]]\n"                // 10
        "domain = \"A.example\"\n"   // 11 duplicate
        "[[listeners]]\n"            // 12
        "type = \"c2s\"\n"           // 13
        "[[listeners]]\n"            // 14
        "type = \"c2s\"\n"           // 15
        "port = 5222\n"              // 16 duplicate listener
        "[modules.nope]\n";          // 17 unknown module
    const auto errors = errorsOf(text);
    std::vector<std::pair<std::uint32_t, std::string>> got;
    for (const ConfigError& e : errors) {
        got.emplace_back(e.line, e.key);
    }
    const std::vector<std::pair<std::uint32_t, std::string>> want = {
        {2, "server.log_level"},      {3, "server.colour"},    {4, "database.dsn"},
        {5, "database.connections"},  {7, "limits.max_depth"}, {8, "hosts[0].certificate"},
        {10, "hosts[1].certificate"}, {11, "hosts[1].domain"}, {16, "listeners[1]"},
        {17, "modules.nope"},
    };
    CHECK(got == want);
    for (const ConfigError& e : errors) {
        CHECK_THAT(e.format(), Catch::StartsWith("corvid.toml:" + std::to_string(e.line) + ":"));
    }
}

TEST_CASE("keys of features not built yet are errors at their line", "[conf]") {
    const std::string notAvailable =
        "not available in this version (see \"Not yet available\" in docs/configuration.md)";
    // Each entry of notYetBuilt(), used as an admin would; the first error line is 8 or 9.
    struct Case {
        std::string key;  ///< the key reported
        std::string text;
        std::uint32_t line;
        std::uint32_t column;
    };
    const std::vector<Case> cases = {
        {"server.pid_file", "[server]\n  pid_file = \"/run/corvid.pid\"\n", 9, 3},
        {"hosts[0].admins", "admins = [\"admin@example.org\"]\n", 8, 1},
        {"modules.carbons", "[modules.carbons]\nenabled = true\n", 8, 10},
        {"modules.csi", "[modules]\ncsi = { enabled = true }\n", 9, 1},
        {"modules.push", "modules.push.enabled = true\n", 8, 9},
    };
    std::set<std::string> covered;
    for (const Case& c : cases) {
        INFO(c.text);
        // Dotted keys must come before the first table: put those in front of kMinimal.
        const bool dotted = c.text.find('[') == std::string::npos;
        const std::uint32_t shift = dotted ? 7 : 0;
        const auto errors = errorsOf(dotted ? c.text + kMinimal : kMinimal + c.text);
        REQUIRE(errors.size() == 1);
        const ConfigError& e = errors[0];
        CHECK(e.key == c.key);
        CHECK(e.line + shift == c.line);
        CHECK(e.column == c.column);
        CHECK(e.message == notAvailable);
        covered.insert(c.key);
    }
    // A line added to notYetBuilt() needs a case here.
    for (const NotYetBuilt& entry : notYetBuilt()) {
        std::string key(entry.path);
        if (const auto pos = key.find("[]"); pos != std::string::npos) {
            key.replace(pos, 2, "[0]");
        }
        INFO(entry.path);
        CHECK(covered.contains(key));
    }
}

TEST_CASE("suggestions and error texts name only what is built", "[conf]") {
    SECTION("no did-you-mean towards an unbuilt module") {
        const auto e = errorFor(errorsOf(kMinimal + "[modules.pushh]\n"), "modules.pushh");
        CHECK_THAT(e.message, !Catch::Contains("did you mean") && !Catch::Contains("push") &&
                                  !Catch::Contains("carbons"));
        CHECK_THAT(e.message, Catch::Contains("known modules: roster, offline"));
    }
    SECTION("the list of allowed values and the suggestion") {
        const auto e = errorFor(errorsOf(kMinimal + "[[listeners]]\ntype = \"compnent\"\n"),
                                "listeners[0].type");
        CHECK(e.message ==
              "must be one of \"c2s\", \"c2s_direct_tls\", \"s2s\", \"s2s_direct_tls\", "
              "\"component\", \"http\", \"https\", got \"compnent\" (did you mean "
              "\"component\"?)");
    }
}

TEST_CASE("duplicate domains are rejected", "[conf]") {
    SECTION("two hosts, differing only in case and trailing dot") {
        const auto e = errorFor(errorsOf(kMinimal + "[[hosts]]\ndomain = \"EXAMPLE.org.\"\n"),
                                "hosts[1].domain");
        CHECK(e.line == 9);
        CHECK(e.message == "\"example.org\" is already used by hosts[0].domain (line 7)");
    }
    SECTION("the chat service's domain is a host's") {
        const auto e = errorFor(errorsOf(kMinimal + "[modules.muc]\ndomain = \"Example.org\"\n"),
                                "modules.muc.domain");
        CHECK(e.line == 9);
        CHECK(e.message == "\"example.org\" is already used by hosts[0].domain (line 7)");
    }
    SECTION("a host at the chat service's default domain") {
        const auto e =
            errorFor(errorsOf(kMinimal + "[[hosts]]\ndomain = \"conference.example.org\"\n"),
                     "modules.muc.domain (by default conference.example.org)");
        CHECK(e.message ==
              "\"conference.example.org\" is already used by hosts[1].domain (line 9)");
        // Without the default, nothing clashes.
        const Config c = load(kMinimal +
                              "[[hosts]]\ndomain = \"conference.example.org\"\n"
                              "[modules.muc]\ndomain = \"rooms.example.org\"\n");
        CHECK(*c.module("muc").options.findString("domain") == "rooms.example.org");
    }
    SECTION("a static route to a local domain") {
        const auto e = errorFor(errorsOf(kMinimal + "[s2s.routes]\n\"Example.org\" = \"h:1\"\n"),
                                "s2s.routes.\"Example.org\"");
        CHECK(e.line == 9);
    }
    SECTION("two routes for the same domain") {
        const auto errors =
            errorsOf(kMinimal + "[s2s.routes]\n\"a.example\" = \"h:1\"\n\"A.example\" = \"h:2\"\n");
        CHECK(errorFor(errors, "s2s.routes.\"A.example\"").message ==
              "duplicate key \"a.example\"");
    }
}

TEST_CASE("listeners: default ports, duplicates and s2s", "[conf]") {
    SECTION("ports default by type") {
        const Config c = load(kMinimal +
                              "[[listeners]]\ntype = \"c2s\"\n"
                              "[[listeners]]\ntype = \"c2s_direct_tls\"\n"
                              "[[listeners]]\ntype = \"s2s\"\n"
                              "[[listeners]]\ntype = \"s2s_direct_tls\"\n");
        REQUIRE(c.listeners.size() == 4);
        CHECK(c.listeners[0].port == 5222);
        CHECK(c.listeners[1].port == 5223);
        CHECK(c.listeners[2].port == 5269);
        CHECK(c.listeners[3].port == 5270);
        CHECK(toString(c.listeners[3].type) == "s2s_direct_tls");
    }
    SECTION("an explicit port colliding with another type's default") {
        const auto e = errorFor(errorsOf(kMinimal + "[[listeners]]\ntype = \"c2s\"\n"
                                                    "[[listeners]]\ntype = \"s2s\"\nport = 5222\n"),
                                "listeners[1]");
        CHECK(e.line == 12);
        CHECK(e.message == "duplicate listener on 0.0.0.0:5222 (also listeners[0], line 8)");
    }
    SECTION("addresses are compared in canonical form") {
        const auto e =
            errorFor(errorsOf(kMinimal + "[[listeners]]\ntype = \"c2s\"\naddress = \"::0\"\n"
                                         "[[listeners]]\ntype = \"c2s\"\naddress = \"0::\"\n"),
                     "listeners[1]");
        CHECK_THAT(e.message, Catch::StartsWith("duplicate listener on [::]:5222"));
    }
    SECTION("the same port on different addresses is fine") {
        const Config c = load(kMinimal +
                              "[[listeners]]\ntype = \"c2s\"\naddress = \"127.0.0.1\"\n"
                              "[[listeners]]\ntype = \"c2s\"\naddress = \"::1\"\n");
        CHECK(c.listeners.size() == 2);
    }
    SECTION("with s2s disabled the default set has no s2s listener") {
        const Config c = load(kMinimal + "[s2s]\nenabled = false\n");
        REQUIRE(c.listeners.size() == 2);
        CHECK(c.listeners[0].type == ListenerType::C2s);
        CHECK(c.listeners[1].type == ListenerType::C2sDirectTls);
    }
    SECTION("an s2s listener with s2s disabled is an error") {
        const auto e =
            errorFor(errorsOf(kMinimal + "[s2s]\nenabled = false\n[[listeners]]\ntype = \"s2s\"\n"),
                     "listeners[0].type");
        CHECK(e.line == 11);
    }
    SECTION("an explicitly empty list means no listeners") {
        CHECK(load("listeners = []\n" + kMinimal).listeners.empty());
    }
}

TEST_CASE("extdisco services: credentials are a secret or a username", "[conf]") {
    const std::string service = "[[modules.extdisco.services]]\ntype = \"turn\"\nhost = \"t\"\n";
    CHECK(errorFor(errorsOf(kMinimal + service + "secret = \"s\"\nusername = \"u\"\n"),
                   "modules.extdisco.services[0].secret")
              .message ==
          "set either secret (credentials made per user) or username and password (the same "
          "for everyone), not both");
    errorFor(errorsOf(kMinimal + service + "secret = \"s\"\npassword = \"p\"\n"),
             "modules.extdisco.services[0].secret");
    CHECK(errorFor(errorsOf(kMinimal + service + "password = \"p\"\n"),
                   "modules.extdisco.services[0].password")
              .message == "a password needs a username");
    CHECK(errorFor(errorsOf(kMinimal + "[[modules.extdisco.services]]\ntype = \"turn\"\n"),
                   "modules.extdisco.services[0].host")
              .message == "missing required key");
    CHECK_THAT(errorFor(errorsOf(kMinimal + "[[modules.extdisco.services]]\ntype = \"tun\"\n"
                                            "host = \"t\"\n"),
                        "modules.extdisco.services[0].type")
                   .message,
               Catch::StartsWith("must be one of \"stun\", \"stuns\", \"turn\", \"turns\""));
    load(kMinimal + service + "username = \"u\"\n");
    load(kMinimal + service + "username = \"u\"\npassword = \"p\"\n");
}

TEST_CASE("components: entries, their listener and their domains", "[conf]") {
    const std::string component =
        "[[components]]\ndomain = \"IRC.Example.org\"\nsecret = \"s3cr3t-value\"\n";
    SECTION("an entry is read, its domain normalised; the default listeners get one for it") {
        const Config c = load(kMinimal + component);
        REQUIRE(c.components.size() == 1);
        CHECK(c.components[0].domain == "irc.example.org");
        CHECK(c.components[0].secret == "s3cr3t-value");
        REQUIRE(c.listeners.size() == 4);
        CHECK(c.listeners[3].type == ListenerType::Component);
        CHECK(c.listeners[3].address == "127.0.0.1");
        CHECK(c.listeners[3].port == 5347);
        CHECK(toString(c.listeners[3].type) == "component");
    }
    SECTION("without components the default listeners have none") {
        for (const ListenerConfig& l : load(kMinimal).listeners) {
            CHECK(l.type != ListenerType::Component);
        }
    }
    SECTION("a component listener without components") {
        const auto e = errorFor(errorsOf(kMinimal + "[[listeners]]\ntype = \"component\"\n"),
                                "listeners[0].type");
        CHECK(e.line == 9);
        CHECK(e.message == "a component listener needs at least one [[components]] entry");
    }
    SECTION("components without a component listener") {
        const auto e = errorFor(errorsOf(kMinimal + "[[listeners]]\ntype = \"c2s\"\n" + component),
                                "components");
        CHECK(e.line == 10);
        CHECK(e.message == "no listener of type \"component\" accepts these components");
    }
    SECTION("an explicit component listener") {
        const Config c = load(kMinimal + component +
                              "[[listeners]]\ntype = \"component\"\naddress = \"::1\"\nport = "
                              "5400\n");
        REQUIRE(c.listeners.size() == 1);
        CHECK(c.listeners[0].port == 5400);
    }
    SECTION("the secret is required and not empty, and never shown in an error") {
        CHECK(errorFor(errorsOf(kMinimal + "[[components]]\ndomain = \"irc.example.org\"\n"),
                       "components[0].secret")
                  .message == "missing required key");
        CHECK_FALSE(errorsOf(kMinimal + "[[components]]\ndomain = \"irc.example.org\"\n"
                                        "secret = \"\"\n")
                        .empty());
        const auto e = errorFor(
            errorsOf(kMinimal + "[[components]]\ndomain = \"irc.example.org\"\nsecret = 424242\n"),
            "components[0].secret");
        CHECK_THAT(e.message, !Catch::Contains("424242"));
    }
    SECTION("a component's domain may not be a host's or another component's") {
        const auto e = errorFor(
            errorsOf(kMinimal + "[[components]]\ndomain = \"EXAMPLE.org\"\nsecret = \"x\"\n"),
            "components[0].domain");
        CHECK(e.message == "\"example.org\" is already used by hosts[0].domain (line 7)");
        errorFor(errorsOf(kMinimal + component + component), "components[1].domain");
    }
}

TEST_CASE("certificates: pairs, fallback and when they are needed", "[conf]") {
    const std::string noTls = "[database]\ndsn = \"\"\n[[hosts]]\ndomain = \"example.org\"\n";
    SECTION("a host's own pair wins over [tls]") {
        const Config c = load(kMinimal + "certificate = \"/own.pem\"\nkey = \"/own.key\"\n");
        CHECK(c.hosts[0].certificate == "/own.pem");
        CHECK(c.hosts[0].key == "/own.key");
    }
    SECTION("a certificate without its key") {
        const auto errors = errorsOf(kMinimal + "certificate = \"/own.pem\"\n");
        const auto e = errorFor(errors, "hosts[0].key");
        CHECK(e.line == 8);
        const auto t = errorFor(errorsOf("[tls]\nkey = \"/k\"\n" + noTls), "tls.certificate");
        CHECK(t.line == 2);
    }
    SECTION("no certificate anywhere") {
        const auto e = errorFor(errorsOf(noTls), "hosts[0].certificate");
        CHECK(e.line == 3);
        CHECK_THAT(e.message, Catch::Contains("auth.allow_plaintext = false"));
        CHECK_FALSE(errorsOf(noTls + "[auth]\nallow_plaintext = true\n").empty());  // s2s still on
    }
    SECTION("no certificate is fine when nothing uses TLS") {
        const Config c = load("listeners = [{type = \"c2s\"}]\n" + noTls +
                              "[auth]\nallow_plaintext = true\n[s2s]\nenabled = false\n");
        CHECK_FALSE(c.hosts[0].certificate.has_value());
        // ... but not with a direct TLS listener.
        const auto e =
            errorFor(errorsOf(noTls + "[auth]\nallow_plaintext = true\n[s2s]\nenabled = false\n"),
                     "hosts[0].certificate");
        CHECK_THAT(e.message, Catch::Contains("direct TLS"));
    }
}

TEST_CASE("rules across keys", "[conf]") {
    SECTION("the pre-auth stanza limit may not exceed the general one") {
        const auto e = errorFor(
            errorsOf(kMinimal + "[limits]\nmax_stanza_bytes = 20000\nmax_stanza_bytes_preauth = "
                                "30000\n"),
            "limits.max_stanza_bytes_preauth");
        CHECK(e.line == 10);
        CHECK(e.message == "must not exceed limits.max_stanza_bytes (20000)");
        // Against the default maximum too.
        errorFor(errorsOf(kMinimal + "[limits]\nmax_stanza_bytes_preauth = 300000\n"),
                 "limits.max_stanza_bytes_preauth");
    }
    SECTION("dialback without certificate needs dialback") {
        const auto e =
            errorFor(errorsOf(kMinimal + "[s2s]\ndialback = false\ndialback_without_certificate = "
                                         "true\n"),
                     "s2s.dialback_without_certificate");
        CHECK(e.line == 10);
    }
    SECTION("a short dialback secret") {
        CHECK(errorFor(errorsOf(kMinimal + "[s2s]\ndialback_secret = \"short\"\n"),
                       "s2s.dialback_secret")
                  .message == "must be at least 16 bytes long");
    }
    SECTION("auth.mechanisms may not be empty") {
        CHECK(
            errorFor(errorsOf(kMinimal + "[auth]\nmechanisms = []\n"), "auth.mechanisms").message ==
            "must not be empty");
    }
    SECTION("route keys with dots must be quoted") {
        const auto e = errorFor(errorsOf(kMinimal + "[s2s.routes]\nexample.net = \"h:5269\"\n"),
                                "s2s.routes.example");
        CHECK_THAT(e.message, Catch::Contains("quotes"));
    }
}

TEST_CASE("loadConfigFile reads a file and names it in errors", "[conf]") {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path();
    const fs::path path = dir / ("corvid_conf_test_" + std::to_string(::getpid()) + ".toml");
    {
        std::ofstream out(path);
        out << kMinimal << "[limits]\nmax_depht = 3\n";
    }
    auto result = loadConfigFile(path.string());
    REQUIRE_FALSE(result.has_value());
    REQUIRE(result.error().size() == 1);
    CHECK(result.error()[0].format() == path.string() +
                                            ":9:1: limits.max_depht: unknown key (did you mean "
                                            "limits.max_depth?)");
    {
        std::ofstream out(path);
        out << kMinimal;
    }
    auto ok = loadConfigFile(path.string());
    REQUIRE(ok.has_value());
    CHECK(ok->sourceName == path.string());
    fs::remove(path);

    auto missing = loadConfigFile((dir / "corvid_no_such_file.toml").string());
    REQUIRE_FALSE(missing.has_value());
    REQUIRE(missing.error().size() == 1);
    CHECK(missing.error()[0].line == 0);
    CHECK(missing.error()[0].format() ==
          (dir / "corvid_no_such_file.toml").string() + ": cannot read: No such file or directory");
}

TEST_CASE("a configuration file others may read or write is warned about", "[conf]") {
    namespace fs = std::filesystem;
    const fs::path path =
        fs::temp_directory_path() / ("corvid_conf_mode_" + std::to_string(::getpid()) + ".toml");
    {
        std::ofstream out(path);
        out << kMinimal;
    }
    auto warningFor = [&](fs::perms mode) {
        fs::permissions(path, mode);
        return permissionWarning(path.string());
    };
    using P = fs::perms;
    CHECK_FALSE(warningFor(P::owner_read | P::owner_write).has_value());
    CHECK_FALSE(warningFor(P::owner_read).has_value());
    // Execute bits let nobody read the DSN.
    CHECK_FALSE(warningFor(P::owner_read | P::group_exec | P::others_exec).has_value());

    const auto groupRead = warningFor(P::owner_read | P::owner_write | P::group_read);
    REQUIRE(groupRead.has_value());
    CHECK(*groupRead == path.string() +
                            " is readable by group (mode 0640), but it holds the database DSN and "
                            "may hold secrets: make it mode 600, owned by the user corvid runs as");
    CHECK_THAT(*warningFor(P::owner_read | P::owner_write | P::group_read | P::others_read),
               Catch::Contains(" is readable by group and others (mode 0644)"));
    CHECK_THAT(*warningFor(P::owner_read | P::others_write),
               Catch::Contains(" is writable by others (mode 0402)"));
    CHECK_THAT(*warningFor(P::owner_read | P::group_read | P::group_write),
               Catch::Contains(" is readable and writable by group (mode 0460)"));
    CHECK_THAT(*warningFor(P::owner_read | P::group_read | P::group_write | P::others_read),
               Catch::Contains(" is readable by group and others, writable by group (mode 0464)"));

    fs::remove(path);
    // A file that is not there is for the loader to report.
    CHECK_FALSE(permissionWarning(path.string()).has_value());
}

TEST_CASE("the upload module needs its URL and an HTTP listener", "[conf]") {
    const std::string listener = "[[listeners]]\ntype = \"https\"\nport = 5443\n";
    SECTION("both there") {
        const Config c = load(kMinimal + listener +
                              "[modules.upload]\nenabled = true\n"
                              "url_base = \"https://upload.example.org:5443/upload/\"\n");
        CHECK(c.module("upload").enabled);
        CHECK(c.listeners.back().type == ListenerType::Https);
        CHECK(c.module("upload").options.getInt("quota_bytes") == 104857600);
    }
    SECTION("no url_base") {
        const auto e =
            errorFor(errorsOf(kMinimal + listener + "[modules.upload]\nenabled = true\n"),
                     "modules.upload.url_base");
        CHECK_THAT(e.message, Catch::Contains("public URL"));
    }
    SECTION("a url_base not ending in /upload/") {
        const auto e = errorFor(errorsOf(kMinimal + listener +
                                         "[modules.upload]\nenabled = true\n"
                                         "url_base = \"https://upload.example.org/files/\"\n"),
                                "modules.upload.url_base");
        CHECK_THAT(e.message, Catch::Contains("/upload/"));
    }
    SECTION("no http listener") {
        const auto e =
            errorFor(errorsOf(kMinimal + "[modules.upload]\nenabled = true\n"
                                         "url_base = \"https://upload.example.org/upload/\"\n"),
                     "modules.upload.enabled");
        CHECK_THAT(e.message, Catch::Contains("http or https"));
    }
}

TEST_CASE("http: WebSocket origins are checked, the other keys read", "[conf]") {
    SECTION("an origin with a path is refused at its line") {
        const auto e = errorFor(
            errorsOf(kMinimal + "[http]\nwebsocket_origins = [\"https://chat.example/app\"]\n"),
            "http.websocket_origins");
        CHECK(e.line == 9);
        CHECK_THAT(e.message, Catch::Contains("is not an origin"));
    }
    SECTION("a bare host name is not an origin either") {
        errorFor(errorsOf(kMinimal + "[http]\nwebsocket_origins = [\"chat.example\"]\n"),
                 "http.websocket_origins");
    }
    SECTION("valid values") {
        const Config c = load(kMinimal +
                              "[http]\n"
                              "websocket = false\n"
                              "websocket_origins = [\"https://chat.example:8443\", \"*\"]\n"
                              "trust_loopback_proxy = false\n"
                              "public_url = \"https://chat.example\"\n");
        CHECK_FALSE(c.http.websocket);
        CHECK(c.http.websocketOrigins ==
              std::vector<std::string>{"https://chat.example:8443", "*"});
        CHECK_FALSE(c.http.trustLoopbackProxy);
        CHECK(c.http.publicUrl == "https://chat.example");
    }
    SECTION("defaults") {
        const Config c = load(kMinimal);
        CHECK(c.http.websocket);
        CHECK(c.http.websocketOrigins == std::vector<std::string>{"*"});
        CHECK(c.http.trustLoopbackProxy);
        CHECK_FALSE(c.http.publicUrl);
    }
}
