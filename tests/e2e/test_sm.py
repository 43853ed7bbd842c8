"""Stream Management (XEP-0198) acks, without resumption: enabling (§3), the
counters and requests (§4), errors (§6), and the promise that what a client
never acknowledged is not lost when its connection dies: messages go back to
the core and reach the account later, requests are answered with an error.
Raw XML, where every counted stanza is visible; slixmpp's own plugin for a
client's view."""
import asyncio

from conftest import WAIT, Client, _clients, connect, expect, run
from xmpp_raw import NS_CLIENT, body_of, expect_stream_error, q, stanza_error

NS_SM = 'urn:xmpp:sm:3'
PING = "<ping xmlns='urn:xmpp:ping'/>"


def _sm(s, local):
    return s.next_element(lambda e: e.tag == q(NS_SM, local))


def _enable(s):
    s.send("<enable xmlns='%s'/>" % NS_SM)
    el = s.next_element(lambda e: e.tag in (q(NS_SM, 'enabled'), q(NS_SM, 'failed')))
    return el


def _failed_condition(el):
    assert el.tag == q(NS_SM, 'failed'), el.tag
    return [c.tag.split('}', 1)[1] for c in el][0]


def _login_enabled(server, jid, pw, resource):
    """Logged in, available, then SM enabled: presence echoes come before the
    counters start."""
    s = server.raw_login(jid, pw, resource)
    s.presence()
    s.next_element(lambda e: e.tag == q(NS_CLIENT, 'presence'))  # own echo
    assert _enable(s).tag == q(NS_SM, 'enabled')
    return s


def _alice_and_bob(server):
    """alice on 'phone' with SM enabled, bob on 'pc' without it."""
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    return _login_enabled(server, aj, apw, 'phone'), server.raw_login(bj, bpw, 'pc'), aj, apw, bj


def test_enable_rules(server):
    aj, apw = server.new_user('alice')
    s = server.raw()
    try:
        s.authenticate(aj.split('@')[0], apw)
        feats = s.open()
        assert feats.find(q(NS_SM, 'sm')) is not None
        # §3: not before binding; resumption is not offered.
        assert _failed_condition(_enable(s)) == 'unexpected-request'
        s.send("<resume xmlns='%s' previd='nope' h='0'/>" % NS_SM)
        assert _failed_condition(_sm(s, 'failed')) == 'item-not-found'
        s.bind('pc')
        el = _enable(s)
        assert el.tag == q(NS_SM, 'enabled') and el.get('resume') in (None, 'false', '0')
        assert _failed_condition(_enable(s)) == 'unexpected-request'  # only once
    finally:
        s.close()


def test_counts_and_requests(server):
    a, b, aj, apw, bj = _alice_and_bob(server)
    try:
        # §4: 'h' counts the client's stanzas handled since enabling.
        a.send("<iq type='get' id='p1' to='localhost'>%s</iq>" % PING)
        a.message(bj + '/pc', 'one')
        a.send("<r xmlns='%s'/>" % NS_SM)
        seen = []
        ack = a.next_element(lambda e: e.tag == q(NS_SM, 'a') or seen.append(e))
        assert ack.get('h') == '2'
        # The server asks for an ack after what it sends (the ping result).
        assert [e.tag for e in seen] == [q(NS_CLIENT, 'iq'), q(NS_SM, 'r')], seen
        a.send("<a xmlns='%s' h='1'/>" % NS_SM)
        # Answered, so the next stanza brings the next request.
        b.message(aj + '/phone', 'to alice')
        seen = []
        a.next_element(lambda e: e.tag == q(NS_SM, 'r') or seen.append(e))
        assert [body_of(e) for e in seen if e.tag == q(NS_CLIENT, 'message')] == ['to alice']
        # Received since enabling: the ping result and bob's message.
        a.send("<a xmlns='%s' h='2'/>" % NS_SM)
        a.send("<iq type='get' id='p2' to='localhost'>%s</iq>" % PING)
        assert a.next_element(lambda e: e.get('id') == 'p2').get('type') == 'result'
    finally:
        a.close()
        b.close()


