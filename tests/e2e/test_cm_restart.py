"""A cm restart (issue 13): on SIGTERM the cm parks every session whose
client may resume it (XEP-0198 §5) on the core, which keeps it registered
and available and queues what is sent to it; the client reconnects to the
restarted cm, or to another, and resumes: what it had not acknowledged and
what came meanwhile arrive, and its contacts never see it go unavailable.
Not taken up within resume_timeout, the session ends as any other: its
messages are stored offline.  Raw XML, so every counted stanza is visible;
and slixmpp, a real client."""
import asyncio
import re
import time

import pytest

from conftest import WAIT, Client, _clients, expect, run
from test_link_cut import proxied_cm  # noqa: F401  (a fixture)
from test_multi_cm import SecondCm
from test_sm import NS_SM
from test_sm_resume import (_bodies_until_r, _enable_resume, _ended_with_offline, _failed,
                            _ping_ok, _resume, sm_client)
from test_subscription_rules import friends
from xmpp_raw import NS_CLIENT, RawStream, body_of, q, stream_error

RESUME_TIMEOUT = 8
SERVER_OPTIONS = {'workers': 2, 'c2s_extra': 'resume_timeout = %d' % RESUME_TIMEOUT}


def _stop_cm(server):
    server._stop_one('starling-cm', server.cm)
    server.cm = None


def _start_cm(server):
    server.cm = server._spawn('starling-cm')
    server._wait('starling-cm', server._port_open, server.cm)


@pytest.fixture
def cm2(server):
    """Another cm for bob (who must stay connected) and for resuming on;
    the module's cm runs again after the test whatever happened."""
    cm = SecondCm(server)
    yield cm
    cm.stop()
    if server.cm is None:
        _start_cm(server)


def _alice_resumable_bob_watching(server, cm2):
    """alice on the cm under test with resumable SM; bob on cm2, subscribed
    to her presence, so he would see her go unavailable."""
    (a, aj, apw), (b, bj, _) = friends(server, bob_on=cm2)
    _presence_seen(b, aj)  # what the subscriptions brought
    return a, b, aj, apw, bj, _enable_resume(a, RESUME_TIMEOUT)


def _presence_seen(b, aj):
    """The presence types bob got from alice, up to a ping's answer."""
    seen, rid = [], 'sync-presence'
    b.send("<iq type='get' id='%s' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>"
           % (rid, b.domain))
    b.next_element(lambda e: e.get('id') == rid or (
        e.tag == q(NS_CLIENT, 'presence') and e.get('from', '').startswith(aj + '/')
        and seen.append(e.get('type', 'available'))))
    return seen


def _raw(server, cm2, jid, pw):
    """Authenticated on cm2, not bound: ready for <resume/> or a bind."""
    s = RawStream(server.host, cm2.port, jid.split('@')[1], cafile=str(server.cert))
    s.authenticate(jid.split('@')[0], pw)
    s.open()
    return s


def _wait_log(server, name, text):
    deadline = time.monotonic() + WAIT
    while text not in server._log(name):
        assert time.monotonic() < deadline, 'no %r in the %s log' % (text, name)
        time.sleep(0.05)


def _parked(server):
    """The core's count of parked sessions (starlingctl status)."""
    out = server.ctl('status').stdout
    return int(re.search(r'(?m)^starling_core_sessions_parked (\d+)$', out).group(1))


def _park(server, a, aj):
    """SIGTERM of the cm: alice's connection drops (no stream error, as a
    lost network) and the core has her session (and any other session
    an earlier test left waiting on that cm)."""
    before = _parked(server)
    _stop_cm(server)
    got = a.read_to_close()
    assert a.eof and stream_error(got) is None and not a.root_closed, got
    _wait_log(server, 'starling-core', aj + '/phone parked')
    assert _parked(server) >= before + 1
    line = [ln for ln in server.ctl('sessions', aj).stdout.splitlines() if ln.startswith(aj)]
    assert len(line) == 1 and line[0].split('\t')[3] == 'parked', line


