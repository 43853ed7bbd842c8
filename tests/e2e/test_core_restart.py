"""The core dies (kill -9) and comes back: the cm keeps every client
connection, reconnects, announces its sessions and their presence to the new
core, and the clients chat on without logging in again (issue 13).  A
stanza a client sends while the core is away waits and is delivered after;
a login meanwhile is told to try again."""
import base64
import signal
import time

from conftest import START_TIMEOUT
from xmpp_raw import NS_CLIENT, NS_SASL, body_of, q

SERVER_OPTIONS = {'workers': 2}


def _available(s):
    s.presence()
    s.next_element(lambda e: e.tag == q(NS_CLIENT, 'presence'))


def _kill_core(server):
    server.core.send_signal(signal.SIGKILL)
    server.core.wait(15)


def _start_core(server):
    if server.sock.exists():
        server.sock.unlink()
    server.core = server._spawn('starling-core')
    server._wait('starling-core', server.sock.exists, server.core)


def _links_back(server, n):
    """Both workers of the cm announced their sessions to the new core."""
    deadline = time.monotonic() + START_TIMEOUT
    while server._log('starling-cm').count('link to the core is back') < n:
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.05)


def test_clients_survive_a_core_restart(server):
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    a = server.raw_login(aj, apw, 'pc')
    b = server.raw_login(bj, bpw, 'pc')
    try:
        _available(a)
        _available(b)
        a.message(bj, 'before')
        assert body_of(b.next_message()) == 'before'
        # The link acknowledges within LINKACK_DELAY_MS (lib/linkack.h);
        # what arrived within that window of a crash may come twice.
        time.sleep(0.05)
        back = server._log('starling-cm').count('link to the core is back')
        _kill_core(server)
        a.message(bj, 'while the core is away')
        _start_core(server)
        _links_back(server, back + 2)
        # Same TCP connections, no new login: bob is available to the new
        # core again (a bare-JID message reaches him) and alice's stanza
        # from the gap arrives first.
        a.message(bj, 'after')
        got = [body_of(b.next_message()), body_of(b.next_message())]
        assert got == ['while the core is away', 'after'], got
        b.message(aj + '/pc', 'reply')
        assert body_of(a.next_message()) == 'reply'
    finally:
        a.close()
        b.close()


def test_login_while_the_core_is_away_is_told_to_retry(server):
    aj, apw = server.new_user('alice')
    _kill_core(server)
    try:
        s = server.raw()
        feats = s.open()
        assert feats is not None
        s.starttls()
        token = base64.b64encode(b'\0' + aj.split('@')[0].encode() + b'\0' + apw.encode())
        s.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, token.decode()))
        el = s.next_element()
        assert el.tag == q(NS_SASL, 'failure')
        assert el.find(q(NS_SASL, 'temporary-auth-failure')) is not None
        s.close()
    finally:
        back = server._log('starling-cm').count('link to the core is back')
        _start_core(server)
        _links_back(server, back + 2)
    s = server.raw_login(aj, apw, 'pc')  # and once it is back, it works
    s.close()


def test_messages_survive_a_core_crash(server):
    """kill -9 of the core while messages for an offline account are on
    their way: what the core stored (SQLite WAL, synchronous=FULL) survives,
    and what it had not acknowledged the cm sends again to the new core, so
    every message is there when the account logs in (a few may come twice)."""
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    a = server.raw_login(aj, apw, 'pc')
    try:
        back = server._log('starling-cm').count('link to the core is back')
        a.send(''.join("<message type='chat' to='%s'><body>n %d</body></message>" % (bj, i)
                       for i in range(200)))
        _kill_core(server)  # while they are being stored
        _start_core(server)
        _links_back(server, back + 2)
        _ping(a)
    finally:
        a.close()
    b = server.raw_login(bj, bpw, 'pc')
    try:
        b.presence()
        got = set()
        while len(got) < 200:
            got.add(int(body_of(b.next_message()).split()[1]))
        assert got == set(range(200))
    finally:
        b.close()


def _ping(s):
    assert s.iq('get', "<ping xmlns='urn:xmpp:ping'/>", to=s.domain).get('type') == 'result'
