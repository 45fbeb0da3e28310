#include "sasl/plain.h"

#include <catch2/catch.hpp>

#include "scram_test_client.h"

using namespace corvid::sasl;
using corvid::sasl::test::pencilCredentials;
using Kind = Step::Kind;

namespace {

/// Stands in for OpaqueString: maps the fullwidth "ｐ" (U+FF50) to "p", as width mapping would,
/// and refuses passwords with a control character.
std::optional<std::string> fakePrep(std::string_view password) {
    std::string out;
    for (std::size_t i = 0; i < password.size(); ++i) {
        if (static_cast<unsigned char>(password[i]) < 0x20) {
            return std::nullopt;
        }
        if (password.substr(i, 3) == "\xEF\xBD\x90") {
            out.push_back('p');
            i += 2;
        } else {
            out.push_back(password[i]);
        }
    }
    return out;
}

MechanismOptions options() {
    MechanismOptions o;
    o.fakeSaltSecret = "fake-salt-secret";
    o.prepPassword = fakePrep;
    return o;
}

std::string msg(std::string_view authzid, std::string_view authcid, std::string_view password) {
    std::string m(authzid);
    m.push_back('\0');
    m.append(authcid);
    m.push_back('\0');
    m.append(password);
    return m;
}

Step run(std::string_view message, std::optional<Credentials> creds = pencilCredentials(),
         const MechanismOptions& o = options()) {
    PlainMechanism m(o);
    Step s = m.start(message);
    if (s.kind != Kind::NeedCredentials) {
        return s;
    }
    return m.provideCredentials(std::move(creds));
}

void checkFailure(const Step& s, Failure f) {
    INFO("reason: " << s.data);
    REQUIRE(s.kind == Kind::Failure);
    CHECK(s.failure == f);
}

}  // namespace

TEST_CASE("PLAIN: the right password logs in", "[sasl]") {
    PlainMechanism m(options());
    CHECK(m.name() == "PLAIN");
    Step s = m.start(msg("", "user", "pencil"));
    REQUIRE(s.kind == Kind::NeedCredentials);
    CHECK(s.username == "user");
    CHECK(s.authzid.empty());
    s = m.provideCredentials(pencilCredentials());
    REQUIRE(s.kind == Kind::Success);
    CHECK(s.data.empty());
    CHECK(s.username == "user");
    CHECK(m.username() == "user");
}

TEST_CASE("PLAIN: authzid is passed up", "[sasl]") {
    const Step s = run(msg("admin@example.org", "user", "pencil"));
    REQUIRE(s.kind == Kind::Success);
    CHECK(s.authzid == "admin@example.org");
    CHECK(s.username == "user");
}

TEST_CASE("PLAIN: the password is prepared before checking", "[sasl]") {
    CHECK(run(msg("", "user",
                  "\xEF\xBD\x90"
                  "encil"))
              .kind == Kind::Success);
    checkFailure(run(msg("", "user",
                         "pen\x01"
                         "cil")),
                 Failure::NotAuthorized);
    MechanismOptions noPrep = options();
    noPrep.prepPassword = nullptr;
    checkFailure(run(msg("", "user", "pencil"), pencilCredentials(), noPrep),
                 Failure::TemporaryAuthFailure);
}

TEST_CASE("PLAIN: SHA-1 keys are used when there are no SHA-256 keys", "[sasl]") {
    Credentials onlySha1;
    onlySha1.sha1 = pencilCredentials().sha1;
    CHECK(run(msg("", "user", "pencil"), onlySha1).kind == Kind::Success);
    checkFailure(run(msg("", "user", "pencil!"), onlySha1), Failure::NotAuthorized);
}

TEST_CASE("PLAIN: wrong password and unknown user fail alike", "[sasl]") {
    const Step wrong = run(msg("", "user", "pencil2"));
    const Step unknown = run(msg("", "nobody", "pencil"), std::nullopt);
    const Step noKeys = run(msg("", "user", "pencil"), Credentials{});
    checkFailure(wrong, Failure::NotAuthorized);
    checkFailure(unknown, Failure::NotAuthorized);
    checkFailure(noKeys, Failure::NotAuthorized);
    CHECK(wrong.data == unknown.data);
    CHECK(wrong.data == noKeys.data);
}