def test_resume_on_the_restarted_cm(server, cm2):
    a, b, aj, apw, bj, previd = _alice_resumable_bob_watching(server, cm2)
    try:
        b.message(aj + '/phone', 'm1')
        b.message(aj + '/phone', 'm2')
        assert _bodies_until_r(a) == ['m1']
        assert body_of(a.next_message()) == 'm2'
        a.send("<a xmlns='%s' h='1'/>" % NS_SM)  # m1 acknowledged, m2 not
        _ping_ok(a)  # alice handled one stanza after enabling: her ping
        _park(server, a, aj)
        b.message(aj + '/phone', 'm3')  # while no cm holds her
        b.message(aj, 'm4')  # to the bare JID: she is still available
        _start_cm(server)
        # As if only m1 had reached her: m2 and the ping's answer come again.
        a, el = _resume(server, aj, apw, previd, 1)
        assert el.tag == q(NS_SM, 'resumed'), el
        assert el.get('h') == '1' and el.get('previd') == previd
        # §5: in order, what she never acknowledged, then what queued on the core.
        assert _bodies_until_r(a) == ['m2', 'm3', 'm4']
        assert _parked(server) == 0  # the first test: nothing else waits
        a.send("<a xmlns='%s' h='5'/>" % NS_SM)
        a.message(bj + '/pc', 'back')
        assert body_of(b.next_message()) == 'back'
        assert _presence_seen(b, aj) == []  # bob never saw her go
        # The counters carry on: ping after ping, the server's 'h' counts.
        _ping_ok(a)
        a.send("<r xmlns='%s'/>" % NS_SM)
        assert a.next_element(lambda e: e.tag == q(NS_SM, 'a')).get('h') == '3'
        # Her client keeps the SM-ID of <enabled/>: it still finds the
        # session, now in another slot of another cm process.
        a.close()
        b.message(aj + '/phone', 'm5')
        a, el = _resume(server, aj, apw, previd, 6)
        assert el.tag == q(NS_SM, 'resumed'), el
        assert el.get('h') == '3' and el.get('previd') == previd
        assert _bodies_until_r(a) == ['m5']
    finally:
        a.close()
        b.close()


def test_resume_on_another_cm(server, cm2):
    """Any cm may take the session up: the core hands it to the asker."""
    a, b, aj, apw, bj, previd = _alice_resumable_bob_watching(server, cm2)
    s = None
    try:
        b.message(aj + '/phone', 'unacked')
        assert body_of(a.next_message()) == 'unacked'
        _park(server, a, aj)
        # Neither another account nor a forged token gets it.
        w, sid, token = previd.split('.')
        forged = '%s.%s.%s' % (w, sid, ('0' if token[0] != '0' else '1') + token[1:])
        mj, mpw = server.new_user('mallory')
        for jid, pw, pv in ((aj, apw, forged), (mj, mpw, previd)):
            t = _raw(server, cm2, jid, pw)
            t.send("<resume xmlns='%s' previd='%s' h='0'/>" % (NS_SM, pv))
            assert _failed(t.next_element(lambda e: e.tag == q(NS_SM, 'failed'))) == \
                'item-not-found'
            assert t.bind('other')  # §5: the stream may bind instead
            t.close()
        s = _raw(server, cm2, aj, apw)
        s.send("<resume xmlns='%s' previd='%s' h='0'/>" % (NS_SM, previd))
        el = s.next_element(lambda e: e.tag in (q(NS_SM, 'resumed'), q(NS_SM, 'failed')))
        assert el.tag == q(NS_SM, 'resumed'), el
        assert _bodies_until_r(s) == ['unacked']
        s.send("<a xmlns='%s' h='1'/>" % NS_SM)
        s.message(bj + '/pc', 'from cm2')
        assert body_of(b.next_message()) == 'from cm2'
        b.message(aj + '/phone', 'to cm2')
        assert body_of(s.next_message()) == 'to cm2'
        assert _presence_seen(b, aj) == []
    finally:
        a.close()
        b.close()
        if s:
            s.close()


