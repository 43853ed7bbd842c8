"""The service-manager protocol (sd_notify(3)) as systemd sees it: both
daemons run with NOTIFY_SOCKET naming a datagram socket this test reads,
the sender told apart by its credentials (SO_PASSCRED)."""
import os
import socket
import struct
import time

import pytest

from conftest import Server

WAIT = 20.0


class Notifications:
    """Every datagram received, as (pid, set of lines)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(str(path))
        self.got = []

    def _read(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack('iII', payload[:12])[0]
        self.got.append((pid, set(data.decode().split('\n'))))

    def wait_for(self, pid, line):
        """The first datagram from pid holding line; fails after WAIT s."""
        deadline = time.monotonic() + WAIT
        while True:
            for p, lines in self.got:
                if p == pid and line in lines:
                    return lines
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail('no %r from pid %s; received %r' % (line, pid, self.got))
            self._read(left)


@pytest.fixture
def notified(tmp_path, monkeypatch):
    n = Notifications(tmp_path / 'notify.sock')
    monkeypatch.setenv('NOTIFY_SOCKET', str(tmp_path / 'notify.sock'))
    yield n
    n.sock.close()


def test_ready_status_and_stopping(tmp_path, notified):
    srv = Server(tmp_path)
    srv.start()
    core, cm = srv.core, srv.cm
    try:
        lines = notified.wait_for(core.pid, 'READY=1')
        assert any(l.startswith('STATUS=routing for ') for l in lines), lines
        lines = notified.wait_for(cm.pid, 'READY=1')
        assert 'STATUS=c2s on 127.0.0.1:%d, 1 worker(s)' % srv.port in lines, lines
    finally:
        srv.stop()
    srv.check()
    notified.wait_for(cm.pid, 'STOPPING=1')
    notified.wait_for(core.pid, 'STOPPING=1')


def test_watchdog_fed_from_the_event_loops(tmp_path, notified, monkeypatch):
    # sd_watchdog_enabled(3): WATCHDOG_USEC, and WATCHDOG_PID left unset so
    # both processes take it.  Half of 2 s: a ping a second at most.
    monkeypatch.setenv('WATCHDOG_USEC', '2000000')
    srv = Server(tmp_path)
    srv.start()
    try:
        notified.wait_for(srv.core.pid, 'WATCHDOG=1')
        notified.wait_for(srv.cm.pid, 'WATCHDOG=1')
    finally:
        srv.stop()
    srv.check()


def test_no_watchdog_without_watchdog_usec(tmp_path, notified):
    srv = Server(tmp_path)
    srv.start()
    core, cm = srv.core, srv.cm
    srv.stop()
    srv.check()
    notified.wait_for(cm.pid, 'STOPPING=1')
    notified.wait_for(core.pid, 'STOPPING=1')
    assert not [g for g in notified.got if 'WATCHDOG=1' in g[1]], notified.got
