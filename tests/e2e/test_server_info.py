"""What the server tells about itself and about accounts: Software Version
(XEP-0092), Entity Time (XEP-0202) and Last Activity (XEP-0012): the server's
uptime, and when a contact logged out, only to those subscribed to its
presence.  Driven by slixmpp's plugins where they exist and by raw XML where
the library hides the wire (errors, absent elements, exact formats)."""
import asyncio
import datetime
import re
import time
import xml.etree.ElementTree as ET

import slixmpp

from conftest import REPO, connect, expect, run
from xmpp_raw import NS_CLIENT, q, stanza_error

NS_VERSION = 'jabber:iq:version'
NS_TIME = 'urn:xmpp:time'
NS_LAST = 'jabber:iq:last'
NS_DISCO = 'http://jabber.org/protocol/disco#info'


def _starling_version():
    """STARLING_VERSION as lib/version.h defines it (the one place)."""
    m = re.search(r'#define STARLING_VERSION "([^"]+)"', (REPO / 'lib/version.h').read_text())
    assert m, 'lib/version.h defines no STARLING_VERSION'
    return m.group(1)


def _core_age(server):
    """Seconds since starling-core was started (its log is created then)."""
    return time.time() - (server.dir / 'starling-core.log').stat().st_ctime


def _result(el, ns, name):
    assert el.get('type') == 'result', ET.tostring(el)
    child = el.find(q(ns, name))
    assert child is not None, ET.tostring(el)
    return child


def test_disco_lists_the_features(server):
    aj, apw = server.new_user('alice')
    s = server.raw_login(aj, apw)
    try:
        r = s.iq('get', "<query xmlns='%s'/>" % NS_DISCO, to=server.domain)
        feats = {f.get('var') for f in _result(r, NS_DISCO, 'query').iter(q(NS_DISCO, 'feature'))}
        for ns in (NS_VERSION, NS_TIME, NS_LAST, 'vcard-temp', 'jabber:iq:private'):
            assert ns in feats, (ns, feats)
    finally:
        s.close()


