"""Presence rules of RFC 6121 §4 on the raw stream: a client's probe is
answered with the current presence of the target's available resources only
when the prober is subscribed to it (§4.3.2), and a message without 'to' goes
to the sender's own bare JID (RFC 6120 §10.3.1)."""
from test_subscription_rules import _presence, _roster, _sync, subscribe
from xmpp_raw import NS_CLIENT, body_of, q, stanza_error


def test_probe_answered_only_to_subscribers(server):
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    cj, cpw = server.new_user('carol')
    a = server.raw_login(aj, apw, 'pc')
    b = server.raw_login(bj, bpw, 'pc')
    c = server.raw_login(cj, cpw, 'pc')
    try:
        for s in (a, b):
            _roster(s)
            s.presence()
        subscribe(b, a, bj, aj)
        _presence(b, 'available', aj + '/pc')
        a.send("<presence><status>probed</status></presence>")
        _sync(a)
        # Subscribed bob probes: alice's current presence comes back.
        b.send("<presence type='probe' to='%s'/>" % aj)
        p = b.next_element(lambda e: e.tag == q(NS_CLIENT, 'presence') and
                           e.find(q(NS_CLIENT, 'status')) is not None and
                           e.find(q(NS_CLIENT, 'status')).text == 'probed')
        assert p.get('from') == aj + '/pc'
        # Carol is not subscribed: her probe is not answered; bob's marker
        # message is the next stanza she gets.
        c.presence()
        c.send("<presence type='probe' to='%s'/>" % aj)
        _sync(c)
        b.message(cj + '/pc', 'marker')
        seen = []
        m = c.next_element(lambda e: e.tag == q(NS_CLIENT, 'message') or seen.append(e))
        assert body_of(m) == 'marker'
        assert not [e for e in seen if e.get('from', '').startswith(aj)], seen
    finally:
        for s in (a, b, c):
            s.close()


def test_message_without_to_goes_to_own_bare_jid(server):
    aj, apw = server.new_user('alice')
    a1 = server.raw_login(aj, apw, 'one')
    a2 = server.raw_login(aj, apw, 'two')
    try:
        a1.presence()
        a2.send("<presence><priority>5</priority></presence>")
        _sync(a1, a2)
        a1.send("<message type='chat'><body>note</body></message>")
        m = a2.next_message()
        assert body_of(m) == 'note' and m.get('from') == aj + '/one'
    finally:
        a1.close()
        a2.close()


NS_INFO = 'http://jabber.org/protocol/disco#info'
NS_ITEMS = 'http://jabber.org/protocol/disco#items'


def _identities(r):
    assert r.get('type') == 'result', r.attrib
    return [(i.get('category'), i.get('type')) for i in r.iter(q(NS_INFO, 'identity'))]


def test_disco_of_server_and_accounts(server):
    """XEP-0030: the server describes itself to anyone, an account to itself
    (no 'to', RFC 6120 §10.3.3, or its bare JID) and to its subscribers; a
    stranger gets what a missing account gets, so disco reveals no account."""
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    cj, cpw = server.new_user('carol')
    a = server.raw_login(aj, apw, 'pc')
    b = server.raw_login(bj, bpw, 'pc')
    c = server.raw_login(cj, cpw, 'pc')
    info = "<query xmlns='%s'/>" % NS_INFO
    try:
        assert _identities(a.iq('get', info, to='localhost')) == [('server', 'im')]
        items = a.iq('get', "<query xmlns='%s'/>" % NS_ITEMS, to='localhost')
        assert items.get('type') == 'result' and len(items.find(q(NS_ITEMS, 'query'))) == 0
        # XEP-0163 §6: an account is also its PEP service.
        account = [('account', 'registered'), ('pubsub', 'pep')]
        assert _identities(a.iq('get', info)) == account
        assert _identities(a.iq('get', info, to=aj)) == account
        # Not subscribed: the same answer as for an account that does not exist.
        assert stanza_error(b.iq('get', info, to=aj)) == 'service-unavailable'
        assert stanza_error(b.iq('get', info, to='nobody@localhost')) == 'service-unavailable'
        for s in (a, b):
            _roster(s)
            s.presence()
        subscribe(b, a, bj, aj)
        assert _identities(b.iq('get', info, to=aj)) == account
        assert stanza_error(c.iq('get', info, to=aj)) == 'service-unavailable'
        # No nodes; only get is defined.
        r = a.iq('get', "<query xmlns='%s' node='x'/>" % NS_INFO, to='localhost')
        assert stanza_error(r) == 'item-not-found'
        assert stanza_error(a.iq('set', info, to='localhost')) == 'bad-request'
    finally:
        for s in (a, b, c):
            s.close()