def test_handled_count_too_high(server):
    aj, apw = server.new_user('alice')
    a = _login_enabled(server, aj, apw, 'phone')
    try:
        a.send("<a xmlns='%s' h='5'/>" % NS_SM)
        expect_stream_error(a, 'undefined-condition')
    finally:
        a.close()


def test_unacked_messages_survive_a_lost_connection(server):
    a, b, aj, apw, bj = _alice_and_bob(server)
    try:
        b.message(aj + '/phone', 'm1')
        assert body_of(a.next_message()) == 'm1'
        _sm(a, 'r')
        a.send("<a xmlns='%s' h='1'/>" % NS_SM)  # m1 handled
        b.message(aj + '/phone', 'm2')
        b.message(aj, 'm3')
        assert body_of(a.next_message()) == 'm2'
        assert body_of(a.next_message()) == 'm3'
        a.close()  # gone without acknowledging m2 and m3
        # They come back: stored offline (or handed to the new session if it
        # is available first); m1, acknowledged, does not.
        a = server.raw_login(aj, apw, 'tablet')
        a.presence()
        got = []
        while not {'m2', 'm3'} <= set(got):
            got.append(body_of(a.next_message()))
        assert 'm1' not in got and sorted(got) == ['m2', 'm3'], got
    finally:
        a.close()
        b.close()


def test_unacked_request_is_answered(server):
    """RFC 6120 §8.2.3: the request the lost client never answered gets an
    error from the server instead of silence."""
    a, b, aj, apw, bj = _alice_and_bob(server)
    try:
        b.send("<iq type='get' id='q1' to='%s/phone'>%s</iq>" % (aj, PING))
        assert a.next_element(lambda e: e.tag == q(NS_CLIENT, 'iq')).get('id') == 'q1'
        a.close()
        r = b.next_element(lambda e: e.get('id') == 'q1')
        assert r.get('type') == 'error' and stanza_error(r) == 'service-unavailable'
    finally:
        b.close()


def test_slixmpp_stream_management(server):
    """slixmpp's XEP-0198 plugin enables SM, chats, and sees its message acked."""
    (aj, apw), (bj, bpw) = server.new_user('alice'), server.new_user('bob')
    run(_slixmpp_chat(server, aj, apw, bj, bpw))


async def _slixmpp_chat(server, aj, apw, bj, bpw):
    a = Client(server, aj, apw, resource='phone')
    a.register_plugin('xep_0198')
    enabled = asyncio.get_running_loop().create_future()
    a.add_event_handler('sm_enabled', lambda _: enabled.done() or enabled.set_result(True))
    a.add_event_handler('sm_failed', lambda _: enabled.done() or enabled.set_result(False))
    acked = asyncio.Queue()
    a.add_event_handler('stanza_acked', acked.put_nowait)
    _clients.append(a)
    a.connect((server.host, server.port))
    assert await asyncio.wait_for(a.outcome, WAIT) == 'session'
    assert await asyncio.wait_for(enabled, WAIT) is True
    b = await connect(server, bj, bpw, resource='pc')
    a.send_message(mto=bj + '/pc', mbody='sm hello')
    m = await expect(b.messages, lambda m: m['body'] == 'sm hello', 'message at bob')
    # Asked only now: the plugin writes <r/> at once but queues stanzas.
    a.plugin['xep_0198'].request_ack()
    b.send_message(mto=aj + '/phone', mbody='sm reply')
    await expect(a.messages, lambda m: m['body'] == 'sm reply', 'reply at alice')
    # The server acknowledged alice's message (her plugin saw the 'h').
    st = await asyncio.wait_for(acked.get(), WAIT)
    assert st is not None and m is not None


def test_shutdown_returns_what_was_not_acknowledged(server):
    """Issue 9's graceful shutdown: a cm told to stop sends <system-shutdown/>
    and hands what its clients never acknowledged back to the core, which
    keeps the messages for the next login."""
    a, b, aj, apw, bj = _alice_and_bob(server)
    try:
        b.message(aj + '/phone', 'in flight at shutdown')
        assert body_of(a.next_message()) == 'in flight at shutdown'
        b.close()
        server.restart_cm()
        expect_stream_error(a, 'system-shutdown')
        a.close()
        a = server.raw_login(aj, apw, 'phone')
        a.presence()
        assert body_of(a.next_message()) == 'in flight at shutdown'
    finally:
        a.close()

