"""Rosters, subscriptions and presence (RFC 6121 §2, §3, §4) with slixmpp."""
from conftest import connect, expect, full_roster as _roster, run


def _presence(type_, frm):
    """Predicate: a presence of this type from this JID (full if it has a
    resource, else any resource of the bare JID)."""
    def pred(p):
        if p['type'] != type_:
            return False
        return str(p['from']) == frm if '/' in frm else p['from'].bare == frm
    return pred


def _push_for(jid, pred=lambda item: True):
    """Predicate: a roster push (RFC 6121 §2.1.6, an IQ set) about jid."""
    def match(iq):
        if iq['type'] != 'set':
            return False
        items = {str(k): v for k, v in iq['roster']['items'].items()}
        return jid in items and pred(items[jid])
    return match


async def befriend(a, b):
    """Mutual subscription, every step answered explicitly (RFC 6121 §3.1).
    Both fetch the roster first: approvals go only to "interested" resources,
    those that requested the roster (§3.1.6, §2.1.6)."""
    aj, bj = a.boundjid.bare, b.boundjid.bare
    await _roster(a)
    await _roster(b)
    await a.update_roster(bj, name='friend of ' + aj, timeout=30)
    for x, y in ((a, b), (b, a)):
        x.send_presence_subscription(pto=y.boundjid.bare, ptype='subscribe')
        await expect(y.presences, _presence('subscribe', x.boundjid.bare),
                     'subscribe from %s at %s' % (x.boundjid, y.boundjid))
        y.send_presence_subscription(pto=x.boundjid.bare, ptype='subscribed')
        await expect(x.presences, _presence('subscribed', y.boundjid.bare),
                     'subscribed from %s at %s' % (y.boundjid, x.boundjid))


def test_mutual_subscription_persists(server):
    (aj, apw), (bj, bpw) = server.new_user('alice'), server.new_user('bob')

    async def scenario():
        a = await connect(server, aj, apw, presence=True)
        b = await connect(server, bj, bpw, presence=True)
        await befriend(a, b)
        await a.stop()
        await b.stop()
        a = await connect(server, aj, apw)
        b = await connect(server, bj, bpw)
        ra, rb = await _roster(a), await _roster(b)
        assert bj in ra and ra[bj]['subscription'] == 'both', ra
        assert ra[bj]['name'] == 'friend of ' + aj
        assert aj in rb and rb[aj]['subscription'] == 'both', rb
        # RFC 6121 §2.1.2.2: no pending request once both sides approved.
        assert not ra[bj]['ask'] and not rb[aj]['ask']
    run(scenario())


def test_presence_exchange_and_abrupt_disconnect(server):
    (aj, apw), (bj, bpw) = server.new_user('alice'), server.new_user('bob')

    async def scenario():
        a = await connect(server, aj, apw, resource='desk', presence=True)
        b = await connect(server, bj, bpw, resource='old', presence=True)
        await befriend(a, b)
        await b.stop()
        await expect(a.presences, _presence('unavailable', bj + '/old'),
                     'unavailable from bob/old after logout')
        # RFC 6121 §4.2.2: bob's initial presence is broadcast to alice, and
        # alice's current presence is probed and delivered to bob (§4.3).
        b = await connect(server, bj, bpw, resource='phone', presence=True)
        await expect(a.presences, _presence('available', bj + '/phone'),
                     'available from bob/phone at alice')
        await expect(b.presences, _presence('available', aj + '/desk'),
                     'available from alice/desk at bob')
        # RFC 6121 §4.5.3.2 (and RFC 6120 §4.4): an unclean close ends the
        # session; contacts learn it as unavailable from the full JID.
        b.kill()
        await expect(a.presences, _presence('unavailable', bj + '/phone'),
                     'unavailable from bob/phone after TCP drop')
    run(scenario())


def test_roster_push_to_all_interested_resources(server):
    aj, apw = server.new_user('alice')
    cj, _ = server.new_user('carol')

    async def scenario():
        a1 = await connect(server, aj, apw, resource='one')
        a2 = await connect(server, aj, apw, resource='two')
        # Only resources that fetched the roster are "interested" (§2.1.6).
        await _roster(a1)
        await _roster(a2)
        await a1.update_roster(cj, name='Carol', groups=['Friends'], timeout=30)
        for c in (a1, a2):
            iq = await expect(c.roster_pushes, _push_for(cj),
                              'roster push (add) at %s' % c.boundjid)
            item = {str(k): v for k, v in iq['roster']['items'].items()}[cj]
            assert item['name'] == 'Carol'
            assert item['subscription'] == 'none'
            assert list(item['groups']) == ['Friends']
        await a1.del_roster_item(cj)
        for c in (a1, a2):
            await expect(c.roster_pushes, _push_for(cj, lambda i: i['subscription'] == 'remove'),
                         'roster push (remove) at %s' % c.boundjid)
        assert cj not in await _roster(a2)
    run(scenario())


def test_roster_persists_across_restart(server):
    aj, apw = server.new_user('alice')
    dj, _ = server.new_user('dave')

    async def add():
        a = await connect(server, aj, apw)
        await a.update_roster(dj, name='Dave', groups=['Work', 'Chess'], timeout=30)
        await a.stop()

    async def check():
        a = await connect(server, aj, apw)
        r = await _roster(a)
        assert dj in r, r
        assert r[dj]['name'] == 'Dave'
        assert sorted(r[dj]['groups']) == ['Chess', 'Work']
        await a.stop()
    run(add())
    server.restart()
    run(check())


async def _until(queue, pred, what):
    """Everything queue delivers up to and including the first item that
    satisfies pred (the marker), in order."""
    seen = []

    def mark(item):
        seen.append(item)
        return pred(item)
    await expect(queue, mark, what)
    return seen


