"""Stream Management resumption (XEP-0198 §5): a client that lost its TCP
connection takes its session up again on a new one, on either worker, with
nothing lost and nothing duplicated; the session waits online for
resume_timeout, then ends and what it never acknowledged goes back to the
core.  Raw XML, so every counted stanza is visible."""
import asyncio
import re
import xml.etree.ElementTree as ET

from conftest import WAIT, Client, _clients, connect, expect, run
from test_sm import NS_SM
from xmpp_raw import NS_CLIENT, StreamClosed, body_of, expect_stream_error, q, stanza_error

RESUME_TIMEOUT = 3
# Two workers: a new connection lands on either, the session stays on one.
SERVER_OPTIONS = {'workers': 2, 'c2s_extra': 'resume_timeout = %d' % RESUME_TIMEOUT}
PING = "<ping xmlns='urn:xmpp:ping'/>"


def _enable_resume(s, timeout=RESUME_TIMEOUT):
    s.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
    el = s.next_element(lambda e: e.tag in (q(NS_SM, 'enabled'), q(NS_SM, 'failed')))
    assert el.tag == q(NS_SM, 'enabled') and el.get('resume') == 'true', el.attrib
    assert el.get('id') and el.get('max') == str(timeout)
    return el.get('id')


def _resumable(server, jid, pw, resource):
    """Logged in, available (its echo read), SM enabled with resumption."""
    s = server.raw_login(jid, pw, resource)
    s.presence()
    s.next_element(lambda e: e.tag == q(NS_CLIENT, 'presence'))
    return s, _enable_resume(s)


def _alice_resumable_and_bob(server):
    """alice on 'phone' with resumable SM, bob on 'pc' without it."""
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    a, previd = _resumable(server, aj, apw, 'phone')
    return a, previd, server.raw_login(bj, bpw, 'pc'), aj, apw, bj


def _resume(server, jid, pw, previd, h):
    """A new connection: STARTTLS, SASL, the restarted stream, <resume/>.
    Returns the stream and the <resumed/> or <failed/> answer."""
    s = server.raw(jid.split('@')[1])
    s.authenticate(jid.split('@')[0], pw)
    feats = s.open()
    assert feats.find(q(NS_SM, 'sm')) is not None
    s.send("<resume xmlns='%s' previd='%s' h='%d'/>" % (NS_SM, previd, h))
    el = s.next_element(lambda e: e.tag in (q(NS_SM, 'resumed'), q(NS_SM, 'failed')))
    return s, el


def ET_str(el):
    return ET.tostring(el)


def _failed(el):
    assert el.tag == q(NS_SM, 'failed'), el.tag
    return [c.tag.split('}', 1)[1] for c in el][0]


def _bodies_until_r(s):
    """Message bodies up to the server's next <r/>."""
    seen = []
    s.next_element(lambda e: e.tag == q(NS_SM, 'r') or seen.append(e))
    return [body_of(e) for e in seen if e.tag == q(NS_CLIENT, 'message')]


def _ping_ok(s):
    assert s.iq('get', PING, to=s.domain).get('type') == 'result'


def _no_messages_before_ping(s):
    """Nothing (no duplicate, no stray offline message) is waiting."""
    rid = 'nothing-waits'
    s.send("<iq type='get' id='%s' to='%s'>%s</iq>" % (rid, s.domain, PING))
    el = s.next_element(lambda e: e.tag == q(NS_CLIENT, 'message') or e.get('id') == rid)
    assert el.tag == q(NS_CLIENT, 'iq'), 'unexpected message %r' % body_of(el)


def test_resume_after_lost_connection(server):
    a, previd, b, aj, apw, bj = _alice_resumable_and_bob(server)
    try:
        a.message(bj + '/pc', 'from alice')  # alice's h_in becomes 1
        assert body_of(b.next_message()) == 'from alice'
        b.message(aj + '/phone', 'm1')
        assert _bodies_until_r(a) == ['m1']
        a.send("<a xmlns='%s' h='1'/>" % NS_SM)
        b.message(aj + '/phone', 'm2')
        assert body_of(a.next_message()) == 'm2'
        a.close()  # the TCP connection is lost, m2 unacknowledged
        b.message(aj + '/phone', 'm3')  # to the waiting session
        b.message(aj, 'm4')  # bare JID: the session is still available
        a, el = _resume(server, aj, apw, previd, 1)
        # §5: 'h' is what the server handled of alice's; previd echoed.
        assert el.tag == q(NS_SM, 'resumed'), ET_str(el)
        assert el.get('h') == '1' and el.get('previd') == previd
        # Sent again in order after m1's ack; m1 itself not again.
        assert _bodies_until_r(a) == ['m2', 'm3', 'm4']
        a.send("<a xmlns='%s' h='4'/>" % NS_SM)
        a.message(bj + '/pc', 'after resume')
        assert body_of(b.next_message()) == 'after resume'
        _ping_ok(a)
        # The counters carry on (§5): the ping result was stanza 5.
        a.send("<r xmlns='%s'/>" % NS_SM)
        assert a.next_element(lambda e: e.tag == q(NS_SM, 'a')).get('h') == '3'
        a.send("<a xmlns='%s' h='5'/>" % NS_SM)
        a.send('</stream:stream>')
        a.read_to_close()
        # All acknowledged: nothing went offline, nothing is delivered twice.
        a = server.raw_login(aj, apw, 'phone')
        a.presence()
        _no_messages_before_ping(a)
    finally:
        a.close()
        b.close()


