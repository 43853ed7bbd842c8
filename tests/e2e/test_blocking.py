"""Blocking Command (XEP-0191): the blocklist IQs and their pushes (§3), the
rules for stanzas between a user and an entity it blocks (§3.3), presence
withdrawn and restored (§3.3, §3.4), JID matching (§6), persistence across
sessions and the offline paths.  Raw XML where the wire matters, slixmpp's
own xep_0191 plugin for the client's view.

"Nothing arrives" is checked without timing: after the stanza that must not
arrive, an unblocked sender sends a marker, and the marker must be the next
stanza of its kind."""
import xml.etree.ElementTree as ET

from conftest import connect, expect, run
from test_roster_presence import befriend
from xmpp_raw import NS_CLIENT, body_of, q, stanza_error

NS_BLOCK = 'urn:xmpp:blocking'
NS_BLOCK_ERR = 'urn:xmpp:blocking:errors'
NS_DISCO = 'http://jabber.org/protocol/disco#info'
NS_PING = 'urn:xmpp:ping'


def _items(jids):
    return ''.join("<item jid='%s'/>" % j for j in jids)


def _block(s, *jids):
    return s.iq('set', "<block xmlns='%s'>%s</block>" % (NS_BLOCK, _items(jids)))


def _unblock(s, *jids):
    return s.iq('set', "<unblock xmlns='%s'>%s</unblock>" % (NS_BLOCK, _items(jids)))


def _blocklist(s):
    r = s.iq('get', "<blocklist xmlns='%s'/>" % NS_BLOCK)
    assert r.get('type') == 'result', ET.tostring(r)
    bl = r.find(q(NS_BLOCK, 'blocklist'))
    assert bl is not None, ET.tostring(r)
    return sorted(i.get('jid') for i in bl.findall(q(NS_BLOCK, 'item')))


def _next_body(s):
    return body_of(s.next_message())


def test_blocklist_iqs_and_pushes(server):
    aj, apw = server.new_user('alice')
    a1 = server.raw_login(aj, apw, 'one')
    a2 = server.raw_login(aj, apw, 'two')
    a3 = server.raw_login(aj, apw, 'three')  # never asks for the list: no pushes
    try:
        feats = a1.iq('get', "<query xmlns='%s'/>" % NS_DISCO, to='localhost')
        assert NS_BLOCK in [f.get('var') for f in feats.iter(q(NS_DISCO, 'feature'))]
        assert _blocklist(a1) == []
        assert _blocklist(a2) == []

        # §3.3: a block is answered, then pushed to the resources that asked.
        r = _block(a1, 'spam@example.com', 'Troll@Example.COM/Res')
        assert r.get('type') == 'result' and len(r) == 0, ET.tostring(r)
        for s in (a1, a2):
            push = s.next_element(lambda e: e.tag == q(NS_CLIENT, 'iq') and e.get('type') == 'set')
            assert push.get('to') == aj + ('/one' if s is a1 else '/two')
            blk = push.find(q(NS_BLOCK, 'block'))
            assert blk is not None, ET.tostring(push)
            assert sorted(i.get('jid') for i in blk) == ['spam@example.com', 'troll@example.com/Res']
            s.send("<iq type='result' id='%s'/>" % push.get('id'))
        # Stored prepared (nodeprep/nameprep), read back in order.
        assert _blocklist(a3) == ['spam@example.com', 'troll@example.com/Res']

        # §3.3: at least one item; a JID that cannot be prepared is malformed.
        assert stanza_error(a1.iq('set', "<block xmlns='%s'/>" % NS_BLOCK)) == 'bad-request'
        assert stanza_error(_block(a1, 'a@b@c')) == 'jid-malformed'
        assert stanza_error(a1.iq('set', "<blocklist xmlns='%s'/>" % NS_BLOCK)) == 'bad-request'
        assert stanza_error(a1.iq('get', "<block xmlns='%s'>%s</block>"
                                  % (NS_BLOCK, _items(['x@example.com'])))) == 'bad-request'
        assert _blocklist(a1) == ['spam@example.com', 'troll@example.com/Res']

        # §3.4: unblock one, with its push.
        assert _unblock(a1, 'spam@example.com').get('type') == 'result'
        push = a2.next_element(lambda e: e.tag == q(NS_CLIENT, 'iq') and e.get('type') == 'set')
        ub = push.find(q(NS_BLOCK, 'unblock'))
        assert ub is not None and [i.get('jid') for i in ub] == ['spam@example.com']
        assert _blocklist(a1) == ['troll@example.com/Res']

        # §3.5: unblock everything; the push is an empty <unblock/>.
        assert _unblock(a1).get('type') == 'result'
        push = a2.next_element(lambda e: e.tag == q(NS_CLIENT, 'iq') and e.get('type') == 'set'
                               and e.find(q(NS_BLOCK, 'unblock')) is not None)
        assert len(push.find(q(NS_BLOCK, 'unblock'))) == 0
        assert _blocklist(a1) == []
    finally:
        for s in (a1, a2, a3):
            s.close()