def _unavailable_from(items, jid):
    return [p for p in items if p['type'] == 'unavailable' and str(p['from']) == jid]


def test_directed_presence_withdrawn(server):
    """RFC 6121 §4.6.3: an entity that got directed availability from a
    session and no broadcast is told when the session goes unavailable (by
    logging out, by broadcast unavailable), unless it was already sent
    directed unavailable presence; a subscribed contact is told once."""
    (aj, apw), (bj, bpw) = server.new_user('alice'), server.new_user('bob')
    (cj, cpw), (dj, dpw) = server.new_user('carol'), server.new_user('dave')

    async def scenario():
        b = await connect(server, bj, bpw, resource='pc', presence=True)
        c = await connect(server, cj, cpw, resource='m', presence=True)
        marks = iter(range(1000))

        async def marker():
            """A directed presence from carol: whatever bob got before it has
            been routed already (one core, in order)."""
            status = 'mark %d' % next(marks)
            c.send_presence(pto=str(b.boundjid), pstatus=status)
            return await _until(b.presences, lambda p: p['status'] == status,
                                'marker %r at bob' % status)

        # 1. Directed availability to a full JID, then the connection ends.
        a = await connect(server, aj, apw, resource='desk', presence=True)
        a.send_presence(pto=str(b.boundjid))
        await expect(b.presences, _presence('available', aj + '/desk'), 'directed available')
        await a.stop()
        await expect(b.presences, _presence('unavailable', aj + '/desk'),
                     'unavailable from alice/desk at logout')

        # 2. To the bare JID, then broadcast unavailable without leaving.
        a = await connect(server, aj, apw, resource='tab', presence=True)
        a.send_presence(pto=bj)
        await expect(b.presences, _presence('available', aj + '/tab'), 'directed to bare')
        a.send_presence(ptype='unavailable')
        await expect(b.presences, _presence('unavailable', aj + '/tab'),
                     'unavailable from alice/tab after broadcast unavailable')
        await a.stop()
        assert not _unavailable_from(await marker(), aj + '/tab'), 'told twice'

        # 3. Withdrawn by directed unavailable: nothing more at logout.
        a = await connect(server, aj, apw, resource='ph', presence=True)
        a.send_presence(pto=str(b.boundjid))
        await expect(b.presences, _presence('available', aj + '/ph'), 'directed again')
        a.send_presence(pto=str(b.boundjid), ptype='unavailable')
        await expect(b.presences, _presence('unavailable', aj + '/ph'), 'directed unavailable')
        await a.stop()
        assert not _unavailable_from(await marker(), aj + '/ph'), 'withdrawn, yet told'

        # 4. A subscribed contact gets the broadcast, not a second unavailable.
        d = await connect(server, dj, dpw, resource='lap', presence=True)
        a = await connect(server, aj, apw, resource='w', presence=True)
        await befriend(a, d)
        a.send_presence(pto=str(d.boundjid), pstatus='just for dave')
        await expect(d.presences, lambda p: p['status'] == 'just for dave', 'directed to dave')
        await a.stop()
        await expect(d.presences, _presence('unavailable', aj + '/w'), 'broadcast at dave')
        c.send_presence(pto=str(d.boundjid), pstatus='mark dave')
        seen = await _until(d.presences, lambda p: p['status'] == 'mark dave', 'marker at dave')
        assert not _unavailable_from(seen, aj + '/w'), 'subscribed contact told twice'
    run(scenario())


def test_pre_approval(server):
    """RFC 6121 §3.4: alice approves bob before he asks; the approval shows in
    her roster only; bob's later request is granted by her server at once and
    never reaches her as a request; withdrawing a pre-approval drops it."""
    (aj, apw), (bj, bpw) = server.new_user('alice'), server.new_user('bob')
    cj, _ = server.new_user('carol')

    async def scenario():
        a = await connect(server, aj, apw, resource='desk', presence=True)
        b = await connect(server, bj, bpw, resource='pc', presence=True)
        await _roster(a)
        await _roster(b)
        # §3.4.1: recorded (a roster item with approved="true"), not routed
        a.send_presence_subscription(pto=bj, ptype='subscribed')
        await expect(a.roster_pushes, _push_for(
            bj, lambda i: i['approved'] == 'true' and i['subscription'] == 'none'),
            'push of the pre-approved item')
        # §3.4.2: bob asks; alice's server says yes for her
        b.send_presence_subscription(pto=aj, ptype='subscribe')
        await expect(b.presences, _presence('subscribed', aj), 'subscribed at bob')
        await expect(b.presences, _presence('available', aj + '/desk'), "alice's presence")
        await expect(a.roster_pushes, _push_for(
            bj, lambda i: i['subscription'] == 'from' and i['approved'] != 'true'),
            'push: from, approval used up')
        a.send_presence(pto=str(a.boundjid), pstatus='mark')
        seen = await _until(a.presences, lambda p: p['status'] == 'mark', 'marker')
        assert not [p for p in seen if p['type'] == 'subscribe'], 'alice was asked'
        # Withdrawing a pre-approval (unsubscribed with nothing else to end).
        a.send_presence_subscription(pto=cj, ptype='subscribed')
        await expect(a.roster_pushes, _push_for(cj, lambda i: i['approved'] == 'true'),
                     'pre-approval of carol')
        a.send_presence_subscription(pto=cj, ptype='unsubscribed')
        await expect(a.roster_pushes, _push_for(cj, lambda i: i['approved'] != 'true'),
                     'pre-approval withdrawn')
        roster = await _roster(a)
        assert roster[bj]['subscription'] == 'from' and roster[bj]['approved'] != 'true'
    run(scenario())
