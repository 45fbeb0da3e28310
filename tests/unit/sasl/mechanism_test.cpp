#include "sasl/mechanism.h"

#include <catch2/catch.hpp>

#include "sasl/external.h"

using namespace corvid::sasl;
using Kind = Step::Kind;

namespace {

const std::vector<std::string> kAll = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS",
                                       "SCRAM-SHA-1",        "PLAIN",         "EXTERNAL"};

ChannelBindings someBindings() {
    ChannelBindings b;
    b.tlsServerEndPoint = "hash";
    return b;
}

}  // namespace

TEST_CASE("failure conditions have their RFC 6120 §6.5 element names", "[sasl]") {
    CHECK(toString(Failure::Aborted) == "aborted");
    CHECK(toString(Failure::AccountDisabled) == "account-disabled");
    CHECK(toString(Failure::CredentialsExpired) == "credentials-expired");
    CHECK(toString(Failure::EncryptionRequired) == "encryption-required");
    CHECK(toString(Failure::IncorrectEncoding) == "incorrect-encoding");
    CHECK(toString(Failure::InvalidAuthzid) == "invalid-authzid");
    CHECK(toString(Failure::InvalidMechanism) == "invalid-mechanism");
    CHECK(toString(Failure::MalformedRequest) == "malformed-request");
    CHECK(toString(Failure::MechanismTooWeak) == "mechanism-too-weak");
    CHECK(toString(Failure::NotAuthorized) == "not-authorized");
    CHECK(toString(Failure::TemporaryAuthFailure) == "temporary-auth-failure");
}

TEST_CASE("makeMechanism knows every supported name and nothing else", "[sasl]") {
    MechanismOptions o;
    o.bindings = someBindings();
    for (const auto& name : supportedMechanisms()) {
        auto m = makeMechanism(name, o);
        REQUIRE(m != nullptr);
        CHECK(m->name() == name);
    }
    CHECK(supportedMechanisms() == kAll);
    CHECK(makeMechanism("DIGEST-MD5", o) == nullptr);
    CHECK(makeMechanism("scram-sha-1", o) == nullptr);  // names are case-sensitive
    CHECK(makeMechanism("", o) == nullptr);
    CHECK(makeMechanism("SCRAM-SHA-512", o) == nullptr);
}

TEST_CASE("makeMechanism refuses what was not offered and -PLUS without bindings", "[sasl]") {
    MechanismOptions o;
    CHECK(makeMechanism("SCRAM-SHA-256-PLUS", o) == nullptr);
    CHECK(makeMechanism("SCRAM-SHA-256", o) != nullptr);
    o.offered = {"SCRAM-SHA-1"};
    CHECK(makeMechanism("SCRAM-SHA-256", o) == nullptr);
    CHECK(makeMechanism("SCRAM-SHA-1", o) != nullptr);
}

TEST_CASE("makeMechanism passes the offer on: 'y' refused only while -PLUS is offered", "[sasl]") {
    MechanismOptions o;
    o.bindings = someBindings();
    o.offered = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"};
    auto m = makeMechanism("SCRAM-SHA-256", o);
    REQUIRE(m);
    const Step s = m->start("y,,n=user,r=abc");
    REQUIRE(s.kind == Kind::Failure);
    CHECK(s.failure == Failure::NotAuthorized);

    o.offered = {"SCRAM-SHA-256"};
    m = makeMechanism("SCRAM-SHA-256", o);
    REQUIRE(m);
    CHECK(m->start("y,,n=user,r=abc").kind == Kind::NeedCredentials);
}

TEST_CASE("mechanismsToOffer", "[sasl]") {
    const ChannelBindings none;
    SECTION("without TLS: only the plain SCRAM variants") {
        CHECK(mechanismsToOffer(kAll, false, none) ==
              std::vector<std::string>{"SCRAM-SHA-256", "SCRAM-SHA-1"});
        CHECK(mechanismsToOffer(kAll, false, someBindings()) ==
              std::vector<std::string>{"SCRAM-SHA-256", "SCRAM-SHA-1"});
    }
    SECTION("TLS without channel-binding data: no -PLUS") {
        CHECK(mechanismsToOffer(kAll, true, none) ==
              std::vector<std::string>{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "EXTERNAL"});
    }
    SECTION("TLS with channel binding: everything, in configured order") {
        CHECK(mechanismsToOffer(kAll, true, someBindings()) == kAll);
        const std::vector<std::string> mine = {"PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256-PLUS"};
        CHECK(mechanismsToOffer(mine, true, someBindings()) == mine);
    }
    SECTION("unknown names and duplicates are dropped") {
        CHECK(mechanismsToOffer({"CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-1", "plain"}, true, none) ==
              std::vector<std::string>{"SCRAM-SHA-1"});
        CHECK(mechanismsToOffer({}, true, someBindings()).empty());
    }
}

TEST_CASE("channelBindingTypes lists what has data, tls-exporter first", "[sasl]") {
    ChannelBindings b;
    CHECK(channelBindingTypes(b).empty());
    CHECK_FALSE(b.any());
    b.tlsServerEndPoint = "x";
    CHECK(channelBindingTypes(b) == std::vector<std::string>{"tls-server-end-point"});
    b.tlsExporter = "y";
    CHECK(channelBindingTypes(b) ==
          std::vector<std::string>{"tls-exporter", "tls-server-end-point"});
    CHECK(b.any());
    b.tlsUnique = "z";
    CHECK(channelBindingTypes(b) ==
          std::vector<std::string>{"tls-exporter", "tls-server-end-point", "tls-unique"});
    ChannelBindings onlyUnique;
    onlyUnique.tlsUnique = "z";
    CHECK(onlyUnique.any());
}

TEST_CASE("EXTERNAL passes the authzid up", "[sasl]") {
    SECTION("with an initial response") {
        ExternalMechanism m;
        CHECK(m.name() == "EXTERNAL");
        const Step s = m.start("example.org");
        REQUIRE(s.kind == Kind::Success);
        CHECK(s.authzid == "example.org");
        CHECK(s.username.empty());
        CHECK(m.authzid() == "example.org");
        CHECK(m.respond("x").kind == Kind::Failure);
    }
    SECTION("empty: derive the identity from the certificate") {
        ExternalMechanism m;
        const Step s = m.start("");
        REQUIRE(s.kind == Kind::Success);
        CHECK(s.authzid.empty());
    }
    SECTION("without an initial response: an empty challenge first") {
        ExternalMechanism m;
        Step s = m.start(std::nullopt);
        REQUIRE(s.kind == Kind::Challenge);
        CHECK(s.data.empty());
        s = m.respond("example.org");
        REQUIRE(s.kind == Kind::Success);
        CHECK(s.authzid == "example.org");
    }
    SECTION("malformed") {
        for (std::string_view bad : {std::string_view("a\0b", 3), std::string_view("\xFF")}) {
            ExternalMechanism m;
            const Step s = m.start(bad);
            REQUIRE(s.kind == Kind::Failure);
            CHECK(s.failure == Failure::MalformedRequest);
        }
    }
    SECTION("no credentials involved") {
        ExternalMechanism m;
        CHECK(m.provideCredentials(std::nullopt).kind == Kind::Failure);
        ExternalMechanism m2;
        CHECK(m2.respond("x").kind == Kind::Failure);
    }
}
