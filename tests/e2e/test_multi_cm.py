"""Several connection managers in front of one core (issue 13): each cm has
its own ports and its own links; an account's resources may sit on different
cms; stanzas and presence cross between them; a cm that dies takes only its
own sessions with it, and the core and the other cm carry on."""
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import START_TIMEOUT, _live_procs, free_port
from xmpp_raw import NS_CLIENT, RawStream, body_of, q

PING = "<ping xmlns='urn:xmpp:ping'/>"


class SecondCm:
    """Another starling-cm on the module server's core: the same
    configuration (or conf_text) with its own listening ports (and metrics
    address)."""

    def __init__(self, server, conf_text=None):
        self.server = server
        self.port = free_port()
        text = re.sub(r'(?m)^port = \d+$', 'port = %d' % self.port,
                      conf_text or server.conf.read_text())
        text = re.sub(r'(?m)^tls_port = [1-9]\d*$', 'tls_port = %d' % free_port(), text)
        text = re.sub(r'(?m)^metrics = .*$', lambda m: 'metrics = 127.0.0.1:%d' % free_port(),
                      text)
        self.conf = server.dir / 'cm2.conf'
        self.conf.write_text(text)
        with open(server.dir / 'starling-cm2.log', 'ab') as log:
            self.proc = subprocess.Popen([str(server.bin / 'starling-cm'), '-c', str(self.conf)],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=server._env(), cwd=str(server.dir))
        _live_procs.append(self.proc)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._open():
            assert self.proc.poll() is None, 'the second cm exited: %s' % self.log()
            assert time.monotonic() < deadline, 'the second cm did not open its port'
            time.sleep(0.05)

    def _open(self):
        try:
            with socket.create_connection((self.server.host, self.port), timeout=1):
                return True
        except OSError:
            return False

    def log(self):
        return (self.server.dir / 'starling-cm2.log').read_text(errors='replace')

    def raw_login(self, jid, password, resource):
        s = RawStream(self.server.host, self.port, jid.split('@')[1],
                      cafile=str(self.server.cert))
        s.login(jid.split('@')[0], password, resource)
        return s

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(15) == 0, self.log()


@pytest.fixture
def cm2(server):
    cm = SecondCm(server)
    yield cm
    cm.stop()


def _ping_ok(s):
    assert s.iq('get', PING, to=s.domain).get('type') == 'result'


def test_chat_between_two_cms(server, cm2):
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    a = server.raw_login(aj, apw, 'pc')
    b = cm2.raw_login(bj, bpw, 'pc')
    try:
        a.presence()  # available: a message to the bare JID comes here
        a.next_element(lambda e: e.tag == q(NS_CLIENT, 'presence'))
        a.message(bj + '/pc', 'to the other cm')
        assert body_of(b.next_message()) == 'to the other cm'
        b.message(aj, 'and back')
        assert body_of(a.next_message()) == 'and back'
    finally:
        a.close()
        b.close()


def test_one_account_on_two_cms(server, cm2):
    """RFC 6121 §4.2.2: a resource's presence goes to the account's other
    resources, here on the other cm; full-JID messages cross too."""
    aj, apw = server.new_user('alice')
    pc = server.raw_login(aj, apw, 'pc')
    phone = cm2.raw_login(aj, apw, 'phone')
    try:
        pc.presence()
        phone.presence()
        frm = phone.next_element(lambda e: e.tag == q(NS_CLIENT, 'presence') and
                                 e.get('from') == aj + '/pc')
        assert frm.get('type') is None
        pc.message(aj + '/phone', 'pc to phone')
        assert body_of(phone.next_message()) == 'pc to phone'
        phone.message(aj + '/pc', 'phone to pc')
        assert body_of(pc.next_message()) == 'phone to pc'
    finally:
        pc.close()
        phone.close()


def test_a_dead_cm_takes_only_its_sessions(server, cm2):
    """kill -9 of one cm: the core closes the sessions of its links (bob's
    messages then go offline), alice on the other cm chats on."""
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    a = server.raw_login(aj, apw, 'pc')
    b = cm2.raw_login(bj, bpw, 'pc')
    try:
        a.message(bj + '/pc', 'before')
        assert body_of(b.next_message()) == 'before'
        # cm2 acknowledges within LINKACK_DELAY_MS (lib/linkack.h); what
        # arrived within that window of a loss may come twice.
        time.sleep(0.05)
        cm2.proc.send_signal(signal.SIGKILL)
        cm2.proc.wait(15)
        # The core noticed: bob's full JID has no session, so the message is
        # stored for him (RFC 6121 §8.5.3.2.1) rather than sent to a dead link.
        deadline = time.monotonic() + 15
        while 'session close: ' + bj + '/pc' not in server._log('starling-core'):
            assert time.monotonic() < deadline, 'the core kept bob\'s session'
            time.sleep(0.05)
        a.message(bj + '/pc', 'after')
        _ping_ok(a)  # alice's cm and the core carry on
        b.close()
        b = server.raw_login(bj, bpw, 'pc')
        b.presence()
        assert body_of(b.next_message()) == 'after'
    finally:
        a.close()
        b.close()
    assert server.core.poll() is None and server.cm.poll() is None
