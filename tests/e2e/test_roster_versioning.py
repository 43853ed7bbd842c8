"""Roster versioning (RFC 6121 §2.6), on the raw stream so that the exact
shape of each answer (an empty result is not an empty <query/>) is seen."""
import subprocess

from xmpp_raw import NS_CLIENT, NS_ROSTER, new_id, q

NS_VER = 'urn:xmpp:features:rosterver'


def _get(s, ver=None):
    attr = '' if ver is None else " ver='%s'" % ver
    return s.iq('get', "<query xmlns='%s'%s/>" % (NS_ROSTER, attr))


def _set(s, item):
    """A roster set; returns (push, result) in whichever order they came."""
    rid = new_id('set')
    s.send("<iq type='set' id='%s'><query xmlns='%s'>%s</query></iq>" % (rid, NS_ROSTER, item))
    push = result = None
    while push is None or result is None:
        el = s.next_element(lambda e: e.tag == q(NS_CLIENT, 'iq'))
        if el.get('id') == rid:
            result = el
        elif el.get('type') == 'set':
            push = el
    assert result.get('type') == 'result'
    return push, result


def _items(iq):
    return [i.get('jid') for i in iq.find(q(NS_ROSTER, 'query'))]


def test_roster_versioning(server):
    aj, apw = server.new_user('alice')
    bj, _ = server.new_user('bob')
    cj, _ = server.new_user('carol')
    s = server.raw()
    s.authenticate(aj.split('@')[0], apw)
    # §2.6.1: advertised after authentication
    assert s.open().find(q(NS_VER, 'ver')) is not None, 'no <ver/> stream feature'
    s.bind('v')

    # §2.6.2: ver='' asks for the whole roster and its version
    r = _get(s, '')
    v0 = r.find(q(NS_ROSTER, 'query')).get('ver')
    assert v0 is not None and _items(r) == []
    # §2.6.3: the version the client holds is current: an empty result, no <query/>
    r = _get(s, v0)
    assert r.get('type') == 'result' and len(r) == 0

    # Each change moves the version; the push carries it (and it is unique).
    push1, _ = _set(s, "<item jid='%s'/>" % bj)
    v1 = push1.find(q(NS_ROSTER, 'query')).get('ver')
    push2, _ = _set(s, "<item jid='%s' name='Bob'/>" % bj)
    v2 = push2.find(q(NS_ROSTER, 'query')).get('ver')
    assert len({v0, v1, v2}) == 3, (v0, v1, v2)

    # An old version gets the whole roster at the current version ...
    r = _get(s, v0)
    assert r.find(q(NS_ROSTER, 'query')).get('ver') == v2 and _items(r) == [bj]
    r = _get(s, 'no-such-version')
    assert r.find(q(NS_ROSTER, 'query')).get('ver') == v2
    # ... the current one nothing; a client not versioning gets no ver.
    assert len(_get(s, v2)) == 0
    r = _get(s, None)
    assert r.find(q(NS_ROSTER, 'query')).get('ver') is None and _items(r) == [bj]

    # A change made while the client is away (here by another resource)
    # moves the version too.
    t = server.raw_login(aj, apw, 'other')
    _get(t)  # interested: gets the push (§2.1.6)
    _set(t, "<item jid='%s'/>" % cj)
    t.close()
    r = _get(s, v2)
    assert r.find(q(NS_ROSTER, 'query')).get('ver') not in (None, v2)
    assert sorted(_items(r)) == sorted([bj, cj])
    s.close()
