#include "sasl/scram.h"

#include <catch2/catch.hpp>

#include <cctype>
#include <functional>

#include "sasl/base64.h"
#include "scram_test_client.h"

using namespace corvid::sasl;
using corvid::sasl::test::parseAttributes;
using corvid::sasl::test::pencilCredentials;
using corvid::sasl::test::ScramClient;
using Kind = Step::Kind;

namespace {

const std::string kExporter = "exporter-data-0123456789abcdef!!";
const std::string kEndPoint = "end-point-hash-0123456789abcdef!";

MechanismOptions plainOptions() {
    MechanismOptions o;
    o.fakeSaltSecret = "fake-salt-secret";
    return o;
}

/// A TLS connection with both channel bindings, where every SCRAM variant was offered.
MechanismOptions tlsOptions() {
    MechanismOptions o = plainOptions();
    o.bindings.tlsExporter = kExporter;
    o.bindings.tlsServerEndPoint = kEndPoint;
    o.offered = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"};
    return o;
}

/// Drives an exchange up to the server-first-message; returns it (or fails the test).
std::string toServerFirst(Mechanism& m, const ScramClient& c,
                          std::optional<Credentials> creds = pencilCredentials()) {
    Step s = m.start(c.firstMessage());
    REQUIRE(s.kind == Kind::NeedCredentials);
    s = m.provideCredentials(std::move(creds));
    REQUIRE(s.kind == Kind::Challenge);
    return s.data;
}

/// A full exchange with an honest client; returns the final step.
Step runExchange(Mechanism& m, ScramClient& c,
                 std::optional<Credentials> creds = pencilCredentials()) {
    const std::string serverFirst = toServerFirst(m, c, std::move(creds));
    return m.respond(c.finalMessage(serverFirst));
}

void checkFailure(const Step& s, Failure f) {
    INFO("reason: " << s.data);
    REQUIRE(s.kind == Kind::Failure);
    CHECK(s.failure == f);
}

}  // namespace