def test_resume_across_workers(server):
    """The session stays in one worker's slot; each new connection lands on
    either worker, and is handed to the session's.  Resume until the log
    shows a connection that came from the other worker."""
    a, previd, b, aj, apw, bj = _alice_resumable_and_bob(server)
    crossed = re.compile(r'resumed on worker (\d) \(connection from worker (\d)\)')
    handled = 0
    try:
        for i in range(24):
            a.close()
            b.message(aj + '/phone', 'round %d' % i)
            a, el = _resume(server, aj, apw, previd, handled)
            assert el.tag == q(NS_SM, 'resumed'), ET_str(el)
            assert _bodies_until_r(a) == ['round %d' % i]
            handled += 1
            a.send("<a xmlns='%s' h='%d'/>" % (NS_SM, handled))
            _ping_ok(a)
            handled += 1
            a.send("<a xmlns='%s' h='%d'/>" % (NS_SM, handled))
            if any(x != y for x, y in crossed.findall(server._log('starling-cm'))):
                break
        pairs = crossed.findall(server._log('starling-cm'))
        assert any(x != y for x, y in pairs), pairs
    finally:
        a.close()
        b.close()


def test_resume_replaces_a_connection_still_open(server):
    """§5: the old stream is still open (the server has not noticed the
    loss): it is dropped and the new connection has the session."""
    old, previd, b, aj, apw, bj = _alice_resumable_and_bob(server)
    try:
        b.message(aj + '/phone', 'before')
        assert body_of(old.next_message()) == 'before'
        a, el = _resume(server, aj, apw, previd, 0)
        assert el.tag == q(NS_SM, 'resumed'), ET_str(el)
        assert _bodies_until_r(a) == ['before']
        old.read_to_close()
        assert old.eof
        b.message(aj + '/phone', 'after')
        assert body_of(a.next_message()) == 'after'
        a.close()
    finally:
        old.close()
        b.close()


def test_refusals(server):
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    a, previd = _resumable(server, aj, apw, 'phone')
    try:
        a.close()
        w, sid, token = previd.split('.')
        forged = '%s.%s.%s' % (w, sid, ('0' if token[0] != '0' else '1') + token[1:])
        for bad in (forged, 'nope', '%s.%s' % (w, sid), '7.%s.%s' % (sid, token)):
            s, el = _resume(server, aj, apw, bad, 0)
            assert _failed(el) == 'item-not-found', bad
            # §5: the client may bind on the same stream instead.
            assert s.bind('other')
            s.close()
        # Another account cannot take the session, even with its SM-ID.
        s, el = _resume(server, bj, bpw, previd, 0)
        assert _failed(el) == 'item-not-found'
        s.close()
        # After binding, resumption is not what the stream is for.
        s = server.raw_login(bj, bpw, 'x')
        s.send("<resume xmlns='%s' previd='%s' h='0'/>" % (NS_SM, previd))
        assert _failed(s.next_element(lambda e: e.tag == q(NS_SM, 'failed'))) == \
            'unexpected-request'
        s.close()
        # None of that disturbed the waiting session.
        a, el = _resume(server, aj, apw, previd, 0)
        assert el.tag == q(NS_SM, 'resumed'), ET_str(el)
        _ping_ok(a)
    finally:
        a.close()


def test_handled_count_too_high_ends_the_session(server):
    a, previd, b, aj, apw, bj = _alice_resumable_and_bob(server)
    try:
        b.message(aj + '/phone', 'kept')
        assert body_of(a.next_message()) == 'kept'
        a.close()
        s, el = _resume(server, aj, apw, previd, 5)  # only one was sent
        assert _failed(el) == 'item-not-found'
        s.close()
        s, el = _resume(server, aj, apw, previd, 0)
        assert _failed(el) == 'item-not-found'  # the session is over
        s.close()
        # ...and what it never acknowledged was kept for the account.
        a = server.raw_login(aj, apw, 'phone')
        a.presence()
        assert body_of(a.next_message()) == 'kept'
    finally:
        a.close()
        b.close()