def test_version_time_uptime_slixmpp(server):
    aj, apw = server.new_user('alice')

    async def scenario():
        c = await connect(server, aj, apw)
        for p in ('xep_0092', 'xep_0202', 'xep_0012'):
            c.register_plugin(p)
        v = await c.plugin['xep_0092'].get_version(server.domain, timeout=30)
        assert v['software_version']['name'] == 'Starling'
        assert v['software_version']['version'] == _starling_version()
        assert v['software_version']['os'] == ''

        t = await c.plugin['xep_0202'].get_entity_time(server.domain, timeout=30)
        # slixmpp 1.8 cannot parse either field here (it appends a second 'Z'
        # to <utc/>, makes up the current time when it is empty, and its
        # <tzo/> parse fails on this Python): read the elements.
        el = t.xml.find(q(NS_TIME, 'time'))
        assert el.find(q(NS_TIME, 'tzo')).text == '+00:00'
        utc = datetime.datetime.strptime(el.find(q(NS_TIME, 'utc')).text,
                '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc)
        now = datetime.datetime.now(datetime.timezone.utc)
        # Same machine: only a guard against a wrong field or time zone.
        assert abs((utc - now).total_seconds()) < 600, (utc, now)

        first = await c.plugin['xep_0012'].get_last_activity(server.domain, timeout=30)
        up1 = first['last_activity']['seconds']
        assert 0 <= up1 <= _core_age(server) + 2, (up1, _core_age(server))
        await asyncio.sleep(2.1)
        second = await c.plugin['xep_0012'].get_last_activity(server.domain, timeout=30)
        assert second['last_activity']['seconds'] >= up1 + 2
    run(scenario())


def test_server_info_raw(server):
    aj, apw = server.new_user('alice')
    bj, _ = server.new_user('bob')
    s = server.raw_login(aj, apw)
    try:
        # XEP-0092 §5: no <os/>; exactly name and version.
        v = _result(s.iq('get', "<query xmlns='%s'/>" % NS_VERSION, to=server.domain),
                    NS_VERSION, 'query')
        assert [c.tag for c in v] == [q(NS_VERSION, 'name'), q(NS_VERSION, 'version')]
        # XEP-0202 with XEP-0082's DateTime in UTC.
        t = _result(s.iq('get', "<time xmlns='%s'/>" % NS_TIME), NS_TIME, 'time')
        assert t.find(q(NS_TIME, 'tzo')).text == '+00:00'
        assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', t.find(q(NS_TIME, 'utc')).text)
        # XEP-0012 §5: the server's uptime, without character data.
        up = _result(s.iq('get', "<query xmlns='%s'/>" % NS_LAST, to=server.domain),
                     NS_LAST, 'query')
        assert up.get('seconds').isdigit() and not (up.text or '').strip()
        # No 'to' is the own account (RFC 6120 §10.3.3): online, so 0.
        own = _result(s.iq('get', "<query xmlns='%s'/>" % NS_LAST), NS_LAST, 'query')
        assert own.get('seconds') == '0'
        # Only get is defined for the three.
        for payload in ("<query xmlns='%s'/>" % NS_VERSION, "<time xmlns='%s'/>" % NS_TIME,
                        "<query xmlns='%s'/>" % NS_LAST):
            r = s.iq('set', payload, to=server.domain)
            assert r.get('type') == 'error' and stanza_error(r) == 'bad-request', ET.tostring(r)
        # An account's version and time belong to its clients: the server
        # answering for the bare JID supports neither.
        for payload in ("<query xmlns='%s'/>" % NS_VERSION, "<time xmlns='%s'/>" % NS_TIME):
            r = s.iq('get', payload, to=bj)
            assert stanza_error(r) == 'service-unavailable', ET.tostring(r)
            assert r.get('from') == bj
    finally:
        s.close()


def _presence(type_, frm):
    return lambda p: p['type'] == type_ and p['from'].bare == frm


async def _subscribe(a, b):
    """a subscribes to b's presence and b approves: b's roster then has a
    with subscription 'from', a's has b with 'to' (RFC 6121 §3.1)."""
    a.send_presence_subscription(pto=b.boundjid.bare, ptype='subscribe')
    await expect(b.presences, _presence('subscribe', a.boundjid.bare), 'subscribe at b')
    b.send_presence_subscription(pto=a.boundjid.bare, ptype='subscribed')
    await expect(a.presences, _presence('subscribed', b.boundjid.bare), 'subscribed at a')


async def _last(c, jid):
    """(seconds, status) of jid's last activity, or the error condition."""
    try:
        iq = await c.plugin['xep_0012'].get_last_activity(jid, timeout=30)
    except slixmpp.exceptions.IqError as e:
        return e.iq['error']['condition']
    return iq['last_activity']['seconds'], iq['last_activity']['status'] or ''


async def _last_offline(c, jid):
    """_last() once the core has seen jid's session end (the cm tells it
    after the stream closed, on its own schedule)."""
    for _ in range(100):
        got = await _last(c, jid)
        if got != (0, ''):
            return got
        await asyncio.sleep(0.05)
    return got


def test_last_activity_of_contacts(server):
    (aj, apw), (bj, bpw), (cj, cpw) = (server.new_user('alice'), server.new_user('bob'),
                                       server.new_user('carol'))

    async def scenario():
        a = await connect(server, aj, apw, presence=True)
        b = await connect(server, bj, bpw, presence=True)
        c = await connect(server, cj, cpw, presence=True)
        for x in (a, b, c):
            x.register_plugin('xep_0012')
        await _subscribe(a, b)  # alice may see bob's presence, not the reverse

        assert await _last(a, bj) == (0, '')  # §3: online
        assert await _last(b, aj) == 'forbidden'  # bob is not subscribed to alice
        assert await _last(c, bj) == 'forbidden'  # no subscription at all

        # Bob leaves with a status (XEP-0012 §3: the last unavailable presence).
        b.send_presence(ptype='unavailable', pstatus='Heading Home')
        await expect(a.presences, _presence('unavailable', bj), 'bob unavailable')
        await b.stop()
        first = await _last_offline(a, bj)
        assert isinstance(first, tuple) and first[1] == 'Heading Home', first
        assert 0 <= first[0] < 120, first
        await asyncio.sleep(2.1)
        later = await _last(a, bj)
        assert later[1] == 'Heading Home' and later[0] >= first[0] + 2, (first, later)
        assert await _last(c, bj) == 'forbidden'  # offline changes nothing for carol
    run(scenario())


def test_last_activity_connected_but_unavailable(server):
    """Counted are available resources: bob connected without presence is
    reported by his last logout, and with no logout recorded there is
    nothing to tell (the error a missing account gets)."""
    (aj, apw), (bj, bpw) = server.new_user('alice'), server.new_user('bob')
    a = server.raw_login(aj, apw)
    b = server.raw_login(bj, bpw)
    try:
        a.presence()  # alice sees bob's presence broadcasts below
        a.send("<presence to='%s' type='subscribe'/>" % bj)
        a.iq('get', "<ping xmlns='urn:xmpp:ping'/>")  # the request is in before the answer
        b.send("<presence to='%s' type='subscribed'/>" % aj)  # §3.1.3 answers the stored one
        b.iq('get', "<ping xmlns='urn:xmpp:ping'/>")
        r = a.iq('get', "<query xmlns='%s'/>" % NS_LAST, to=bj)
        assert r.get('type') == 'error' and stanza_error(r) == 'service-unavailable', \
            ET.tostring(r)
        assert r.get('from') == bj
        # A logout without any status, then back without presence: the logout counts.
        b.close()
        for _ in range(100):
            r = a.iq('get', "<query xmlns='%s'/>" % NS_LAST, to=bj)
            if r.get('type') == 'result':
                break
            time.sleep(0.05)  # the cm tells the core about the closed socket
        got = _result(r, NS_LAST, 'query')
        assert got.get('seconds').isdigit() and not (got.text or '').strip()
        b = server.raw_login(bj, bpw)
        r = a.iq('get', "<query xmlns='%s'/>" % NS_LAST, to=bj)
        assert _result(r, NS_LAST, 'query').get('seconds').isdigit()
        # Once available, 0.
        b.presence()
        a.next_element(lambda e: e.tag == q(NS_CLIENT, 'presence') and
                       e.get('from', '').startswith(bj + '/'))
        r = a.iq('get', "<query xmlns='%s'/>" % NS_LAST, to=bj)
        assert _result(r, NS_LAST, 'query').get('seconds') == '0'
        r = b.iq('set', "<query xmlns='%s'/>" % NS_LAST, to=aj)
        assert stanza_error(r) == 'bad-request'
    finally:
        a.close()
        b.close()
