"""The link between a cm and a core that stays up is cut (issue 13): the
core ends that cm's sessions, the cm reconnects and announces them again,
and its clients chat on over the same connections.  The cut is made by a
proxy on the link's Unix socket."""
import socket
import sys
import time

import pytest

from conftest import REPO, START_TIMEOUT
from test_multi_cm import SecondCm
from test_sm import NS_SM
from xmpp_raw import NS_CLIENT, body_of, q

sys.path.insert(0, str(REPO / 'bench' / 'tools'))
from linkproxy import LinkProxy  # noqa: E402  (bench/tools is not a package)


@pytest.fixture
def proxied_cm(server):
    """A second cm whose link to the module's core goes through LinkProxy."""
    path = server.dir / 'proxy.sock'
    if path.exists():
        path.unlink()
    proxy = LinkProxy(path, server.sock)
    conf = server.conf.read_text().replace('address = unix:%s' % server.sock,
                                           'address = unix:%s' % path)
    assert str(path) in conf
    cm = SecondCm(server, conf_text=conf)
    yield cm, proxy
    cm.stop()
    proxy.close()


def test_clients_survive_a_link_cut(server, proxied_cm):
    cm, proxy = proxied_cm
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    a = cm.raw_login(aj, apw, 'pc')
    b = cm.raw_login(bj, bpw, 'pc')
    try:
        for s in (a, b):
            s.presence()
            s.next_element(lambda e: e.tag == q(NS_CLIENT, 'presence'))
        a.message(bj, 'before the cut')
        assert body_of(b.next_message()) == 'before the cut'
        # Both ends acknowledge within LINKACK_DELAY_MS (lib/linkack.h);
        # what arrived within that window of a cut may come twice.
        time.sleep(0.05)
        back = cm.log().count('link to the core is back')
        proxy.cut()
        deadline = time.monotonic() + START_TIMEOUT
        while cm.log().count('link to the core is back') <= back:
            assert time.monotonic() < deadline, cm.log()[-2000:]
            time.sleep(0.05)
        # The core ended both sessions at the cut and has them again: bob
        # is available (a bare-JID message reaches him), on the same socket.
        a.message(bj, 'after the cut')
        assert body_of(b.next_message()) == 'after the cut'
        b.message(aj + '/pc', 'reply')
        assert body_of(a.next_message()) == 'reply'
    finally:
        a.close()
        b.close()


N = 150


def _numbers(s, want):
    """Message bodies 'n <i>' read from s until every i in want is seen
    (duplicates allowed: a stanza that arrived just before the cut may come
    twice); returns the multiset as a list."""
    got = []
    while not want <= set(got):
        body = body_of(s.next_message())
        got.append(int(body.split()[1]))
    return got


def test_nothing_lost_across_a_cut(server, proxied_cm):
    """Numbered messages both ways across a stalled link that is then cut:
    alice's first half was written into the link and lost there, so her cm
    sends it again on the new link; bob's first half went the same way, so
    the core routes it again (to alice's offline store, delivered when her
    session is announced again); the second halves cross the gap.  Every
    number arrives, in both directions (a few may come twice)."""
    cm, proxy = proxied_cm
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    a = cm.raw_login(aj, apw, 'pc')  # through the proxied cm
    b = server.raw_login(bj, bpw, 'pc')  # through the module's own cm
    try:
        for s in (a, b):
            s.presence()
            s.next_element(lambda e: e.tag == q(NS_CLIENT, 'presence'))
        back = cm.log().count('link to the core is back')
        burst = lambda s, to, lo, hi: s.send(''.join(
            "<message type='chat' to='%s'><body>n %d</body></message>" % (to, i)
            for i in range(lo, hi)))
        proxy.stall()  # what the link carries from here on is lost at the cut
        burst(a, bj + '/pc', 0, N // 2)
        burst(b, aj + '/pc', 0, N // 2)
        time.sleep(0.5)  # both cms and the core write them into the link
        proxy.cut()
        burst(a, bj + '/pc', N // 2, N)
        burst(b, aj + '/pc', N // 2, N)
        deadline = time.monotonic() + START_TIMEOUT
        while cm.log().count('link to the core is back') <= back:
            assert time.monotonic() < deadline, cm.log()[-2000:]
            time.sleep(0.05)
        assert set(_numbers(b, set(range(N)))) == set(range(N))
        assert set(_numbers(a, set(range(N)))) == set(range(N))
    finally:
        a.close()
        b.close()


def test_an_ack_waits_for_the_core(server, proxied_cm):
    """XEP-0198 §4: the cm gives a client's stanza in 'h' only once the core
    has counted its link frame, so a cm killed after answering cannot lose
    what the client then forgot.  While the link is stalled, <r/> gets no
    answer; once it flows, <a h='1'/> comes and the message is delivered."""
    cm, proxy = proxied_cm
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    a = cm.raw_login(aj, apw, 'pc')
    b = server.raw_login(bj, bpw, 'pc')  # on the module's cm: its link flows
    try:
        a.send("<enable xmlns='%s'/>" % NS_SM)
        a.next_element(lambda e: e.tag == q(NS_SM, 'enabled'))
        proxy.stall()
        a.message(bj + '/pc', 'held')
        a.send("<r xmlns='%s'/>" % NS_SM)
        a.sock.settimeout(1.0)
        try:
            early = a.next_element(lambda e: e.tag == q(NS_SM, 'a'))
        except socket.timeout:
            early = None
        assert early is None, 'answered before the core had the stanza: h=%s' % early.get('h')
        a.sock.settimeout(a.timeout)
        proxy.resume()
        assert a.next_element(lambda e: e.tag == q(NS_SM, 'a')).get('h') == '1'
        assert body_of(b.next_message()) == 'held'
    finally:
        proxy.resume()
        a.close()
        b.close()
