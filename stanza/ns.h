#pragma once

// XML namespaces used by the server, grouped by the specification that defines them.

#include <string_view>

namespace corvid::stanza::ns {

// --- RFC 6120 (core), RFC 7395 (WebSocket framing), XEP-0114 (components) ---
inline constexpr std::string_view kClient = "jabber:client";
inline constexpr std::string_view kServer = "jabber:server";
inline constexpr std::string_view kComponentAccept = "jabber:component:accept";
inline constexpr std::string_view kStreams = "http://etherx.jabber.org/streams";
inline constexpr std::string_view kStreamErrors = "urn:ietf:params:xml:ns:xmpp-streams";
inline constexpr std::string_view kStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas";
inline constexpr std::string_view kTls = "urn:ietf:params:xml:ns:xmpp-tls";
inline constexpr std::string_view kSasl = "urn:ietf:params:xml:ns:xmpp-sasl";
inline constexpr std::string_view kBind = "urn:ietf:params:xml:ns:xmpp-bind";
inline constexpr std::string_view kFraming = "urn:ietf:params:xml:ns:xmpp-framing";
/// RFC 3921 session establishment; RFC 6121 keeps it only for old clients (<optional/>).
inline constexpr std::string_view kSession = "urn:ietf:params:xml:ns:xmpp-session";

// --- server-to-server: XEP-0220 dialback, XEP-0288 bidi ---
inline constexpr std::string_view kDialback = "jabber:server:dialback";
inline constexpr std::string_view kDialbackFeature = "urn:xmpp:features:dialback";
inline constexpr std::string_view kBidi = "urn:xmpp:bidi";
inline constexpr std::string_view kBidiFeature = "urn:xmpp:features:bidi";

// --- authentication: XEP-0388 (SASL2), XEP-0386 (Bind2), XEP-0484 (FAST), XEP-0078 ---
inline constexpr std::string_view kSasl2 = "urn:xmpp:sasl:2";
inline constexpr std::string_view kBind2 = "urn:xmpp:bind:0";
inline constexpr std::string_view kFast = "urn:xmpp:fast:0";
inline constexpr std::string_view kLegacyAuth = "jabber:iq:auth";
inline constexpr std::string_view kLegacyAuthFeature = "http://jabber.org/features/iq-auth";

// --- RFC 6121 (IM) ---
inline constexpr std::string_view kRoster = "jabber:iq:roster";
inline constexpr std::string_view kRosterVer = "urn:xmpp:features:rosterver";
inline constexpr std::string_view kPreApproval = "urn:xmpp:features:pre-approval";

// --- service discovery and entity information ---
inline constexpr std::string_view kDiscoInfo = "http://jabber.org/protocol/disco#info";  // XEP-0030
inline constexpr std::string_view kDiscoItems =
    "http://jabber.org/protocol/disco#items";                                            // XEP-0030
inline constexpr std::string_view kCaps = "http://jabber.org/protocol/caps";             // XEP-0115
inline constexpr std::string_view kDataForms = "jabber:x:data";                          // XEP-0004
inline constexpr std::string_view kRsm = "http://jabber.org/protocol/rsm";               // XEP-0059
inline constexpr std::string_view kVersion = "jabber:iq:version";                        // XEP-0092
inline constexpr std::string_view kLast = "jabber:iq:last";                              // XEP-0012
inline constexpr std::string_view kTime = "urn:xmpp:time";                               // XEP-0202
inline constexpr std::string_view kPing = "urn:xmpp:ping";                               // XEP-0199
inline constexpr std::string_view kCommands = "http://jabber.org/protocol/commands";     // XEP-0050
inline constexpr std::string_view kExternalServices = "urn:xmpp:extdisco:2";             // XEP-0215
inline constexpr std::string_view kServerInfo = "http://jabber.org/network/serverinfo";  // XEP-0157

// --- account data ---
inline constexpr std::string_view kRegister = "jabber:iq:register";  // XEP-0077
inline constexpr std::string_view kRegisterFeature = "http://jabber.org/features/iq-register";
inline constexpr std::string_view kPrivate = "jabber:iq:private";                // XEP-0049
inline constexpr std::string_view kVcard = "vcard-temp";                         // XEP-0054
inline constexpr std::string_view kVcardUpdate = "vcard-temp:x:update";          // XEP-0153
inline constexpr std::string_view kVcard4 = "urn:ietf:params:xml:ns:vcard-4.0";  // XEP-0292
inline constexpr std::string_view kBlocking = "urn:xmpp:blocking";               // XEP-0191
inline constexpr std::string_view kBlockingErrors = "urn:xmpp:blocking:errors";
inline constexpr std::string_view kPrivacy = "jabber:iq:privacy";                   // XEP-0016
inline constexpr std::string_view kOffline = "http://jabber.org/protocol/offline";  // XEP-0013
inline constexpr std::string_view kMsgOffline = "msgoffline";  // XEP-0160 disco feature

// --- message handling ---
inline constexpr std::string_view kDelay = "urn:xmpp:delay";        // XEP-0203
inline constexpr std::string_view kForward = "urn:xmpp:forward:0";  // XEP-0297
inline constexpr std::string_view kCarbons = "urn:xmpp:carbons:2";  // XEP-0280
inline constexpr std::string_view kMam = "urn:xmpp:mam:2";          // XEP-0313
inline constexpr std::string_view kMamExtended = "urn:xmpp:mam:2#extended";
inline constexpr std::string_view kStanzaId = "urn:xmpp:sid:0";     // XEP-0359
inline constexpr std::string_view kHints = "urn:xmpp:hints";        // XEP-0334
inline constexpr std::string_view kReceipts = "urn:xmpp:receipts";  // XEP-0184
inline constexpr std::string_view kChatStates =
    "http://jabber.org/protocol/chatstates";                                        // XEP-0085
inline constexpr std::string_view kAddress = "http://jabber.org/protocol/address";  // XEP-0033
inline constexpr std::string_view kOob = "jabber:x:oob";                            // XEP-0066

// --- stream management and client state ---
inline constexpr std::string_view kSm = "urn:xmpp:sm:3";      // XEP-0198
inline constexpr std::string_view kCsi = "urn:xmpp:csi:0";    // XEP-0352
inline constexpr std::string_view kPush = "urn:xmpp:push:0";  // XEP-0357

// --- publish-subscribe and PEP (XEP-0060, XEP-0163) ---
inline constexpr std::string_view kPubsub = "http://jabber.org/protocol/pubsub";
inline constexpr std::string_view kPubsubEvent = "http://jabber.org/protocol/pubsub#event";
inline constexpr std::string_view kPubsubOwner = "http://jabber.org/protocol/pubsub#owner";
inline constexpr std::string_view kPubsubErrors = "http://jabber.org/protocol/pubsub#errors";
inline constexpr std::string_view kPubsubPublishOptions =
    "http://jabber.org/protocol/pubsub#publish-options";
inline constexpr std::string_view kBookmarks2 = "urn:xmpp:bookmarks:1";  // XEP-0402
inline constexpr std::string_view kAvatarData = "urn:xmpp:avatar:data";  // XEP-0084
inline constexpr std::string_view kAvatarMetadata = "urn:xmpp:avatar:metadata";

// --- multi-user chat (XEP-0045) and friends ---
inline constexpr std::string_view kMuc = "http://jabber.org/protocol/muc";
inline constexpr std::string_view kMucUser = "http://jabber.org/protocol/muc#user";
inline constexpr std::string_view kMucAdmin = "http://jabber.org/protocol/muc#admin";
inline constexpr std::string_view kMucOwner = "http://jabber.org/protocol/muc#owner";
inline constexpr std::string_view kMucUnique = "http://jabber.org/protocol/muc#unique";
inline constexpr std::string_view kMucRoomInfo = "http://jabber.org/protocol/muc#roominfo";
inline constexpr std::string_view kMucRoomConfig = "http://jabber.org/protocol/muc#roomconfig";
inline constexpr std::string_view kMucRequest = "http://jabber.org/protocol/muc#request";
inline constexpr std::string_view kConference = "jabber:x:conference";     // XEP-0249
inline constexpr std::string_view kOccupantId = "urn:xmpp:occupant-id:0";  // XEP-0421

// --- file transfer ---
inline constexpr std::string_view kHttpUpload = "urn:xmpp:http:upload:0";  // XEP-0363

// --- calls ---
inline constexpr std::string_view kJingle = "urn:xmpp:jingle:1";                 // XEP-0166
inline constexpr std::string_view kJingleMessage = "urn:xmpp:jingle-message:0";  // XEP-0353

}  // namespace corvid::stanza::ns