def test_stanzas_between_blocked_parties(server):
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    cj, cpw = server.new_user('carol')
    a = server.raw_login(aj, apw, 'pc')
    b = server.raw_login(bj, bpw, 'pc')
    c = server.raw_login(cj, cpw, 'pc')
    try:
        for s in (a, b, c):
            s.presence()
        assert _block(a, bj).get('type') == 'result'

        # Inbound message: bob gets <service-unavailable/>; alice sees nothing.
        b.message(aj, 'blocked hello')
        err = b.next_element(lambda e: e.tag == q(NS_CLIENT, 'message') and e.get('type') == 'error')
        assert stanza_error(err) == 'service-unavailable' and err.get('from') == aj
        c.message(aj, 'marker 1')
        assert _next_body(a) == 'marker 1'

        # Inbound IQ get: service-unavailable, to the bare and the full JID.
        for to in (aj, aj + '/pc'):
            r = b.iq('get', "<ping xmlns='%s'/>" % NS_PING, to=to)
            assert r.get('type') == 'error' and stanza_error(r) == 'service-unavailable', to

        # Outbound: alice's message to bob is refused with <blocked/>, not routed.
        a.message(bj, 'to the blocked')
        err = a.next_element(lambda e: e.tag == q(NS_CLIENT, 'message') and e.get('type') == 'error')
        assert stanza_error(err) == 'not-acceptable'
        assert err.find('%s/%s' % (q(NS_CLIENT, 'error'), q(NS_BLOCK_ERR, 'blocked'))) is not None
        r = a.iq('get', "<ping xmlns='%s'/>" % NS_PING, to=bj + '/pc')
        assert stanza_error(r) == 'not-acceptable'
        c.message(bj, 'marker 2')
        assert _next_body(b) == 'marker 2'

        # Her own resources and her server stay reachable whatever she blocks.
        assert _block(a, 'localhost').get('type') == 'result'
        a.message(aj, 'note to self')
        assert _next_body(a) == 'note to self'
        assert a.iq('get', "<ping xmlns='%s'/>" % NS_PING, to='localhost').get('type') == 'result'
        # §6: the domain matches every user of it.
        c.message(aj, 'from carol while the domain is blocked')
        err = c.next_element(lambda e: e.tag == q(NS_CLIENT, 'message') and e.get('type') == 'error')
        assert stanza_error(err) == 'service-unavailable'

        # Unblocked: messages flow again both ways.
        assert _unblock(a).get('type') == 'result'
        b.message(aj, 'after unblock')
        assert _next_body(a) == 'after unblock'
        a.message(bj, 'reply')
        assert _next_body(b) == 'reply'
    finally:
        for s in (a, b, c):
            s.close()


def test_full_jid_item_blocks_one_resource(server):
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    a = server.raw_login(aj, apw, 'pc')
    b1 = server.raw_login(bj, bpw, 'one')
    b2 = server.raw_login(bj, bpw, 'two')
    try:
        assert _block(a, bj + '/one').get('type') == 'result'
        b1.message(aj + '/pc', 'from one')
        err = b1.next_element(lambda e: e.tag == q(NS_CLIENT, 'message') and e.get('type') == 'error')
        assert stanza_error(err) == 'service-unavailable'
        b2.message(aj + '/pc', 'from two')
        assert _next_body(a) == 'from two'
    finally:
        for s in (a, b1, b2):
            s.close()


