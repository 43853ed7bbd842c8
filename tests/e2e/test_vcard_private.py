"""Documents the server keeps for an account: vcard-temp (XEP-0054), public,
and Private XML Storage (XEP-0049), for the account only; their size limits
and the errors of §3.2/§3.3 and §2.3.  Driven by slixmpp's xep_0054 and
xep_0049 plugins, and by raw XML for the wire (errors, namespaces, limits)."""
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.xmlstream import ElementBase

from conftest import connect, run
from xmpp_raw import q, stanza_error

# Room for stanzas over the 64 KiB document limit, so the core (and not the
# cm's stanza limit) is what refuses them.
SERVER_OPTIONS = {'max_stanza_size': 262144}

NS_VCARD = 'vcard-temp'
NS_PRIVATE = 'jabber:iq:private'
LIMIT = 65536


def _vcard(fn, extra=''):
    return "<vCard xmlns='%s'><FN>%s</FN>%s</vCard>" % (NS_VCARD, fn, extra)


def _ok(r):
    assert r.get('type') == 'result', ET.tostring(r)
    return r


def _err(r, cond):
    assert r.get('type') == 'error' and stanza_error(r) == cond, ET.tostring(r)


def _fn(r):
    fn = _ok(r).find('%s/%s' % (q(NS_VCARD, 'vCard'), q(NS_VCARD, 'FN')))
    return None if fn is None else fn.text


def test_vcard_slixmpp(server):
    (aj, apw), (bj, bpw), (cj, _) = (server.new_user('alice'), server.new_user('bob'),
                                     server.new_user('carol'))

    async def scenario():
        a = await connect(server, aj, apw)
        b = await connect(server, bj, bpw)
        for x in (a, b):
            x.register_plugin('xep_0054')
        v = a.plugin['xep_0054'].make_vcard()
        v['FN'] = 'Alice <& Wonder> \u00e9'
        v['NICKNAME'] = 'ali'
        await a.plugin['xep_0054'].publish_vcard(v, timeout=30)
        own = await a.plugin['xep_0054'].get_vcard(aj, local=False, timeout=30)
        assert own['vcard_temp']['FN'] == 'Alice <& Wonder> \u00e9'
        other = await b.plugin['xep_0054'].get_vcard(aj, local=False, timeout=30)
        assert other['vcard_temp']['FN'] == 'Alice <& Wonder> \u00e9'
        assert other['vcard_temp']['NICKNAME'] == ['ali']  # a list in slixmpp
        assert str(other['from']) == aj
        # §3.3: carol has none: the error of a missing account.
        try:
            await b.plugin['xep_0054'].get_vcard(cj, local=False, timeout=30)
            raise AssertionError('vCard of carol, who has none')
        except slixmpp.exceptions.IqError as e:
            assert e.iq['error']['condition'] == 'service-unavailable'
    run(scenario())


def test_vcard_raw(server):
    (aj, apw), (bj, bpw) = server.new_user('alice'), server.new_user('bob')
    a = server.raw_login(aj, apw)
    b = server.raw_login(bj, bpw)
    try:
        # §3.1: none yet: an empty <vCard/>, with no 'to' and to the own bare JID.
        for to in (None, aj):
            v = _ok(a.iq('get', "<vCard xmlns='%s'/>" % NS_VCARD, to=to)).find(
                q(NS_VCARD, 'vCard'))
            assert v is not None and len(v) == 0
        _err(b.iq('get', "<vCard xmlns='%s'/>" % NS_VCARD, to=aj), 'service-unavailable')
        _err(b.iq('get', "<vCard xmlns='%s'/>" % NS_VCARD, to='nobody@' + server.domain),
             'service-unavailable')

        # Prefixed namespaces survive the trip (declared on the stored element).
        _ok(a.iq('set', "<v:vCard xmlns:v='%s'><v:FN>Pre</v:FN><v:NOTE>n</v:NOTE></v:vCard>"
                 % NS_VCARD))
        assert _fn(b.iq('get', "<vCard xmlns='%s'/>" % NS_VCARD, to=aj)) == 'Pre'
        _ok(a.iq('set', _vcard('Alice')))
        assert _fn(a.iq('get', "<vCard xmlns='%s'/>" % NS_VCARD)) == 'Alice'
        assert _fn(b.iq('get', "<vCard xmlns='%s'/>" % NS_VCARD, to=aj)) == 'Alice'

        # §3.2: not someone else's.
        _err(b.iq('set', _vcard('Mallory'), to=aj), 'forbidden')
        # Over the limit: refused, the stored one kept.
        _err(a.iq('set', _vcard('Big', '<DESC>%s</DESC>' % ('x' * LIMIT))), 'not-acceptable')
        assert _fn(b.iq('get', "<vCard xmlns='%s'/>" % NS_VCARD, to=aj)) == 'Alice'
        # Just under it: stored.
        desc = 'y' * (LIMIT - 200)
        _ok(a.iq('set', _vcard('Long', '<DESC>%s</DESC>' % desc)))
        r = b.iq('get', "<vCard xmlns='%s'/>" % NS_VCARD, to=aj)
        assert _fn(r) == 'Long'
        assert r.find('%s/%s' % (q(NS_VCARD, 'vCard'), q(NS_VCARD, 'DESC'))).text == desc

        # An empty vCard removes it.
        _ok(a.iq('set', "<vCard xmlns='%s'/>" % NS_VCARD))
        _err(b.iq('get', "<vCard xmlns='%s'/>" % NS_VCARD, to=aj), 'service-unavailable')
        assert len(_ok(a.iq('get', "<vCard xmlns='%s'/>" % NS_VCARD)).find(
            q(NS_VCARD, 'vCard'))) == 0
        # The domain has no vCard.
        _err(a.iq('get', "<vCard xmlns='%s'/>" % NS_VCARD, to=server.domain),
             'service-unavailable')
        _ok(a.iq('set', _vcard('Kept')))
    finally:
        a.close()
        b.close()
    # Stored, not held in memory: a restart keeps it.
    server.restart()
    b = server.raw_login(bj, bpw)
    try:
        assert _fn(b.iq('get', "<vCard xmlns='%s'/>" % NS_VCARD, to=aj)) == 'Kept'
    finally:
        b.close()


