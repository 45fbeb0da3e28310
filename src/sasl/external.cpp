#include "sasl/external.h"

#include "sasl/utf8.h"

namespace corvid::sasl {

Step ExternalMechanism::start(std::optional<std::string_view> initialResponse) {
    if (state_ != State::Initial) {
        state_ = State::Done;
        return Step::fail(Failure::MalformedRequest, "start() called twice");
    }
    if (!initialResponse) {
        state_ = State::AwaitMessage;
        return Step::challenge({});
    }
    return onMessage(*initialResponse);
}

Step ExternalMechanism::respond(std::string_view response) {
    if (state_ != State::AwaitMessage) {
        state_ = State::Done;
        return Step::fail(Failure::MalformedRequest, "response out of turn");
    }
    return onMessage(response);
}

Step ExternalMechanism::onMessage(std::string_view message) {
    state_ = State::Done;
    // external-message = [authz-id-string]; authz-id-string = 1*( UTF8-char-no-nul )
    if (message.find('\0') != std::string_view::npos || !isValidUtf8(message)) {
        return Step::fail(Failure::MalformedRequest, "authzid is not UTF-8 without NUL");
    }
    return succeed({}, {}, std::string(message));
}

}  // namespace corvid::sasl
