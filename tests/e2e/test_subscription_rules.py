"""Subscription rules of RFC 6121 §3 not covered by the slixmpp flows of
test_roster_presence.py: requests to accounts that do not exist or to other
domains, requests that wait for an offline user and come back at every login
until answered, cancelling and unsubscribing with the presence that follows.
Raw XML, so what the server writes is what is checked."""
import xml.etree.ElementTree as ET

from xmpp_raw import NS_CLIENT, q, stanza_error

NS_ROSTER = 'jabber:iq:roster'
NS_PING = 'urn:xmpp:ping'


def _roster(s):
    r = s.iq('get', "<query xmlns='%s'/>" % NS_ROSTER)
    assert r.get('type') == 'result', ET.tostring(r)
    return {i.get('jid'): i for i in r.find(q(NS_ROSTER, 'query'))}


def _presence(s, type_, frm):
    """The next presence of this type from frm (bare, or full when it has '/');
    others before it are skipped."""
    def match(e):
        if e.tag != q(NS_CLIENT, 'presence') or e.get('type', 'available') != type_:
            return False
        f = e.get('from', '')
        return f == frm if '/' in frm else f.split('/')[0] == frm
    return s.next_element(match)


def subscribe(x, y, xj, yj):
    """x asks y for its presence and y approves (RFC 6121 §3.1); both are
    available and have fetched their rosters (the answers go to those)."""
    x.send("<presence type='subscribe' to='%s'/>" % yj)
    _presence(y, 'subscribe', xj)
    y.send("<presence type='subscribed' to='%s'/>" % xj)
    _presence(x, 'subscribed', yj)


def friends(server, bob_on=None):
    """alice on 'phone' and bob on 'pc' (through bob_on, another cm, when
    given), each subscribed to the other, both available; returns
    (a, aj, apw), (b, bj, bpw)."""
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    a = server.raw_login(aj, apw, 'phone')
    b = (bob_on or server).raw_login(bj, bpw, 'pc')
    for s in (a, b):
        _roster(s)
        s.presence()
    subscribe(a, b, aj, bj)
    subscribe(b, a, bj, aj)
    _sync(a, b)
    return (a, aj, apw), (b, bj, bpw)


def _sync(*streams):
    """Answered pings: the core has handled everything each stream sent."""
    for s in streams:
        assert s.iq('get', "<ping xmlns='%s'/>" % NS_PING, to='localhost').get('type') == 'result'


def test_request_to_unknown_account_is_refused(server):
    """§3.1.3 (and §8.5.1): the contact's server answers for an account that
    does not exist with 'unsubscribed'; the request is not left pending."""
    aj, apw = server.new_user('alice')
    a = server.raw_login(aj, apw, 'pc')
    try:
        _roster(a)
        a.presence()
        a.send("<presence type='subscribe' to='nobody@localhost'/>")
        p = _presence(a, 'unsubscribed', 'nobody@localhost')
        assert p.get('to', '').split('/')[0] == aj
        item = _roster(a).get('nobody@localhost')
        assert item is not None and item.get('subscription') == 'none' and item.get('ask') is None, \
            ET.tostring(item) if item is not None else None
    finally:
        a.close()


def test_request_to_other_domain_bounces(server):
    """No s2s yet: a subscription to another domain gets
    remote-server-not-found (RFC 6120 §10.4.3), never silence."""
    aj, apw = server.new_user('alice')
    a = server.raw_login(aj, apw, 'pc')
    try:
        a.send("<presence type='subscribe' to='romeo@example.net' id='s1'/>")
        e = a.next_element(lambda e: e.tag == q(NS_CLIENT, 'presence') and e.get('type') == 'error')
        assert e.get('id') == 's1' and stanza_error(e) == 'remote-server-not-found'
    finally:
        a.close()


def test_request_waits_until_answered(server):
    """§3.1.3: a request to an offline user is kept and delivered at her next
    available presence, again at every login until she answers it."""
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    b = server.raw_login(bj, bpw, 'pc')
    try:
        _roster(b)  # §3.1.5: the answer goes to available, interested resources
        b.presence()
        b.send("<presence type='subscribe' to='%s'/>" % aj)
        _sync(b)
        for _ in range(2):  # logs in, does not answer, logs out
            a = server.raw_login(aj, apw, 'pc')
            a.presence()
            assert _presence(a, 'subscribe', bj) is not None
            a.close()
        a = server.raw_login(aj, apw, 'pc')
        _roster(a)
        a.presence()
        assert _presence(a, 'subscribe', bj) is not None
        a.send("<presence type='subscribed' to='%s'/>" % bj)
        _presence(b, 'subscribed', aj)
        _sync(a)
        a.close()
        # Answered: the next login brings no request, only bob's marker.
        a = server.raw_login(aj, apw, 'pc')
        a.presence()
        seen = []
        b.message(aj + '/pc', 'marker')
        a.next_element(lambda e: e.tag == q(NS_CLIENT, 'message') or seen.append(e))
        assert not [e for e in seen if e.get('type') == 'subscribe'], [ET.tostring(e) for e in seen]
        a.close()
    finally:
        b.close()


def test_cancel_and_unsubscribe(server):
    """§3.2: alice cancels bob's subscription to her: bob's item drops to
    'none' and he is sent her unavailable presence.  §3.3: bob unsubscribes
    from carol: carol's item drops to 'none'."""
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    a = server.raw_login(aj, apw, 'pc')
    b = server.raw_login(bj, bpw, 'pc')
    try:
        for s in (a, b):
            _roster(s)
            s.presence()
        subscribe(b, a, bj, aj)
        _presence(b, 'available', aj + '/pc')  # §3.1.5: her presence follows
        assert _roster(b)[aj].get('subscription') == 'to'
        assert _roster(a)[bj].get('subscription') == 'from'

        a.send("<presence type='unsubscribed' to='%s'/>" % bj)  # cancel
        _presence(b, 'unsubscribed', aj)
        _presence(b, 'unavailable', aj + '/pc')  # §3.2.2
        _sync(a, b)
        assert _roster(b)[aj].get('subscription') == 'none'
        assert _roster(a)[bj].get('subscription') == 'none'

        # Subscribed again, then bob unsubscribes himself (§3.3).
        subscribe(b, a, bj, aj)
        b.send("<presence type='unsubscribe' to='%s'/>" % aj)
        _presence(a, 'unsubscribe', bj)
        _sync(a, b)
        assert _roster(a)[bj].get('subscription') == 'none'
        assert _roster(b)[aj].get('subscription') == 'none'
    finally:
        a.close()
        b.close()