class Prefs(ElementBase):
    """<prefs xmlns='starling:test:prefs'><nick/></prefs> for xep_0049."""
    name = 'prefs'
    namespace = 'starling:test:prefs'
    plugin_attrib = 'prefs'
    interfaces = {'nick'}
    sub_interfaces = interfaces


def test_private_slixmpp(server):
    (aj, apw), (bj, bpw) = server.new_user('alice'), server.new_user('bob')

    async def scenario():
        a = await connect(server, aj, apw)
        b = await connect(server, bj, bpw)
        for x in (a, b):
            x.register_plugin('xep_0049')
            x.plugin['xep_0049'].register(Prefs)
        p = Prefs()
        p['nick'] = 'Hamlet & co'
        await a.plugin['xep_0049'].store(p, timeout=30)
        got = await a.plugin['xep_0049'].retrieve('prefs', timeout=30)
        assert got['private']['prefs']['nick'] == 'Hamlet & co'
        # Per account: bob has none, and gets the empty element back.
        none = await b.plugin['xep_0049'].retrieve('prefs', timeout=30)
        el = none.xml.find('%s/%s' % (q(NS_PRIVATE, 'query'), q(Prefs.namespace, 'prefs')))
        assert el is not None and len(el) == 0 and not el.attrib
    run(scenario())


def _private(s, type_, inner, to=None):
    return s.iq(type_, "<query xmlns='%s'>%s</query>" % (NS_PRIVATE, inner), to=to)


def _stored(r, ns, name):
    _ok(r)
    el = r.find('%s/%s' % (q(NS_PRIVATE, 'query'), q(ns, name)))
    assert el is not None, ET.tostring(r)
    return el


def test_private_raw(server):
    (aj, apw), (bj, bpw) = server.new_user('alice'), server.new_user('bob')
    a = server.raw_login(aj, apw)
    b = server.raw_login(bj, bpw)
    try:
        # Prefixes and an unprefixed grandchild keep their namespaces.
        _ok(_private(a, 'set', "<p:data xmlns:p='x:y'><p:item>1</p:item><plain>2</plain>"
                     "</p:data>"))
        el = _stored(_private(a, 'get', "<data xmlns='x:y'/>"), 'x:y', 'data')
        assert el.find(q('x:y', 'item')).text == '1'
        assert el.find(q(NS_PRIVATE, 'plain')).text == '2'
        # Own bare JID is the account too.
        _stored(_private(a, 'get', "<data xmlns='x:y'/>", to=aj), 'x:y', 'data')
        # §2.3: someone else's (or the server's) is forbidden, get and set.
        for type_ in ('get', 'set'):
            _err(_private(b, type_, "<data xmlns='x:y'><z/></data>", to=aj), 'forbidden')
            _err(_private(b, type_, "<data xmlns='x:y'><z/></data>", to=server.domain),
                 'forbidden')
        # §2.3: one child in a namespace of its own.
        _err(_private(a, 'get', ''), 'not-acceptable')
        _err(_private(a, 'set', '<nons>1</nons>'), 'not-acceptable')  # jabber:iq:private
        _err(_private(a, 'set', "<x xmlns='jabber:client'>1</x>"), 'not-acceptable')
        _err(_private(a, 'set', "<a xmlns='n:1'/><b xmlns='n:1'/>"), 'not-acceptable')
        # Size limit per document; the one stored is kept.
        _err(_private(a, 'set', "<data xmlns='x:y'>%s</data>" % ('x' * LIMIT)),
             'not-acceptable')
        assert _stored(_private(a, 'get', "<data xmlns='x:y'/>"), 'x:y', 'data').find(
            q('x:y', 'item')) is not None
        # An empty element removes the document.
        _ok(_private(a, 'set', "<data xmlns='x:y'/>"))
        el = _stored(_private(a, 'get', "<data xmlns='x:y'/>"), 'x:y', 'data')
        assert len(el) == 0
    finally:
        a.close()
        b.close()


def test_private_document_count(server):
    aj, apw = server.new_user('alice')
    a = server.raw_login(aj, apw)
    try:
        for i in range(100):
            _ok(_private(a, 'set', "<d xmlns='n:%d'>%d</d>" % (i, i)))
        _err(_private(a, 'set', "<d xmlns='n:100'>100</d>"), 'not-acceptable')
        _ok(_private(a, 'set', "<d xmlns='n:7'>seven</d>"))  # replacing is no new one
        assert _stored(_private(a, 'get', "<d xmlns='n:7'/>"), 'n:7', 'd').text == 'seven'
        _ok(_private(a, 'set', "<d xmlns='n:3'/>"))  # removing one makes room
        _ok(_private(a, 'set', "<d xmlns='n:100'>100</d>"))
        assert _stored(_private(a, 'get', "<d xmlns='n:100'/>"), 'n:100', 'd').text == '100'
    finally:
        a.close()
