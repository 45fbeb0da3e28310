#include "c2s/xmpp_stream_connection.h"

#include "stanza/ns.h"

namespace corvid::c2s {

void XmppStreamConnection::sendStreamHeader(std::string_view from, std::string_view to,
                                            std::string_view id, std::string_view lang) {
    stream_.sendRaw(stream::makeStreamHeader(stanza::ns::kClient, from, to, id, lang));
    stream_.markHeaderSent();
}

}  // namespace corvid::c2s
