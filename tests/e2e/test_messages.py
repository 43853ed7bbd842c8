"""Message routing (RFC 6121 §5, §8) with slixmpp and, for forgery, a raw
client.  This module runs the server with two c2s workers, so sessions can
land on different workers."""
import asyncio

from conftest import connect, expect, run
from xmpp_raw import NS_ROSTER, NS_STREAMS_ERR, StreamClosed, body_of, stream_error

SERVER_OPTIONS = {'workers': 2}
N = 1000


def _chat(m):
    return m['type'] == 'chat'


def test_bulk_both_directions_in_order(server):
    (aj, apw), (bj, bpw) = server.new_user('alice'), server.new_user('bob')

    async def pump(src, dst):
        for i in range(N):
            src.send_message(mto=dst.boundjid.full, mbody='seq %d' % i, mtype='chat')
            if i % 50 == 0:
                await asyncio.sleep(0)  # let the other direction interleave

    async def collect(dst, src):
        for i in range(N):
            m = await expect(dst.messages, _chat, 'message %d of %d at %s' % (i, N, dst.boundjid))
            assert str(m['from']) == src.boundjid.full, 'message %d from %s' % (i, m['from'])
            assert m['body'] == 'seq %d' % i, 'expected seq %d, got %r' % (i, m['body'])

    async def scenario():
        a = await connect(server, aj, apw, resource='a', presence=True)
        b = await connect(server, bj, bpw, resource='b', presence=True)
        await asyncio.gather(collect(b, a), collect(a, b), pump(a, b), pump(b, a))
        await a.stop()
        await b.stop()
    run(scenario(), timeout=280)


def test_message_to_unknown_user_bounces(server):
    aj, apw = server.new_user('alice')
    ghost = 'ghost-%s' % aj

    async def scenario():
        a = await connect(server, aj, apw, presence=True)
        m = a.make_message(mto=ghost, mbody='anyone?', mtype='chat')
        m['id'] = 'ghost-1'
        m.send()
        err = await expect(a.messages, lambda x: x['type'] == 'error', 'error for %s' % ghost)
        # RFC 6121 §8.5.1: no such account => <service-unavailable/>.
        assert err['id'] == 'ghost-1'
        assert err['from'].bare == ghost
        assert err['error']['condition'] == 'service-unavailable'
    run(scenario())


def test_message_to_bare_jid_reaches_online_resource(server):
    (aj, apw), (bj, bpw) = server.new_user('alice'), server.new_user('bob')

    async def scenario():
        a = await connect(server, aj, apw, resource='a', presence=True)
        b = await connect(server, bj, bpw, resource='desk', presence=True)
        a.send_message(mto=bj, mbody='to your bare JID', mtype='chat')
        m = await expect(b.messages, _chat, 'message to bare JID')
        assert m['body'] == 'to your bare JID'
        assert str(m['from']) == a.boundjid.full
    run(scenario())


def test_forged_from_is_not_delivered_as_forged(server):
    (aj, apw), (cj, cpw) = server.new_user('alice'), server.new_user('carol')
    bj, _ = server.new_user('bob')
    carol = server.raw_login(cj, cpw, resource='c')
    alice = server.raw_login(aj, apw, resource='raw')
    try:
        carol.presence()
        alice.send("<message type='chat' from='%s/x' to='%s'><body>forged</body></message>"
                   % (bj, carol.jid))
        # RFC 6120 §8.1.2.1: the server either stamps alice's full JID or
        # rejects the stream with <invalid-from/>.  An IQ round trip tells us
        # which, and orders the forged message before the marker.
        try:
            alice.iq('get', "<query xmlns='%s'/>" % NS_ROSTER)
            sender = alice
        except StreamClosed:
            cond = stream_error(alice.read_to_close())
            assert cond == (NS_STREAMS_ERR, 'invalid-from'), \
                'forgery closed the stream with %s' % (cond,)
            sender = server.raw_login(aj, apw, resource='raw2')
        sender.message(carol.jid, 'marker')
        while True:
            m = carol.next_message()
            assert m.get('from') in (alice.jid, sender.jid), \
                'carol got a message from %r: %s' % (m.get('from'), body_of(m))
            if m.get('from') == alice.jid and body_of(m) == 'forged':
                assert sender is alice
            if body_of(m) == 'marker':
                assert m.get('from') == sender.jid
                break
        if sender is not alice:
            sender.close()
    finally:
        alice.close()
        carol.close()


def test_offline_message_or_bounce(server):
    """RFC 6121 §8.5.2.2.1: a chat message to an account with no available
    resource is either stored offline (delivered at next available presence)
    or bounced with <service-unavailable/>.  Either is accepted; losing it
    silently is not."""
    (aj, apw), (bj, bpw) = server.new_user('alice'), server.new_user('bob')

    async def scenario():
        a = await connect(server, aj, apw, resource='a', presence=True)
        a.send_message(mto=bj, mbody='while you were out', mtype='chat')
        await a.get_roster(timeout=30)  # round trip: the message has been handled
        bounced = None
        while not a.messages.empty():
            m = a.messages.get_nowait()
            if m['type'] == 'error':
                bounced = m
        if bounced is not None:
            assert bounced['error']['condition'] == 'service-unavailable'
            return
        b = await connect(server, bj, bpw, resource='back', presence=True)
        m = await expect(b.messages, _chat, 'offline message at next login')
        assert m['body'] == 'while you were out'
        assert m['from'].bare == aj
    run(scenario())
