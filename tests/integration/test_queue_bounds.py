"""Per-account queues that a client (or a contact) can fill are bounded (issue 9, §2): a client
pipelining roster or blocklist requests faster than PostgreSQL writes them gets
resource-constraint for the excess, with a text, and every request that was accepted completes.
Before, the queues grew without bound (each entry holds a copy of its stanza)."""

import pytest

from im_support import IQ, NS_ROSTER, connect, error_text, q, stanza_error_condition, to_str

NS_BLOCKING = "urn:xmpp:blocking"
N = 400  # far more than one account may have waiting (64)


def pipeline(c, make_payload) -> dict[str, object]:
    """Sends N iq sets in one write; returns the replies by id."""
    ids = [f"p{i}" for i in range(N)]
    c.send("".join(f"<iq type='set' id='{i}'>{make_payload(n)}</iq>" for n, i in enumerate(ids)))
    replies = {}
    while len(replies) < N:
        el = c.take(lambda e: e.tag == IQ and e.get("id") in ids and e.get("id") not in replies
                    and e.get("type") in ("result", "error"), timeout=60)
        replies[el.get("id")] = el
    return replies


def check_bounded(replies) -> list[int]:
    """The indexes that succeeded; asserts the others were refused for the right reason."""
    ok, refused = [], 0
    for i in range(N):
        el = replies[f"p{i}"]
        if el.get("type") == "result":
            ok.append(i)
            continue
        assert stanza_error_condition(el) == "resource-constraint", to_str(el)
        assert error_text(el), f"a refusal says why: {to_str(el)}"
        refused += 1
    assert refused > 0, f"all {N} pipelined requests were queued: the queue has no bound"
    assert ok, "nothing was accepted"
    return ok


def test_pipelined_roster_sets_are_bounded(server, users):
    c = connect(server, "alice", users["alice"], "a")
    replies = pipeline(c, lambda n: f"<query xmlns='{NS_ROSTER}'>"
                                    f"<item jid='contact{n}@example.net'/></query>")
    ok = check_bounded(replies)
    # What was accepted is in the roster, what was refused is not.
    items = c.roster_items()
    assert {f"contact{i}@example.net" for i in ok} == \
        {j for j in items if j.startswith("contact")}
    assert c.ping().get("type") == "result"
    c.close()


def test_pipelined_block_requests_are_bounded(server, users):
    c = connect(server, "alice", users["alice"], "a")
    replies = pipeline(c, lambda n: f"<block xmlns='{NS_BLOCKING}'>"
                                    f"<item jid='spammer{n}@example.net'/></block>")
    ok = check_bounded(replies)
    blocked = set(c.blocklist())
    assert {f"spammer{i}@example.net" for i in ok} == blocked
    c.close()