TEST_CASE("PLAIN: an unknown user is checked against unknownUserKeys", "[sasl]") {
    // Same PBKDF2 cost as a real account: the invented keys have fakeIterations.
    MechanismOptions o = options();
    o.fakeIterations = 5000;
    const ScramKeys k = unknownUserKeys(Hash::Sha256, "nobody", o);
    CHECK(k.iterations == 5000);
    CHECK(k.salt.size() == kSaltBytes);
    CHECK(k == fakeScramKeys(Hash::Sha256, "fake-salt-secret", "nobody", 5000));
    checkFailure(run(msg("", "nobody", "pencil"), std::nullopt, o), Failure::NotAuthorized);
}

TEST_CASE("PLAIN: unusable stored keys are a temporary failure", "[sasl]") {
    Credentials broken = pencilCredentials();
    SECTION("iterations") {
        broken.sha256->iterations = 0;
    }
    SECTION("stored key length") {
        broken.sha256->storedKey.pop_back();
    }
    checkFailure(run(msg("", "user", "pencil"), broken), Failure::TemporaryAuthFailure);
}

TEST_CASE("PLAIN: malformed messages", "[sasl]") {
    const std::string kBad[] = {
        "",
        std::string("user"),
        std::string("\0user", 5),                     // one NUL
        msg("", "", "pencil"),                        // empty authcid
        msg("", "user", ""),                          // empty password
        msg("", "user", std::string("pen\0cil", 7)),  // three NULs
        msg("\xFF", "user", "pencil"),                // authzid not UTF-8
        msg("", "us\xC3", "pencil"),                  // authcid not UTF-8
        msg("", "user",
            "pen\xED\xA0\x80"
            "cil"),  // password not UTF-8 (surrogate)
    };
    for (const auto& bad : kBad) {
        INFO("message of " << bad.size() << " bytes");
        checkFailure(run(bad), Failure::MalformedRequest);
    }
}

TEST_CASE("PLAIN: without initial response, an empty challenge first", "[sasl]") {
    PlainMechanism m(options());
    Step s = m.start(std::nullopt);
    REQUIRE(s.kind == Kind::Challenge);
    CHECK(s.data.empty());
    s = m.respond(msg("", "user", "pencil"));
    REQUIRE(s.kind == Kind::NeedCredentials);
    CHECK(m.provideCredentials(pencilCredentials()).kind == Kind::Success);
}

TEST_CASE("PLAIN: calls out of turn fail", "[sasl]") {
    SECTION("respond before start") {
        PlainMechanism m(options());
        checkFailure(m.respond(msg("", "user", "pencil")), Failure::MalformedRequest);
    }
    SECTION("credentials before the message") {
        PlainMechanism m(options());
        checkFailure(m.provideCredentials(pencilCredentials()), Failure::MalformedRequest);
    }
    SECTION("respond while waiting for credentials, then nothing works") {
        PlainMechanism m(options());
        REQUIRE(m.start(msg("", "user", "pencil")).kind == Kind::NeedCredentials);
        checkFailure(m.respond(msg("", "user", "pencil")), Failure::MalformedRequest);
        checkFailure(m.provideCredentials(pencilCredentials()), Failure::MalformedRequest);
    }
    SECTION("after success") {
        PlainMechanism m(options());
        REQUIRE(m.start(msg("", "user", "pencil")).kind == Kind::NeedCredentials);
        REQUIRE(m.provideCredentials(pencilCredentials()).kind == Kind::Success);
        checkFailure(m.provideCredentials(pencilCredentials()), Failure::MalformedRequest);
        checkFailure(m.start(msg("", "user", "pencil")), Failure::MalformedRequest);
    }
}
