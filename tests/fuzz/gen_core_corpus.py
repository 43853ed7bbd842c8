#!/usr/bin/python3
"""Writes the seed inputs of tests/fuzz/fuzz_core.c into tests/fuzz/corpus/fuzz_core/.

Each seed is a sequence of backend link frames (lib/wire.h, docs/link-protocol.md):
u32 len | u8 type | u8 flags | u16 0 | u32 sid | payload, big-endian.  The harness
reads the flags byte: 1 = link B, 2 = set 'from' to the session's JID, 4 = feed in
two pieces split at flags >> 3.  Sessions present at the start of every input:
link A sid 1 alice@example.com/a, sid 2 bob@example.com/b; link B sid 1
alice@example.com/m, sid 2 bob@example.com/c.

Usage: /usr/bin/python3 tests/fuzz/gen_core_corpus.py
"""
import os
import struct

HELLO, PING, PONG, CRED_REQ, SESSION_OPEN, SESSION_CLOSE, STANZA, FLOW = 1, 2, 3, 10, 20, 22, 30, 40
SESSION_PARK, SESSION_UNPARK, STANZA_RETURN = 23, 24, 32
STATS_REQ, CM_STATS = 60, 62
MESSAGE, PRESENCE, IQ = 1, 2, 3
(T_NONE, T_NORMAL, T_CHAT, T_GROUPCHAT, T_HEADLINE, T_ERROR, T_UNAVAILABLE, T_SUBSCRIBE,
 T_SUBSCRIBED, T_UNSUBSCRIBE, T_UNSUBSCRIBED, T_PROBE, T_GET, T_SET, T_RESULT) = range(15)
B, FIX, SPLIT = 1, 2, 4
D = "example.com"


def s(v):
    v = v.encode() if isinstance(v, str) else v
    return struct.pack(">I", len(v)) + v


def frame(ftype, sid, payload, flags=0):
    return struct.pack(">IBBHI", 12 + len(payload), ftype, flags, 0, sid) + payload


def stanza(sid, kind, stype, xml, to="", sid_id="", frm="", flags=FIX):
    payload = bytes([kind, stype]) + s(sid_id) + s(frm) + s(to) + s(xml)
    return frame(STANZA, sid, payload, flags)


TOKEN = "0123456789abcdef0123456789abcdef"


def park(n, secs):
    """SESSION_PARK's payload: the token, the time, the counters, n returns."""
    ret = frame(STANZA_RETURN, 0, bytes([MESSAGE, T_CHAT]) + s("m") + s("bob@" + D + "/b") +
                s("alice@" + D + "/a") + s("<message><body>unacked</body></message>"))
    return s(TOKEN) + struct.pack(">IIII", secs, 3, 1, n) + s(ret * n)


def roster_set(item):
    return '<iq type="set"><query xmlns="jabber:iq:roster">' + item + "</query></iq>"