def test_clean_close_ends_the_session(server):
    aj, apw = server.new_user('alice')
    a, previd = _resumable(server, aj, apw, 'phone')
    a.send('</stream:stream>')
    a.read_to_close()
    a.close()
    s, el = _resume(server, aj, apw, previd, 0)
    assert _failed(el) == 'item-not-found'
    s.close()


def _ended_with_offline(server, aj, apw, previd, bodies):
    """The session of previd is over: <resume/> fails, and a new login on
    'phone' gets these message bodies from offline storage.  Returns it."""
    s, el = _resume(server, aj, apw, previd, 0)
    assert _failed(el) == 'item-not-found'
    s.close()
    a = server.raw_login(aj, apw, 'phone')
    a.presence()
    assert {body_of(a.next_message()) for _ in bodies} == bodies
    return a


def test_timeout_returns_what_was_not_acknowledged(server):
    """Online while it waits (messages queue, requests wait); at the timeout
    the session ends: messages go offline, the request gets its error."""
    a, previd, b, aj, apw, bj = _alice_resumable_and_bob(server)
    try:
        b.message(aj + '/phone', 'seen, not acked')
        assert body_of(a.next_message()) == 'seen, not acked'
        a.close()
        b.message(aj + '/phone', 'while away')
        b.send("<iq type='get' id='q1' to='%s/phone'>%s</iq>" % (aj, PING))
        # Still online: the request waits in the session's queue instead of
        # being answered at once (the core answers in order, so an error for
        # q1 would come before this ping's result).
        rid = 'after-q1'
        b.send("<iq type='get' id='%s' to='%s'>%s</iq>" % (rid, b.domain, PING))
        first = b.next_element(lambda e: e.get('id') in ('q1', rid))
        assert first.get('id') == rid
        r = b.next_element(lambda e: e.get('id') == 'q1')
        assert r.get('type') == 'error' and stanza_error(r) == 'service-unavailable'
        a = _ended_with_offline(server, aj, apw, previd, {'seen, not acked', 'while away'})
    finally:
        a.close()
        b.close()


def test_slixmpp_resumes_after_a_dropped_connection(server):
    """A real client: slixmpp's XEP-0198 plugin enables resumption, loses its
    TCP connection, reconnects, resumes, and gets what was sent meanwhile,
    once."""
    (aj, apw), (bj, bpw) = server.new_user('alice'), server.new_user('bob')
    run(_slixmpp_resume(server, aj, apw, bj, bpw))


def sm_client(server, jid, password):
    """A slixmpp client on 'phone' with the XEP-0198 plugin, not connected
    yet; with the future of its <enabled/>, that of its <resumed/> and the
    event of its connection's loss."""
    loop = asyncio.get_running_loop()
    a = Client(server, jid, password, resource='phone')
    a.register_plugin('xep_0198')
    enabled, resumed, dropped = loop.create_future(), loop.create_future(), asyncio.Event()
    a.add_event_handler('sm_enabled', lambda _: enabled.done() or enabled.set_result(True))
    a.add_event_handler('session_resumed', lambda _: resumed.done() or resumed.set_result(True))
    a.add_event_handler('disconnected', lambda _: dropped.set())
    _clients.append(a)
    return a, enabled, resumed, dropped


async def _slixmpp_resume(server, aj, apw, bj, bpw):
    a, enabled, resumed, dropped = sm_client(server, aj, apw)
    a.connect((server.host, server.port))
    assert await asyncio.wait_for(a.outcome, WAIT) == 'session'
    assert await asyncio.wait_for(enabled, WAIT) is True
    assert a.plugin['xep_0198'].sm_id  # the server offered resumption
    b = await connect(server, bj, bpw, resource='pc')
    b.send_message(mto=aj + '/phone', mbody='before the drop')
    await expect(a.messages, lambda m: m['body'] == 'before the drop', 'first message')
    a.transport.abort()  # the network goes: no </stream:stream>, no TLS close
    await asyncio.wait_for(dropped.wait(), WAIT)
    b.send_message(mto=aj + '/phone', mbody='while away')
    a.connect((server.host, server.port))
    assert await asyncio.wait_for(resumed, WAIT) is True
    got = []
    await expect(a.messages, lambda m: got.append(m['body']) or m['body'] == 'while away',
                 'the message sent while alice was away')
    assert got.count('before the drop') == 0 and got == ['while away'], got
    a.send_message(mto=bj + '/pc', mbody='back again')
    await expect(b.messages, lambda m: m['body'] == 'back again', 'alice chats again')