def test_not_taken_up_in_time_goes_offline(server, cm2):
    a, b, aj, apw, bj, previd = _alice_resumable_bob_watching(server, cm2)
    try:
        b.message(aj + '/phone', 'seen, not acked')
        assert body_of(a.next_message()) == 'seen, not acked'
        _park(server, a, aj)
        _start_cm(server)
        b.message(aj + '/phone', 'while away')
        _wait_log(server, 'starling-core', 'session close: %s/phone (not taken up in time)' % aj)
        assert _presence_seen(b, aj) == ['unavailable']  # now she is gone
        a = _ended_with_offline(server, aj, apw, previd, {'seen, not acked', 'while away'})
    finally:
        a.close()
        b.close()


def test_slixmpp_resumes_on_the_restarted_cm(server, cm2):
    """A real client: slixmpp's XEP-0198 plugin sees its connection drop when
    the cm stops, reconnects to the restarted cm and resumes."""
    (aj, apw), (bj, bpw) = server.new_user('alice'), server.new_user('bob')
    run(_slixmpp_resume(server, cm2, aj, apw, bj, bpw))


async def _slixmpp_resume(server, cm2, aj, apw, bj, bpw):
    a, enabled, resumed, dropped = sm_client(server, aj, apw)
    b = Client(server, bj, bpw, resource='pc')
    _clients.append(b)
    a.connect((server.host, server.port))
    b.connect((server.host, cm2.port))
    assert await asyncio.wait_for(a.outcome, WAIT) == 'session'
    assert await asyncio.wait_for(b.outcome, WAIT) == 'session'
    assert await asyncio.wait_for(enabled, WAIT) is True
    b.send_message(mto=aj + '/phone', mbody='before the restart')
    await expect(a.messages, lambda m: m['body'] == 'before the restart', 'first message')
    _stop_cm(server)
    await asyncio.wait_for(dropped.wait(), WAIT)
    b.send_message(mto=aj + '/phone', mbody='while the cm was down')
    _start_cm(server)
    a.connect((server.host, server.port))
    assert await asyncio.wait_for(resumed, WAIT) is True
    got = []
    await expect(a.messages, lambda m: got.append(m['body']) or
                 m['body'] == 'while the cm was down', 'the message sent while the cm was down')
    # Its ack of the first may not have reached the cm before it stopped:
    # XEP-0198 then sends it again, at most once.
    assert got[-1:] == ['while the cm was down'] and set(got[:-1]) <= {'before the restart'}, got
    a.send_message(mto=bj + '/pc', mbody='back again')
    await expect(b.messages, lambda m: m['body'] == 'back again', 'alice chats again')


def test_link_lost_while_the_core_is_asked(server, proxied_cm):
    """The link of the cm asked to take a parked session up dies before the
    core answers: the waiting stream gets <failed/> and may bind; the
    request died with the link, so the core still holds the session, and a
    later <resume/> on the relinked cm takes it up."""
    cm, proxy = proxied_cm
    aj, apw = server.new_user('alice')
    a = server.raw_login(aj, apw, 'phone')  # on the module's cm
    s = t = None
    try:
        previd = _enable_resume(a, RESUME_TIMEOUT)
        _park(server, a, aj)
        back = cm.log().count('link to the core is back')
        s = _raw(server, cm, aj, apw)  # authenticated while the link flows
        proxy.stall()
        s.send("<resume xmlns='%s' previd='%s' h='0'/>" % (NS_SM, previd))
        time.sleep(0.3)  # the request is held in the stalled link
        proxy.cut()
        assert _failed(s.next_element(lambda e: e.tag in (
            q(NS_SM, 'resumed'), q(NS_SM, 'failed')))) == 'item-not-found'
        deadline = time.monotonic() + WAIT
        while cm.log().count('link to the core is back') <= back:
            assert time.monotonic() < deadline, cm.log()[-2000:]
            time.sleep(0.05)
        assert s.bind('other')  # §5: the stream may bind instead
        assert _parked(server) >= 1
        t = _raw(server, cm, aj, apw)
        t.send("<resume xmlns='%s' previd='%s' h='0'/>" % (NS_SM, previd))
        el = t.next_element(lambda e: e.tag in (q(NS_SM, 'resumed'), q(NS_SM, 'failed')))
        assert el.tag == q(NS_SM, 'resumed'), el
    finally:
        proxy.resume()
        for x in (a, s, t):
            if x:
                x.close()
        if server.cm is None:
            _start_cm(server)