SEEDS = {
    "presence_priority": [
        stanza(1, PRESENCE, T_NONE, "<presence><priority>5</priority></presence>"),
        stanza(1, PRESENCE, T_NONE, "<presence><priority>-1</priority><show>away</show>"
               "</presence>", flags=FIX | B),
        stanza(2, PRESENCE, T_NONE, "<presence><priority>128</priority></presence>"),
        stanza(2, MESSAGE, T_CHAT, '<message type="chat"><body>hi</body></message>',
               to="alice@" + D, sid_id="m1"),
        stanza(2, MESSAGE, T_HEADLINE, '<message type="headline"/>', to="alice@" + D),
        stanza(1, MESSAGE, T_CHAT, "<message><body>to m</body></message>",
               to="alice@" + D + "/m"),
        stanza(1, PRESENCE, T_UNAVAILABLE, '<presence type="unavailable"/>'),
    ],
    "roster": [
        stanza(1, IQ, T_GET, '<iq type="get"><query xmlns="jabber:iq:roster"/></iq>',
               sid_id="r1"),
        stanza(1, IQ, T_SET, roster_set('<item jid="Zoe@' + D + '" name="Z">'
                                        "<group>A</group><group>B</group></item>"),
               sid_id="r2"),
        stanza(1, IQ, T_SET, roster_set('<item jid="x@' + D + '"><group>A</group>'
                                        "<group>A</group></item>"), sid_id="r3"),
        stanza(1, IQ, T_SET, roster_set('<item jid="bob@' + D + '" subscription="remove"/>'),
               sid_id="r4", to="alice@" + D),
        stanza(1, IQ, T_SET, roster_set('<item jid="@bad"/>'), sid_id="r5"),
        stanza(2, IQ, T_SET, roster_set('<item jid="a@b"/>'), sid_id="r6", to="alice@" + D),
    ],
    "subscribe": [
        stanza(1, PRESENCE, T_NONE, "<presence/>"),
        stanza(2, PRESENCE, T_NONE, "<presence/>", flags=FIX | B),
        stanza(2, PRESENCE, T_SUBSCRIBE, '<presence type="subscribe"/>', to="carol@" + D),
        stanza(1, PRESENCE, T_SUBSCRIBE, '<presence type="subscribe"/>', to="dave@" + D),
        stanza(2, PRESENCE, T_UNSUBSCRIBED, '<presence type="unsubscribed"/>',
               to="alice@" + D),
        stanza(1, PRESENCE, T_SUBSCRIBED, '<presence type="subscribed"/>', to="bob@" + D),
        stanza(1, PRESENCE, T_PROBE, '<presence type="probe"/>', to="bob@" + D),
        stanza(1, PRESENCE, T_NONE, "<presence/>", to="bob@" + D + "/c"),
        stanza(1, PRESENCE, T_UNSUBSCRIBE, '<presence type="unsubscribe"/>', to="bob@" + D),
    ],
    "offline": [
        stanza(1, MESSAGE, T_CHAT, '<message type="chat"><body>later</body></message>',
               to="carol@" + D, sid_id="o1"),
        stanza(1, MESSAGE, T_NORMAL, "<message/>", to="carol@" + D + "/gone"),
        frame(SESSION_OPEN, 5, s("carol@" + D + "/p"), B),
        stanza(5, PRESENCE, T_NONE, "<presence><priority>2</priority></presence>",
               flags=FIX | B),
        stanza(5, MESSAGE, T_CHAT, "<message><body>x</body></message>", to="nobody@" + D,
               flags=FIX | B),
        frame(SESSION_CLOSE, 5, bytes([0]), B),
    ],
    "server": [
        frame(PING, 0, struct.pack(">I", 7)),
        frame(CRED_REQ, 9, s("alice")),
        frame(CRED_REQ, 9, s("nobody"), B),
        stanza(1, IQ, T_GET, '<iq type="get"><ping xmlns="urn:xmpp:ping"/></iq>', to=D),
        stanza(1, IQ, T_GET, '<iq type="get"><query xmlns="http://jabber.org/protocol/'
               'disco#info"/></iq>', to=D, sid_id="d"),
        stanza(1, IQ, T_GET, '<iq type="get"><q xmlns="x"/></iq>', to="bob@" + D + "/zz"),
        stanza(1, MESSAGE, T_CHAT, "<message/>", to="eve@elsewhere.org"),
        stanza(1, MESSAGE, T_GROUPCHAT, "<message/>", to="bob@" + D),
        frame(FLOW, 0, bytes([0])),
        stanza(1, MESSAGE, T_CHAT, "<message/>", frm="alice@" + D + "/a",
               to="bob@" + D + "/b", flags=0),
    ],
    "conflict_close": [
        frame(SESSION_OPEN, 3, s("bob@" + D + "/b"), B),
        stanza(3, MESSAGE, T_CHAT, "<message/>", to="alice@" + D + "/a", flags=FIX | B),
        frame(SESSION_CLOSE, 1, bytes([1])),
        frame(99, 0, bytes([0]), B),
        stanza(2, PRESENCE, T_NONE, "<presence/>"),
    ],
    "stats": [
        frame(CM_STATS, 0, s("starling_cm_connections 3\nBad 1\nx 99999999999999999999\n")),
        frame(CM_STATS, 0, s("starling_cm_connections 4"), B),
        stanza(1, MESSAGE, T_CHAT, "<message/>", to="bob@" + D + "/b"),
        frame(STATS_REQ, 0, b""),
        frame(CM_STATS, 0, b"\0\0"),
        frame(STATS_REQ, 0, bytes([0]), B),
    ],
    "carbons": [
        stanza(2, IQ, T_SET, '<iq type="set"><enable xmlns="urn:xmpp:carbons:2"/></iq>'),
        stanza(2, IQ, T_SET, '<iq type="set"><enable xmlns="urn:xmpp:carbons:2"/></iq>',
               flags=FIX | B),
        stanza(1, MESSAGE, T_CHAT, '<message type="chat"><body>hi</body></message>',
               to="bob@" + D + "/b"),
        stanza(1, MESSAGE, T_CHAT, "<message/>", to="bob@" + D, flags=FIX | B),
        stanza(2, MESSAGE, T_CHAT, '<message xmlns="jabber:client"><body>x</body></message>',
               to="alice@" + D),
        stanza(2, IQ, T_SET, '<iq type="set"><disable xmlns="urn:xmpp:carbons:2"/></iq>'),
    ],
    "info": [
        stanza(1, IQ, T_GET, '<iq type="get"><query xmlns="jabber:iq:version"/></iq>', to=D),
        stanza(1, IQ, T_SET, '<iq type="set"><query xmlns="jabber:iq:version"/></iq>', to=D),
        stanza(1, IQ, T_GET, '<iq type="get"><time xmlns="urn:xmpp:time"/></iq>'),
        stanza(1, IQ, T_GET, '<iq type="get"><query xmlns="jabber:iq:last"/></iq>', to=D),
        stanza(1, IQ, T_SET, '<iq type="set"><vCard xmlns="vcard-temp"><FN>A</FN></vCard></iq>'),
        stanza(2, IQ, T_GET, '<iq type="get"><vCard xmlns="vcard-temp"/></iq>', to="alice@" + D),
        stanza(2, IQ, T_SET, '<iq type="set"><vCard xmlns="vcard-temp"/></iq>', to="alice@" + D),
        stanza(1, IQ, T_SET, '<iq type="set"><query xmlns="jabber:iq:private" xmlns:p="p:q">'
               '<p:d><p:e>1</p:e><f/></p:d></query></iq>'),
        stanza(1, IQ, T_GET, '<iq type="get"><query xmlns="jabber:iq:private"><d xmlns="p:q"/>'
               '</query></iq>', to="alice@" + D),
        stanza(2, IQ, T_GET, '<iq type="get"><query xmlns="jabber:iq:private"><d xmlns="p:q"/>'
               '</query></iq>', to="alice@" + D),
        stanza(1, IQ, T_GET, '<iq type="get"><query xmlns="jabber:iq:last"/></iq>',
               to="bob@" + D),
        stanza(1, IQ, T_GET, '<iq type="get"><query xmlns="jabber:iq:last"/></iq>',
               to="carol@" + D),
        stanza(2, PRESENCE, T_UNAVAILABLE, '<presence type="unavailable"><status>bye</status>'
               '</presence>'),
        frame(SESSION_CLOSE, 2, bytes([0])),
        frame(SESSION_CLOSE, 2, bytes([0]), B),
        stanza(1, IQ, T_GET, '<iq type="get"><query xmlns="jabber:iq:last"/></iq>',
               to="bob@" + D),
    ],
    "blocking": [
        stanza(1, IQ, T_GET, '<iq type="get"><blocklist xmlns="urn:xmpp:blocking"/></iq>'),
        stanza(1, IQ, T_SET, '<iq type="set"><block xmlns="urn:xmpp:blocking">'
               '<item jid="bob@' + D + '"/><item jid="x@y/z"/><item jid="' + D + '"/></block></iq>'),
        stanza(1, IQ, T_SET, '<iq type="set"><block xmlns="urn:xmpp:blocking">'
               '<item jid="a@b@c"/></block></iq>'),
        stanza(2, MESSAGE, T_CHAT, "<message><body>blocked</body></message>", to="alice@" + D),
        stanza(2, PRESENCE, T_SUBSCRIBE, '<presence type="subscribe"/>', to="alice@" + D),
        stanza(1, MESSAGE, T_CHAT, "<message><body>out</body></message>", to="bob@" + D),
        stanza(1, PRESENCE, T_NONE, "<presence/>"),
        stanza(1, IQ, T_SET, '<iq type="set"><unblock xmlns="urn:xmpp:blocking">'
               '<item jid="bob@' + D + '"/></unblock></iq>', flags=FIX | B),
        stanza(1, IQ, T_SET, '<iq type="set"><unblock xmlns="urn:xmpp:blocking"/></iq>'),
        stanza(2, IQ, T_GET, '<iq type="get"><query xmlns="http://jabber.org/protocol/'
               'disco#info"/></iq>', to="alice@" + D),
    ],
    # Issue 13: alice/a parked with a message she never acknowledged, bob
    # writes to her meanwhile, another link takes her up (a wrong token
    # first), she is parked again and her time is up at once.
    "park": [
        frame(SESSION_PARK, 1, park(1, 60)),
        stanza(2, MESSAGE, T_CHAT, "<message><body>queued</body></message>",
               to="alice@" + D + "/a", flags=FIX | B),
        stanza(2, PRESENCE, T_NONE, "<presence/>", flags=FIX | B),
        frame(SESSION_UNPARK, 9, s("alice@" + D) + s("f" * 32), B),
        frame(SESSION_UNPARK, 9, s("alice@" + D) + s(TOKEN), B),
        frame(SESSION_PARK, 9, park(1, 0), B),
        frame(SESSION_PARK, 7, park(1, 60), B),
    ],
    # PEP (XEP-0163): bob's client has caps (and answers the query, from
    # both links), alice publishes, reads, configures, retracts, deletes.
    "pep": [
        stanza(2, PRESENCE, T_NONE, '<presence><c xmlns="http://jabber.org/protocol/caps"'
               ' hash="sha-1" node="n" ver="QgayPKawpkPSDYmwT/WM94uAlu0="/></presence>'),
        stanza(2, IQ, T_RESULT, '<iq type="result" id="caps1"><query xmlns="http://jabber.org/'
               'protocol/disco#info" node="n#QgayPKawpkPSDYmwT/WM94uAlu0="><identity'
               ' category="client" name="Exodus 0.9.1" type="pc"/><feature var="http://jabber.org'
               '/protocol/caps"/><feature var="http://jabber.org/protocol/disco#info"/><feature'
               ' var="http://jabber.org/protocol/disco#items"/><feature var="http://jabber.org/'
               'protocol/muc"/></query></iq>', to=D),
        stanza(2, PRESENCE, T_NONE, '<presence><c xmlns="http://jabber.org/protocol/caps"'
               ' hash="sha-1" node="n" ver="x"/></presence>', flags=FIX | B),
        stanza(2, IQ, T_RESULT, '<iq type="result" id="caps2"><query xmlns="http://jabber.org/'
               'protocol/disco#info"><feature var="t+notify"/></query></iq>', to=D,
               flags=FIX | B),
        stanza(1, IQ, T_SET, '<iq type="set"><pubsub xmlns="http://jabber.org/protocol/pubsub">'
               '<publish node="t"><item id="1"><tune xmlns="t"/></item></publish>'
               '<publish-options><x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE">'
               '<value>http://jabber.org/protocol/pubsub#publish-options</value></field>'
               '<field var="pubsub#access_model"><value>open</value></field><field'
               ' var="pubsub#max_items"><value>max</value></field></x></publish-options>'
               '</pubsub></iq>'),
        stanza(2, IQ, T_GET, '<iq type="get"><pubsub xmlns="http://jabber.org/protocol/pubsub">'
               '<items node="t" max_items="2"><item id="1"/></items></pubsub></iq>',
               to="alice@" + D),
        stanza(1, IQ, T_GET, '<iq type="get"><pubsub xmlns="http://jabber.org/protocol/pubsub'
               '#owner"><configure node="t"/></pubsub></iq>'),
        stanza(1, IQ, T_SET, '<iq type="set"><pubsub xmlns="http://jabber.org/protocol/pubsub">'
               '<retract node="t" notify="1"><item id="1"/></retract></pubsub></iq>'),
        stanza(1, IQ, T_SET, '<iq type="set"><pubsub xmlns="http://jabber.org/protocol/pubsub'
               '#owner"><delete node="t"/></pubsub></iq>'),
        frame(SESSION_CLOSE, 2, bytes([0]), B),
    ],
    "split_partial": [
        stanza(1, PRESENCE, T_NONE, "<presence><priority>1</priority></presence>",
               flags=FIX | SPLIT | (9 << 3)),
        stanza(2, MESSAGE, T_CHAT, "<message><body>s</body></message>", to="alice@" + D,
               flags=FIX | SPLIT | B | (30 << 3)),
        frame(PING, 0, struct.pack(">I", 1))[:10],
    ],
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_core")
    os.makedirs(out, exist_ok=True)
    for name, frames in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(b"".join(frames))


if __name__ == "__main__":
    main()