def test_offline_paths_and_persistence(server):
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    cj, cpw = server.new_user('carol')
    a = server.raw_login(aj, apw, 'pc')
    assert _block(a, bj).get('type') == 'result'
    a.close()
    b = server.raw_login(bj, bpw, 'pc')
    c = server.raw_login(cj, cpw, 'pc')
    try:
        # Alice offline: bob's message bounces and is not stored; carol's is.
        b.message(aj, 'stored?')
        err = b.next_element(lambda e: e.tag == q(NS_CLIENT, 'message') and e.get('type') == 'error')
        assert stanza_error(err) == 'service-unavailable'
        # A subscription request from bob is dropped without an error.
        b.send("<presence type='subscribe' to='%s'/>" % aj)
        c.send("<presence type='subscribe' to='%s'/>" % aj)
        c.message(aj, 'from carol')
        # Answered pings: the core has handled everything each sent before.
        for s in (b, c):
            assert s.iq('get', "<ping xmlns='%s'/>" % NS_PING, to='localhost').get('type') == 'result'
        a = server.raw_login(aj, apw, 'pc')
        a.presence()
        # Pending requests come before stored messages (presence.c).
        subs = []
        m = a.next_element(lambda e: e.tag == q(NS_CLIENT, 'message') or (
            e.get('type') == 'subscribe' and subs.append(e.get('from'))))
        assert body_of(m) == 'from carol'
        assert subs == [cj], 'pending requests delivered: %s' % subs
        # The list outlived the session (store).
        assert _blocklist(a) == [bj]
        a.close()
    finally:
        b.close()
        c.close()


def test_presence_with_slixmpp(server):
    (aj, apw), (bj, bpw) = server.new_user('alice'), server.new_user('bob')

    async def scenario():
        a = await connect(server, aj, apw, resource='desk', presence=True)
        b = await connect(server, bj, bpw, resource='phone', presence=True)
        a.register_plugin('xep_0191')
        await befriend(a, b)
        a.send_presence(pstatus='here')
        b.send_presence(pstatus='there')
        await expect(b.presences, lambda p: p['from'] == aj + '/desk' and p['type'] == 'available',
                     'alice available at bob')
        await expect(a.presences, lambda p: p['from'] == bj + '/phone' and p['type'] == 'available',
                     'bob available at alice')
        assert (await a.plugin['xep_0191'].get_blocked())['blocklist']['items'] == set()

        # §3.3: blocking sends bob alice's unavailable presence...
        await a.plugin['xep_0191'].block([bj])
        await expect(b.presences, lambda p: p['from'] == aj + '/desk' and p['type'] == 'unavailable',
                     'unavailable from alice at bob')
        # ...and alice no longer gets bob's presence: up to the marker from
        # her own second resource, nothing bob sent after the block arrives
        # (presences he sent before it may still be queued at the client).
        b.send_presence(pstatus='still there')
        a2 = await connect(server, aj, apw, resource='tablet')
        a2.send_presence(pstatus='marker')
        seen = []
        await expect(a.presences, lambda p: seen.append(p) or p['from'] == aj + '/tablet',
                     'the marker at alice')
        assert not [p for p in seen if p['status'] == 'still there'], [str(p) for p in seen]
        items = (await a.plugin['xep_0191'].get_blocked())['blocklist']['items']
        assert {str(j) for j in items} == {bj}

        # §3.4: unblocking sends bob alice's current presence again.
        await a.plugin['xep_0191'].unblock([bj])
        p = await expect(b.presences, lambda p: p['from'] == aj + '/desk', 'alice again at bob')
        assert p['type'] == 'available' and p['status'] == 'here'
    run(scenario())


def test_block_applies_to_what_waited(server):
    """Stanzas stored while the user was offline, from an entity blocked since,
    are not delivered at the next login (XEP-0191 §3.3: no stanza from it)."""
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    cj, cpw = server.new_user('carol')
    b = server.raw_login(bj, bpw, 'pc')
    c = server.raw_login(cj, cpw, 'pc')
    a = None
    try:
        b.message(aj, 'waited from bob')
        b.send("<presence type='subscribe' to='%s'/>" % aj)
        c.message(aj, 'waited from carol')
        for s in (b, c):
            assert s.iq('get', "<ping xmlns='%s'/>" % NS_PING, to='localhost').get('type') == 'result'
        # Logged in but not available: nothing is delivered yet.
        a = server.raw_login(aj, apw, 'pc')
        assert _block(a, bj).get('type') == 'result'
        a.presence()
        seen = []
        m = a.next_element(lambda e: (e.tag == q(NS_CLIENT, 'message') and body_of(e) == 'waited from carol')
                           or seen.append(e) and False)
        assert m is not None
        assert not [e for e in seen if e.get('from', '').startswith(bj)], \
            [ET.tostring(e) for e in seen]
        # The stored message from bob is gone, not kept for later.
        a.close()
        a = server.raw_login(aj, apw, 'pc')
        a.presence()
        c.message(aj + '/pc', 'marker')
        assert _next_body(a) == 'marker'
    finally:
        for s in (a, b, c):
            if s:
                s.close()
