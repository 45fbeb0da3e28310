/* A libstrophe client for corvid's integration tests (built by test_clients.py, not by CMake).
 *
 *   strophe_client PORT JID PASSWORD PEER BODY [direct]
 *
 * Logs in (STARTTLS, or TLS from the first byte with "direct"; the self-signed certificate is
 * trusted), sends initial presence and BODY to PEER, echoes the first chat message it receives
 * ("echo: <body>") and disconnects. Prints one line per event on stdout:
 *   connected <bound jid> | sent | message <from> <body> | echoed | disconnected <status> |
 *   timeout
 * Exits 0 once the echo went out and the stream closed, 1 otherwise (30 s limit). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <strophe.h>

static int echoed = 0;
static int done = 0;
static const char *peer;
static const char *body;

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *userdata) {
    xmpp_ctx_t *ctx = (xmpp_ctx_t *)userdata;
    char *text = xmpp_message_get_body(stanza);
    const char *type = xmpp_stanza_get_type(stanza);
    const char *from = xmpp_stanza_get_from(stanza);
    if (text == NULL || from == NULL) {
        if (text) xmpp_free(ctx, text);
        return 1;
    }
    printf("message %s %s\n", from, text);
    fflush(stdout);
    if (!echoed && type != NULL && strcmp(type, "chat") == 0) {
        char reply[4096];
        snprintf(reply, sizeof reply, "echo: %s", text);
        xmpp_stanza_t *msg = xmpp_message_new(ctx, "chat", from, "echo1");
        xmpp_message_set_body(msg, reply);
        xmpp_send(conn, msg);
        xmpp_stanza_release(msg);
        echoed = 1;
        printf("echoed\n");
        fflush(stdout);
        xmpp_disconnect(conn);
    }
    xmpp_free(ctx, text);
    return 1;
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t status, int error,
                    xmpp_stream_error_t *stream_error, void *userdata) {
    xmpp_ctx_t *ctx = (xmpp_ctx_t *)userdata;
    (void)stream_error;
    if (status == XMPP_CONN_CONNECT) {
        printf("connected %s secured=%d\n", xmpp_conn_get_bound_jid(conn),
               xmpp_conn_is_secured(conn));
        fflush(stdout);
        xmpp_handler_add(conn, on_message, NULL, "message", NULL, ctx);
        xmpp_stanza_t *pres = xmpp_presence_new(ctx);
        xmpp_send(conn, pres);
        xmpp_stanza_release(pres);
        xmpp_stanza_t *msg = xmpp_message_new(ctx, "chat", peer, "hello1");
        xmpp_message_set_body(msg, body);
        xmpp_send(conn, msg);
        xmpp_stanza_release(msg);
        printf("sent\n");
        fflush(stdout);
    } else {
        printf("disconnected status=%d error=%d\n", (int)status, error);
        fflush(stdout);
        done = 1;
    }
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s PORT JID PASSWORD PEER BODY [direct]\n", argv[0]);
        return 2;
    }
    unsigned short port = (unsigned short)atoi(argv[1]);
    peer = argv[4];
    body = argv[5];
    int direct = argc > 6 && strcmp(argv[6], "direct") == 0;

    xmpp_initialize();
    xmpp_log_t *log = getenv("STROPHE_DEBUG") ? xmpp_get_default_logger(XMPP_LEVEL_DEBUG) : NULL;
    xmpp_ctx_t *ctx = xmpp_ctx_new(NULL, log);
    xmpp_conn_t *conn = xmpp_conn_new(ctx);
    long flags = XMPP_CONN_FLAG_TRUST_TLS | XMPP_CONN_FLAG_DISABLE_SM;
    flags |= direct ? XMPP_CONN_FLAG_LEGACY_SSL : XMPP_CONN_FLAG_MANDATORY_TLS;
    xmpp_conn_set_flags(conn, flags);
    xmpp_conn_set_jid(conn, argv[2]);
    xmpp_conn_set_pass(conn, argv[3]);
    if (xmpp_connect_client(conn, "127.0.0.1", port, on_conn, ctx) != XMPP_EOK) {
        printf("connect-failed\n");
        return 1;
    }
    time_t deadline = time(NULL) + 30;
    while (!done && time(NULL) < deadline) {
        xmpp_run_once(ctx, 100);
    }
    if (!done) {
        printf("timeout\n");
    }
    fflush(stdout);
    xmpp_conn_release(conn);
    xmpp_ctx_free(ctx);
    xmpp_shutdown();
    return done && echoed ? 0 : 1;
}