TEST_CASE("SCRAM-SHA-1: the RFC 5802 §5 example", "[sasl]") {
    MechanismOptions o = plainOptions();
    o.testServerNonce = "3rfcNHYJY1ZVvWVs7j";
    ScramMechanism m(Hash::Sha1, false, o);
    CHECK(m.name() == "SCRAM-SHA-1");

    Step s = m.start("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
    REQUIRE(s.kind == Kind::NeedCredentials);
    CHECK(s.username == "user");
    CHECK(s.authzid.empty());

    Credentials creds;
    creds.sha1 =
        deriveScramKeys(Hash::Sha1, "pencil", decodeBase64("QSXCR+Q6sek8bf92").value(), 4096);
    s = m.provideCredentials(creds);
    REQUIRE(s.kind == Kind::Challenge);
    CHECK(s.data == "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096");

    s = m.respond(
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
    REQUIRE(s.kind == Kind::Success);
    CHECK(s.data == "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
    CHECK(s.username == "user");
    CHECK(m.username() == "user");
    CHECK(m.authzid().empty());
}

TEST_CASE("SCRAM-SHA-256: the RFC 7677 §3 example", "[sasl]") {
    MechanismOptions o = plainOptions();
    o.testServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    ScramMechanism m(Hash::Sha256, false, o);
    CHECK(m.name() == "SCRAM-SHA-256");

    REQUIRE(m.start("n,,n=user,r=rOprNGfwEbeRWgbNEkqO").kind == Kind::NeedCredentials);
    Credentials creds;
    creds.sha256 = deriveScramKeys(Hash::Sha256, "pencil",
                                   decodeBase64("W22ZaJ0SNY7soEsUEjb6gQ==").value(), 4096);
    Step s = m.provideCredentials(creds);
    REQUIRE(s.kind == Kind::Challenge);
    CHECK(s.data ==
          "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,"
          "i=4096");
    s = m.respond(
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    REQUIRE(s.kind == Kind::Success);
    CHECK(s.data == "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

TEST_CASE("SCRAM-SHA-1-PLUS with XEP-0474: the XEP's example exchange", "[sasl]") {
    MechanismOptions o = plainOptions();
    o.bindings.tlsExporter = "THIS IS FAKE CB DATA";
    o.bindings.tlsServerEndPoint = "something else";
    o.offered = {"SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"};
    o.offeredChannelBindings = {"tls-server-end-point", "tls-exporter"};
    o.testServerNonce = "a09117a6-ac50-4f2f-93f1-93799c2bddf6";
    ScramMechanism m(Hash::Sha1, true, o);
    CHECK(m.name() == "SCRAM-SHA-1-PLUS");

    REQUIRE(m.start("p=tls-exporter,,n=user,r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6").kind ==
            Kind::NeedCredentials);
    Credentials creds;
    creds.sha1 =
        deriveScramKeys(Hash::Sha1, "pencil", decodeBase64("QSXCR+Q6sek8bf92").value(), 4096);
    Step s = m.provideCredentials(creds);
    REQUIRE(s.kind == Kind::Challenge);
    CHECK(s.data ==
          "r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6a09117a6-ac50-4f2f-93f1-93799c2bddf6,"
          "s=QSXCR+Q6sek8bf92,i=4096,h=G6k/rBLDqgOhRRaCuuatSDFkJ08=");
    // The client's unknown optional extension x= is ignored (but covered by the proof).
    s = m.respond(
        "c=cD10bHMtZXhwb3J0ZXIsLFRISVMgSVMgRkFLRSBDQiBEQVRB,"
        "r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6a09117a6-ac50-4f2f-93f1-93799c2bddf6,"
        "x=19C6532F-1CF4-4A27-A18D-DC9CEA41BBB3,p=M/SIDjT+dfcxUh89jZEypRvFxB4=");
    REQUIRE(s.kind == Kind::Success);
    CHECK(s.data == "v=MQrMPvv7yv4x4Cq4W4Ih25EqS2c=");
}

TEST_CASE("XEP-0474 hash: sorted by octet, 0x1E and 0x1F separators", "[sasl]") {
    CHECK(downgradeProtectionHash(Hash::Sha1, {"SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"},
                                  {"tls-server-end-point", "tls-exporter"}) ==
          "G6k/rBLDqgOhRRaCuuatSDFkJ08=");
    CHECK(downgradeProtectionHash(Hash::Sha256, {"SCRAM-SHA-256", "PLAIN"}, {}) ==
          encodeBase64(digest(Hash::Sha256, "PLAIN\x1ESCRAM-SHA-256")));
    CHECK(downgradeProtectionHash(Hash::Sha256, {"PLAIN"}, {"tls-exporter"}) ==
          encodeBase64(digest(Hash::Sha256, "PLAIN\x1Ftls-exporter")));
}

TEST_CASE("XEP-0474 h= follows the options", "[sasl]") {
    ScramClient c;
    SECTION("sent when the offered list is known") {
        MechanismOptions o = tlsOptions();
        ScramMechanism m(Hash::Sha256, false, o);
        const auto attrs = parseAttributes(toServerFirst(m, c));
        CHECK(attrs.at('h') ==
              downgradeProtectionHash(Hash::Sha256, o.offered, o.offeredChannelBindings));
    }
    SECTION("not sent when switched off or when nothing is known of the offer") {
        MechanismOptions o = tlsOptions();
        o.downgradeProtection = false;
        ScramMechanism m1(Hash::Sha256, false, o);
        CHECK(parseAttributes(toServerFirst(m1, c)).count('h') == 0);
        ScramMechanism m2(Hash::Sha256, false, plainOptions());
        CHECK(parseAttributes(toServerFirst(m2, c)).count('h') == 0);
    }
}

TEST_CASE("full SCRAM exchanges with an honest client", "[sasl]") {
    ScramClient c;
    SECTION("SCRAM-SHA-256 with a random server nonce") {
        ScramMechanism m(Hash::Sha256, false, plainOptions());
        const std::string serverFirst = toServerFirst(m, c);
        const auto attrs = parseAttributes(serverFirst);
        const std::string& nonce = attrs.at('r');
        REQUIRE(nonce.starts_with(c.clientNonce));
        const std::string serverPart = nonce.substr(c.clientNonce.size());
        CHECK(serverPart.size() >= 24);  // >= 18 random bytes, base64
        CHECK(serverPart.find(',') == std::string::npos);
        CHECK(attrs.at('s') == encodeBase64(pencilCredentials().sha256->salt));
        CHECK(attrs.at('i') == "4096");
        const Step s = m.respond(c.finalMessage(serverFirst));
        REQUIRE(s.kind == Kind::Success);
        CHECK(c.verifyServerFinal(s.data));

        ScramMechanism other(Hash::Sha256, false, plainOptions());
        CHECK(parseAttributes(toServerFirst(other, c)).at('r') != nonce);
    }
    SECTION("SCRAM-SHA-1 without an initial response: empty challenge first") {
        ScramMechanism m(Hash::Sha1, false, plainOptions());
        c.hash = Hash::Sha1;
        Step s = m.start(std::nullopt);
        REQUIRE(s.kind == Kind::Challenge);
        CHECK(s.data.empty());
        s = m.respond(c.firstMessage());
        REQUIRE(s.kind == Kind::NeedCredentials);
        s = m.provideCredentials(pencilCredentials());
        REQUIRE(s.kind == Kind::Challenge);
        s = m.respond(c.finalMessage(s.data));
        REQUIRE(s.kind == Kind::Success);
        CHECK(c.verifyServerFinal(s.data));
    }
    SECTION("SCRAM-SHA-256-PLUS with tls-exporter") {
        ScramMechanism m(Hash::Sha256, true, tlsOptions());
        c.gs2Header = "p=tls-exporter,,";
        c.cbData = kExporter;
        const Step s = runExchange(m, c);
        REQUIRE(s.kind == Kind::Success);
        CHECK(c.verifyServerFinal(s.data));
    }
    SECTION("SCRAM-SHA-1-PLUS with tls-server-end-point") {
        ScramMechanism m(Hash::Sha1, true, tlsOptions());
        c.hash = Hash::Sha1;
        c.gs2Header = "p=tls-server-end-point,,";
        c.cbData = kEndPoint;
        const Step s = runExchange(m, c);
        REQUIRE(s.kind == Kind::Success);
        CHECK(c.verifyServerFinal(s.data));
    }
    SECTION("'n' on a plain variant while -PLUS is offered is fine") {
        ScramMechanism m(Hash::Sha256, false, tlsOptions());
        CHECK(runExchange(m, c).kind == Kind::Success);
    }
    SECTION("'y' when no -PLUS variant was offered is fine") {
        MechanismOptions o = plainOptions();
        o.offered = {"SCRAM-SHA-256", "SCRAM-SHA-1"};
        ScramMechanism m(Hash::Sha256, false, o);
        c.gs2Header = "y,,";
        CHECK(runExchange(m, c).kind == Kind::Success);
    }
    SECTION("authzid and escaped usernames are decoded and passed up") {
        ScramMechanism m(Hash::Sha256, false, plainOptions());
        c.gs2Header = "n,a=admin@x=2Cy=3Dz,";
        c.username = "us=2Cer=3D";
        Step s = m.start(c.firstMessage());
        REQUIRE(s.kind == Kind::NeedCredentials);
        CHECK(s.username == "us,er=");
        CHECK(s.authzid == "admin@x,y=z");
        s = m.provideCredentials(pencilCredentials());
        REQUIRE(s.kind == Kind::Challenge);
        s = m.respond(c.finalMessage(s.data));
        REQUIRE(s.kind == Kind::Success);
        CHECK(s.username == "us,er=");
        CHECK(s.authzid == "admin@x,y=z");
        CHECK(m.username() == "us,er=");
        CHECK(m.authzid() == "admin@x,y=z");
    }
    SECTION("extensions in client-first are ignored") {
        ScramMechanism m(Hash::Sha256, false, plainOptions());
        c.clientNonce = "abc,x=something,y=else";
        CHECK(runExchange(m, c).kind == Kind::Success);
    }
}

TEST_CASE("SCRAM client-first-message: every malformed field is refused", "[sasl]") {
    const char* const kBad[] = {
        "",
        "n",
        "n,",
        "n,,",
        "x,,n=user,r=abc",       // unknown gs2-cbind-flag
        "F,n,,n=user,r=abc",     // GS2 non-standard flag: not part of SCRAM
        "N,,n=user,r=abc",       // flags are case-sensitive
        "n,n=user,r=abc",        // authzid field missing
        "n,b=x,n=user,r=abc",    // not an authzid
        "n,a=,n=user,r=abc",     // empty authzid
        "n,a=x=2,n=user,r=abc",  // bad escape in authzid
        "n,,r=abc,n=user",       // n= must come before r=
        "n,,n=user",             // r= missing
        "n,,n=user,",            // empty attribute where r= belongs
        "n,,user,r=abc",         // n= missing
        "n,,n=,r=abc",           // empty username
        "n,,n=us=2Der,r=abc",    // =2D is not one of the two escapes
        "n,,n=us=2cer,r=abc",    // escapes are upper case
        "n,,n=user=,r=abc",      // truncated escape
        "n,,n=user=3,r=abc",     // truncated escape
        "n,,n=us=er,r=abc",      // bare "="
        "n,,n=us\xFF"
        "er,r=abc",  // invalid UTF-8
        "n,,n=us\xC0\xAF"
        "er,r=abc",                      // overlong UTF-8
        "n,,r=",                         // no username
        "n,,n=user,r=",                  // empty nonce
        "n,,n=user,r=ab c",              // nonce not printable
        "n,,n=user,r=ab\x7F",            // nonce not printable
        "n,,n=user,r=abc,bogus",         // not an attr-val extension
        "n,,n=user,r=abc,1=x",           // extension names are letters
        "n,,n=user,r=abc,x=",            // empty extension value
        "n,,n=user,r=abc,",              // empty trailing extension
        "n,,n=user,r=abc,x=\xFF",        // extension value not UTF-8
        "p=tls-exporter,,n=user,r=abc",  // p= on a plain variant (RFC 5802 §6)
        "p=,,n=user,r=abc",
    };
    for (const char* bad : kBad) {
        INFO("client-first: " << bad);
        ScramMechanism m(Hash::Sha256, false, plainOptions());
        checkFailure(m.start(std::string_view(bad)), Failure::MalformedRequest);
        // Once failed, it stays failed.
        checkFailure(m.respond("n,,n=user,r=abc"), Failure::MalformedRequest);
        checkFailure(m.provideCredentials(pencilCredentials()), Failure::MalformedRequest);
    }
    SECTION("NUL in a username") {
        ScramMechanism m(Hash::Sha256, false, plainOptions());
        checkFailure(m.start(std::string_view("n,,n=us\0er,r=abc", 16)), Failure::MalformedRequest);
    }
}

TEST_CASE("SCRAM: an unknown mandatory extension m= is refused (RFC 5802 §5.1)", "[sasl]") {
    ScramMechanism m(Hash::Sha256, false, plainOptions());
    const Step s = m.start("n,,m=ext,n=user,r=abc");
    checkFailure(s, Failure::MalformedRequest);
    CHECK(s.data == "extensions-not-supported");
}

TEST_CASE("SCRAM: every prefix of a client-first-message parses or fails cleanly", "[sasl]") {
    const std::string full = "p=tls-exporter,a=x=2Cy,n=us=3Der,r=abcdef,x=ext";
    for (std::size_t n = 0; n <= full.size(); ++n) {
        INFO("prefix: " << full.substr(0, n));
        ScramMechanism m(Hash::Sha256, true, tlsOptions());
        const Step s = m.start(std::string_view(full).substr(0, n));
        if (s.kind == Kind::NeedCredentials) {
            CHECK(s.username == "us=er");
            CHECK(s.authzid == "x,y");
        } else {
            checkFailure(s, Failure::MalformedRequest);
        }
    }
}

TEST_CASE("SCRAM channel-binding rules (RFC 5802 §6, RFC 9266, RFC 5929)", "[sasl]") {
    SECTION("'y' while a -PLUS variant is offered: a downgrade, refused") {
        ScramMechanism m(Hash::Sha256, false, tlsOptions());
        const Step s = m.start("y,,n=user,r=abc");
        checkFailure(s, Failure::NotAuthorized);
        CHECK(s.data == "server-does-support-channel-binding");
    }
    SECTION("-PLUS needs p=") {
        for (const char* msg : {"n,,n=user,r=abc", "y,,n=user,r=abc"}) {
            ScramMechanism m(Hash::Sha256, true, tlsOptions());
            checkFailure(m.start(msg), Failure::MalformedRequest);
        }
    }
    SECTION("unknown channel-binding type") {
        ScramMechanism m(Hash::Sha256, true, tlsOptions());
        const Step s = m.start("p=tls-unknown,,n=user,r=abc");
        checkFailure(s, Failure::MalformedRequest);
        CHECK(s.data == "unsupported-channel-binding-type");
    }
    SECTION("tls-unique only when its data is there (TLS 1.2 with EMS)") {
        ScramMechanism without(Hash::Sha256, true, tlsOptions());
        checkFailure(without.start("p=tls-unique,,n=user,r=abc"), Failure::MalformedRequest);
        MechanismOptions o = tlsOptions();
        o.bindings.tlsUnique = "finished-message";
        ScramMechanism m(Hash::Sha256, true, o);
        ScramClient c;
        c.gs2Header = "p=tls-unique,,";
        c.cbData = "finished-message";
        const Step s = runExchange(m, c);
        REQUIRE(s.kind == Kind::Success);
        CHECK(c.verifyServerFinal(s.data));
    }
    SECTION("a known type whose data this connection lacks") {
        MechanismOptions o = tlsOptions();
        o.bindings.tlsExporter.clear();  // e.g. TLS 1.2 without extended master secret
        ScramMechanism m(Hash::Sha256, true, o);
        checkFailure(m.start("p=tls-exporter,,n=user,r=abc"), Failure::MalformedRequest);
        ScramMechanism ok(Hash::Sha256, true, o);
        CHECK(ok.start("p=tls-server-end-point,,n=user,r=abc").kind == Kind::NeedCredentials);
    }
    SECTION("wrong channel-binding data") {
        ScramMechanism m(Hash::Sha256, true, tlsOptions());
        ScramClient c;
        c.gs2Header = "p=tls-exporter,,";
        c.cbData = kEndPoint;  // the other type's data
        const Step s = runExchange(m, c);
        checkFailure(s, Failure::NotAuthorized);
        CHECK(s.data == "channel-bindings-dont-match");
    }
    SECTION("-PLUS with c= carrying only the gs2-header") {
        ScramMechanism m(Hash::Sha256, true, tlsOptions());
        ScramClient c;
        c.gs2Header = "p=tls-exporter,,";
        const std::string serverFirst = toServerFirst(m, c);
        const std::string r = parseAttributes(serverFirst).at('r');
        const Step s =
            m.respond(c.prove(serverFirst, "c=" + encodeBase64("p=tls-exporter,,") + ",r=" + r));
        checkFailure(s, Failure::NotAuthorized);
    }
    SECTION("c= must repeat the gs2-header exactly") {
        const char* const kOther[] = {"y,,", "n,a=user,", "p=tls-exporter,,", "n,", ""};
        for (const char* other : kOther) {
            INFO("c= of: " << other);
            ScramMechanism m(Hash::Sha256, false, plainOptions());
            ScramClient c;
            const std::string serverFirst = toServerFirst(m, c);
            const std::string r = parseAttributes(serverFirst).at('r');
            const Step s = m.respond(c.prove(serverFirst, "c=" + encodeBase64(other) + ",r=" + r));
            checkFailure(s, Failure::NotAuthorized);
        }
    }
}

TEST_CASE("SCRAM client-final-message: nonce and proof checks", "[sasl]") {
    ScramMechanism m(Hash::Sha256, false, plainOptions());
    ScramClient c;
    const std::string serverFirst = toServerFirst(m, c);
    const std::string r = parseAttributes(serverFirst).at('r');
    const std::string cb = "c=" + c.channelBinding();

    SECTION("the nonce must be exactly the one the server sent") {
        // Each has a proof that is valid for what it says, so only the nonce check can refuse.
        const std::string kNonces[] = {c.clientNonce, r + "x", r.substr(0, r.size() - 1),
                                       "other" + r.substr(c.clientNonce.size()),
                                       c.clientNonce + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
        for (const auto& nonce : kNonces) {
            INFO("nonce: " << nonce);
            ScramMechanism fresh(Hash::Sha256, false, plainOptions());
            const std::string sf = toServerFirst(fresh, c);
            checkFailure(fresh.respond(c.prove(sf, cb + ",r=" + nonce)), Failure::NotAuthorized);
        }
    }
    SECTION("a wrong proof") {
        std::string msg = c.finalMessage(serverFirst);
        auto proof = decodeBase64(msg.substr(msg.rfind("p=") + 2)).value();
        proof[0] = static_cast<char>(proof[0] ^ 1);
        msg = msg.substr(0, msg.rfind("p=") + 2) + encodeBase64(proof);
        const Step s = m.respond(msg);
        checkFailure(s, Failure::NotAuthorized);
        CHECK(s.data == "invalid-proof");
        CHECK(m.username().empty());
    }
    SECTION("a wrong password") {
        c.password = "pencil2";
        checkFailure(m.respond(c.finalMessage(serverFirst)), Failure::NotAuthorized);
    }
    SECTION("any single changed byte of an honest client-final-message fails") {
        // A fixed server nonce makes every fresh exchange expect the same client-final.
        MechanismOptions o = plainOptions();
        o.testServerNonce = "fixed-server-nonce";
        ScramMechanism first(Hash::Sha256, false, o);
        const std::string sf = toServerFirst(first, c);
        const std::string honest = c.finalMessage(sf);
        REQUIRE(first.respond(honest).kind == Kind::Success);
        for (std::size_t i = 0; i < honest.size(); ++i) {
            for (char replacement : {'A', '0', ',', '=', '\0'}) {
                if (honest[i] == replacement) {
                    continue;
                }
                std::string msg = honest;
                msg[i] = replacement;
                INFO("changed byte " << i << ": " << msg);
                ScramMechanism fresh(Hash::Sha256, false, o);
                REQUIRE(toServerFirst(fresh, c) == sf);
                CHECK(fresh.respond(msg).kind == Kind::Failure);
            }
        }
    }
    SECTION("every prefix of an honest client-final-message fails") {
        const std::string honest = c.finalMessage(serverFirst);
        for (std::size_t n = 0; n < honest.size(); ++n) {
            ScramMechanism fresh(Hash::Sha256, false, plainOptions());
            const std::string sf = toServerFirst(fresh, c);
            const std::string msg = c.finalMessage(sf);
            INFO("prefix: " << msg.substr(0, n));
            CHECK(fresh.respond(std::string_view(msg).substr(0, n)).kind == Kind::Failure);
        }
    }
}

TEST_CASE("SCRAM client-final-message: every malformed field is refused", "[sasl]") {
    ScramClient c;
    // Builds the bad message from the real nonce and channel binding; proofs are valid where a
    // proof is present, so the refusal comes from the syntax check.
    using Builder = std::function<std::string(ScramClient&, const std::string& sf,
                                              const std::string& cb, const std::string& r)>;
    const std::vector<std::pair<const char*, Builder>> kCases = {
        {"empty", [](auto&, auto&, auto&, auto&) { return std::string(); }},
        {"r before c", [](ScramClient& k, auto& sf, auto& cb,
                          auto& r) { return k.prove(sf, "r=" + r + "," + cb); }},
        {"c missing",
         [](ScramClient& k, auto& sf, auto&, auto& r) { return k.prove(sf, "r=" + r); }},
        {"r missing", [](ScramClient& k, auto& sf, auto& cb, auto&) { return k.prove(sf, cb); }},
        {"p missing", [](auto&, auto&, auto& cb, auto& r) { return cb + ",r=" + r; }},
        {"p not last", [](ScramClient& k, auto& sf, auto& cb,
                          auto& r) { return k.prove(sf, cb + ",r=" + r) + ",x=y"; }},
        {"p twice",
         [](ScramClient& k, auto& sf, auto& cb, auto& r) {
             const std::string once = k.prove(sf, cb + ",r=" + r);
             return once + once.substr(once.rfind(",p="));
         }},
        {"c not base64",
         [](ScramClient& k, auto& sf, auto&, auto& r) { return k.prove(sf, "c=biws!,r=" + r); }},
        {"c empty",
         [](ScramClient& k, auto& sf, auto&, auto& r) { return k.prove(sf, "c=,r=" + r + ""); }},
        {"bad extension", [](ScramClient& k, auto& sf, auto& cb,
                             auto& r) { return k.prove(sf, cb + ",r=" + r + ",bogus"); }},
        {"p not base64", [](auto&, auto&, auto& cb, auto& r) { return cb + ",r=" + r + ",p=*"; }},
        {"p empty", [](auto&, auto&, auto& cb, auto& r) { return cb + ",r=" + r + ",p="; }},
        {"p too short",
         [](auto&, auto&, auto& cb, auto& r) {
             return cb + ",r=" + r + ",p=" + encodeBase64(std::string(31, 'x'));
         }},
        {"p too long",
         [](auto&, auto&, auto& cb, auto& r) {
             return cb + ",r=" + r + ",p=" + encodeBase64(std::string(33, 'x'));
         }},
        {"extra comma",
         [](ScramClient& k, auto& sf, auto& cb, auto& r) { return k.prove(sf, cb + ",,r=" + r); }},
    };
    for (const auto& [what, build] : kCases) {
        INFO(what);
        ScramMechanism m(Hash::Sha256, false, plainOptions());
        const std::string sf = toServerFirst(m, c);
        const std::string r = parseAttributes(sf).at('r');
        const Step s = m.respond(build(c, sf, "c=" + c.channelBinding(), r));
        checkFailure(s, std::string_view(what) == "c empty" ? Failure::NotAuthorized
                                                            : Failure::MalformedRequest);
    }
}

TEST_CASE("SCRAM: an unknown user sees the same exchange and failure as a wrong password",
          "[sasl]") {
    MechanismOptions o = tlsOptions();
    o.fakeIterations = 4096;
    ScramClient c;
    c.username = "nobody";

    ScramMechanism unknown(Hash::Sha256, false, o);
    const std::string sfUnknown = toServerFirst(unknown, c, std::nullopt);
    ScramMechanism wrongPassword(Hash::Sha256, false, o);
    const std::string sfKnown = toServerFirst(wrongPassword, c);

    const auto a = parseAttributes(sfUnknown);
    const auto b = parseAttributes(sfKnown);
    CHECK(a.size() == b.size());
    CHECK(decodeBase64(a.at('s')).value().size() == decodeBase64(b.at('s')).value().size());
    CHECK(a.at('i') == b.at('i'));
    CHECK(a.at('h') == b.at('h'));
    CHECK(a.at('r').size() == b.at('r').size());

    c.password = "guess";
    const Step su = unknown.respond(c.finalMessage(sfUnknown));
    const Step sk = wrongPassword.respond(c.finalMessage(sfKnown));
    checkFailure(su, Failure::NotAuthorized);
    checkFailure(sk, Failure::NotAuthorized);
    CHECK(su.data == sk.data);

    SECTION("the invented salt is stable per username and secret") {
        ScramMechanism again(Hash::Sha256, false, o);
        CHECK(parseAttributes(toServerFirst(again, c, std::nullopt)).at('s') == a.at('s'));
        ScramClient other = c;
        other.username = "nobody2";
        ScramMechanism m2(Hash::Sha256, false, o);
        CHECK(parseAttributes(toServerFirst(m2, other, std::nullopt)).at('s') != a.at('s'));
        MechanismOptions o2 = o;
        o2.fakeSaltSecret = "another secret";
        ScramMechanism m3(Hash::Sha256, false, o2);
        CHECK(parseAttributes(toServerFirst(m3, c, std::nullopt)).at('s') != a.at('s'));
    }
    SECTION("the invented salt is keyed by the prepared username, like real accounts") {
        MechanismOptions lower = o;
        lower.prepUsername = [](std::string_view name) -> std::optional<std::string> {
            std::string out(name);
            for (char& ch : out) {
                ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            }
            return out;
        };
        ScramClient upper = c;
        upper.username = "NoBody";
        ScramMechanism m1(Hash::Sha256, false, lower);
        ScramMechanism m2(Hash::Sha256, false, lower);
        ScramMechanism m3(Hash::Sha256, false, o);
        const std::string saltLower = parseAttributes(toServerFirst(m1, c, std::nullopt)).at('s');
        CHECK(parseAttributes(toServerFirst(m2, upper, std::nullopt)).at('s') == saltLower);
        CHECK(parseAttributes(toServerFirst(m3, upper, std::nullopt)).at('s') != saltLower);
        CHECK(saltLower == a.at('s'));
    }
    SECTION("even the right password of nobody does not log in") {
        c.password = "pencil";
        ScramMechanism m(Hash::Sha256, false, o);
        const std::string sf = toServerFirst(m, c, std::nullopt);
        checkFailure(m.respond(c.finalMessage(sf)), Failure::NotAuthorized);
    }
    SECTION("the iteration count is the configured one") {
        MechanismOptions o2 = o;
        o2.fakeIterations = 10000;
        ScramMechanism m(Hash::Sha256, false, o2);
        CHECK(parseAttributes(toServerFirst(m, c, std::nullopt)).at('i') == "10000");
    }
}

TEST_CASE("SCRAM: stored credentials without this hash count as an unknown user", "[sasl]") {
    Credentials onlySha256;
    onlySha256.sha256 = pencilCredentials().sha256;
    ScramMechanism m(Hash::Sha1, false, plainOptions());
    ScramClient c;
    c.hash = Hash::Sha1;
    const std::string sf = toServerFirst(m, c, onlySha256);
    CHECK(parseAttributes(sf).at('s') ==
          encodeBase64(fakeScramKeys(Hash::Sha1, "fake-salt-secret", "user", 4096).salt));
    checkFailure(m.respond(c.finalMessage(sf)), Failure::NotAuthorized);
}

TEST_CASE("SCRAM: unusable stored keys are a temporary failure", "[sasl]") {
    Credentials broken = pencilCredentials();
    SECTION("iterations") {
        broken.sha256->iterations = 0;
    }
    SECTION("stored key length") {
        broken.sha256->storedKey.pop_back();
    }
    SECTION("server key length") {
        broken.sha256->serverKey += "x";
    }
    SECTION("hash mismatch") {
        broken.sha256->hash = Hash::Sha1;
    }
    ScramMechanism m(Hash::Sha256, false, plainOptions());
    REQUIRE(m.start("n,,n=user,r=abc").kind == Kind::NeedCredentials);
    checkFailure(m.provideCredentials(broken), Failure::TemporaryAuthFailure);
}

TEST_CASE("SCRAM: calls out of turn fail", "[sasl]") {
    ScramClient c;
    SECTION("respond before start") {
        ScramMechanism m(Hash::Sha256, false, plainOptions());
        checkFailure(m.respond(c.firstMessage()), Failure::MalformedRequest);
    }
    SECTION("credentials before client-first") {
        ScramMechanism m(Hash::Sha256, false, plainOptions());
        checkFailure(m.provideCredentials(pencilCredentials()), Failure::MalformedRequest);
    }
    SECTION("respond while waiting for credentials") {
        ScramMechanism m(Hash::Sha256, false, plainOptions());
        REQUIRE(m.start(c.firstMessage()).kind == Kind::NeedCredentials);
        checkFailure(m.respond("c=biws,r=x,p=x"), Failure::MalformedRequest);
    }
    SECTION("start twice") {
        ScramMechanism m(Hash::Sha256, false, plainOptions());
        REQUIRE(m.start(c.firstMessage()).kind == Kind::NeedCredentials);
        checkFailure(m.start(c.firstMessage()), Failure::MalformedRequest);
    }
    SECTION("anything after success") {
        ScramMechanism m(Hash::Sha256, false, plainOptions());
        const std::string sf = toServerFirst(m, c);
        const std::string final = c.finalMessage(sf);
        REQUIRE(m.respond(final).kind == Kind::Success);
        checkFailure(m.respond(final), Failure::MalformedRequest);
        checkFailure(m.provideCredentials(pencilCredentials()), Failure::MalformedRequest);
        CHECK(m.username() == "user");
    }
    SECTION("empty initial response") {
        ScramMechanism m(Hash::Sha256, false, plainOptions());
        checkFailure(m.start(""), Failure::MalformedRequest);
    }
}
