"""Message Carbons (XEP-0280): a user's resources that enable carbons see the
chat messages the account receives at another resource and sends from one,
forwarded (XEP-0297) with the original from and to; a resource that did not
enable them, and a <private/> message, get no copies.  Checked on the raw
stream (exact XML) and with slixmpp's own XEP-0280 plugin."""
import asyncio
import xml.etree.ElementTree as ET

from conftest import connect, expect, run
from xmpp_raw import NS_CLIENT, q

NS_CARBONS = 'urn:xmpp:carbons:2'
NS_FORWARD = 'urn:xmpp:forward:0'
NS_DISCO = 'http://jabber.org/protocol/disco#info'


def _enable(s):
    r = s.iq('set', "<enable xmlns='%s'/>" % NS_CARBONS)
    assert r.get('type') == 'result', ET.tostring(r)


def _copy(msg, which):
    """The forwarded <message/> inside a carbon of kind which, or None."""
    w = msg.find(q(NS_CARBONS, which))
    if w is None:
        return None
    return w.find('%s/%s' % (q(NS_FORWARD, 'forwarded'), q(NS_CLIENT, 'message')))


def test_carbons_raw(server):
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    a1 = server.raw_login(aj, apw, 'one')
    a2 = server.raw_login(aj, apw, 'two')
    a3 = server.raw_login(aj, apw, 'three')  # never enables carbons
    b = server.raw_login(bj, bpw, 'pc')
    try:
        feats = a1.iq('get', "<query xmlns='%s'/>" % NS_DISCO, to='localhost')
        assert NS_CARBONS in [f.get('var') for f in feats.iter(q(NS_DISCO, 'feature'))]
        for s in (a1, a2, b):
            s.presence()
        _enable(a1)
        _enable(a2)

        # Received at a1: a2 gets a <received/> copy from alice's bare JID.
        b.message(aj + '/one', 'to one')
        assert a1.next_message().find(q(NS_CLIENT, 'body')).text == 'to one'
        m = a2.next_message()
        assert m.get('from') == aj and m.get('to') == aj + '/two'
        inner = _copy(m, 'received')
        assert inner is not None, ET.tostring(m)
        assert inner.get('from') == bj + '/pc' and inner.get('to') == aj + '/one'
        assert inner.get('type') == 'chat' and inner.find(q(NS_CLIENT, 'body')).text == 'to one'

        # Sent from a1: a2 gets a <sent/> copy; bob gets the message itself.
        a1.message(bj, 'from one')
        assert b.next_message().find(q(NS_CLIENT, 'body')).text == 'from one'
        inner = _copy(a2.next_message(), 'sent')
        assert inner is not None
        assert inner.get('from') == aj + '/one' and inner.get('to') == bj
        assert inner.find(q(NS_CLIENT, 'body')).text == 'from one'

        # §7: <private/> is not copied; then a marker shows nothing came.
        a1.send("<message type='chat' to='%s'><body>secret</body><private xmlns='%s'/>"
                "</message>" % (bj, NS_CARBONS))
        b.next_message()
        b.message(aj + '/two', 'marker')
        m = a2.next_message()
        assert m.find(q(NS_CLIENT, 'body')).text == 'marker', ET.tostring(m)

        # Disabled: no more copies to a2.
        r = a2.iq('set', "<disable xmlns='%s'/>" % NS_CARBONS)
        assert r.get('type') == 'result'
        b.message(aj + '/one', 'after disable')
        a1.next_message()
        b.message(aj + '/two', 'marker 2')
        assert a2.next_message().find(q(NS_CLIENT, 'body')).text == 'marker 2'

        # a3 never enabled carbons: the first message it sees is its own.
        b.message(aj + '/three', 'for three')
        assert a3.next_message().find(q(NS_CLIENT, 'body')).text == 'for three'
    finally:
        for s in (a1, a2, a3, b):
            s.close()


def test_carbons_slixmpp(server):
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')

    async def scenario():
        a1 = await connect(server, aj, apw, resource='phone', presence=True)
        a2 = await connect(server, aj, apw, resource='laptop', presence=True)
        b = await connect(server, bj, bpw, presence=True)
        got = {'received': [], 'sent': []}
        a2.register_plugin('xep_0280')
        a2.add_event_handler('carbon_received', lambda m: got['received'].append(m))
        a2.add_event_handler('carbon_sent', lambda m: got['sent'].append(m))
        await a2.plugin['xep_0280'].enable(timeout=30)
        b.send_message(mto=aj + '/phone', mbody='hi phone', mtype='chat')
        a1.send_message(mto=bj, mbody='hi bob', mtype='chat')
        await expect(b.messages, lambda m: m['body'] == 'hi bob', 'message at bob')
        for _ in range(100):
            if got['received'] and got['sent']:
                break
            await asyncio.sleep(0.05)
        rx = got['received'][0]['carbon_received']
        tx = got['sent'][0]['carbon_sent']
        assert rx['body'] == 'hi phone' and str(rx['to']) == aj + '/phone'
        assert tx['body'] == 'hi bob' and str(tx['from']) == aj + '/phone'
    run(scenario())
