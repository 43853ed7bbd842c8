"""Client State Indication (XEP-0352): advertised after SASL; while a client
is inactive, presence updates wait and only each sender's latest goes out,
when the client turns active or just before anything else it receives, so a
message is never delayed and never overtakes the presence sent before it.
Raw XML (the timing of what arrives is what is tested, by order only)."""
from test_subscription_rules import _presence, _sync, friends
from xmpp_raw import NS_CLIENT, body_of, q, expect_stream_error

NS_CSI = 'urn:xmpp:csi:0'


def _status(e):
    st = e.find(q(NS_CLIENT, 'status'))
    return None if st is None else st.text


def _until_message(s):
    """Every top-level element up to the next message, and the message."""
    seen = []
    m = s.next_element(lambda e: e.tag == q(NS_CLIENT, 'message') or seen.append(e))
    return seen, m


def test_csi_advertised_after_auth(server):
    aj, apw = server.new_user('alice')
    s = server.raw()
    try:
        feats = s.starttls() if s.open() is not None else None
        assert feats.find(q(NS_CSI, 'csi')) is None  # not before authentication
        assert s.auth_plain(aj.split('@')[0], apw).tag.endswith('success')
        feats = s.open()
        assert feats.find(q(NS_CSI, 'csi')) is not None
    finally:
        s.close()


def test_inactive_holds_and_collapses_presence(server):
    (a, aj, _), (b, bj, _) = friends(server)
    try:
        a.send("<inactive xmlns='%s'/>" % NS_CSI)
        _sync(a)
        for n in ('one', 'two', 'three'):
            b.send("<presence><status>%s</status></presence>" % n)
        _sync(b)
        # The message is delivered at once, after bob's latest presence only.
        b.message(aj + '/phone', 'wake up')
        seen, m = _until_message(a)
        assert body_of(m) == 'wake up'
        statuses = [_status(e) for e in seen if e.tag == q(NS_CLIENT, 'presence')
                    and e.get('from') == bj + '/pc']
        assert statuses == ['three'], statuses

        # Held again, then released by <active/> with no other stanza.
        b.send("<presence><status>four</status></presence>")
        b.send("<presence><status>five</status></presence>")
        _sync(b)
        a.send("<active xmlns='%s'/>" % NS_CSI)
        p = _presence(a, 'available', bj + '/pc')
        assert _status(p) == 'five'
        # Active: each update arrives as it is sent.
        b.send("<presence><status>six</status></presence>")
        b.send("<presence><status>seven</status></presence>")
        assert _status(_presence(a, 'available', bj + '/pc')) == 'six'
        assert _status(_presence(a, 'available', bj + '/pc')) == 'seven'
    finally:
        a.close()
        b.close()


def test_inactive_passes_what_is_not_a_presence_update(server):
    """Subscription requests and IQs are never held (only availability is)."""
    (a, aj, _), (b, bj, _) = friends(server)
    cj, cpw = server.new_user('carol')
    c = server.raw_login(cj, cpw, 'pc')
    try:
        a.send("<inactive xmlns='%s'/>" % NS_CSI)
        _sync(a)
        c.send("<presence type='subscribe' to='%s'/>" % aj)
        assert _presence(a, 'subscribe', cj) is not None
        b.send("<iq type='get' id='p1' to='%s/phone'><ping xmlns='urn:xmpp:ping'/></iq>" % aj)
        iq = a.next_element(lambda e: e.tag == q(NS_CLIENT, 'iq') and e.get('type') == 'get')
        assert iq.get('from') == bj + '/pc'
        a.send("<iq type='result' id='%s' to='%s'/>" % (iq.get('id'), bj + '/pc'))
        r = b.next_element(lambda e: e.tag == q(NS_CLIENT, 'iq') and e.get('id') == 'p1')
        assert r.get('type') == 'result'
    finally:
        a.close()
        b.close()
        c.close()


def test_csi_before_bind_is_refused(server):
    """XEP-0352 §5: only a bound client says it is (in)active; before that the
    nonza is an unknown element of the stream."""
    aj, apw = server.new_user('alice')
    s = server.raw()
    try:
        s.authenticate(aj.split('@')[0], apw)
        s.open()
        s.send("<inactive xmlns='%s'/>" % NS_CSI)
        expect_stream_error(s, 'unsupported-stanza-type')
    finally:
        s.close()
