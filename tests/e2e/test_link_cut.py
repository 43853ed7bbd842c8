"""The link between a cm and a core that stays up is cut (issue 13): the
core ends that cm's sessions, the cm reconnects and announces them again,
and its clients chat on over the same connections.  The cut is made by a
proxy on the link's Unix socket."""
import socket
import threading
import time

import pytest

from conftest import START_TIMEOUT
from test_multi_cm import SecondCm
from xmpp_raw import NS_CLIENT, body_of, q


class LinkProxy:
    """Listens on path, relays each connection to the core's socket; cut()
    closes every relayed connection (new ones are still relayed)."""

    def __init__(self, path, target):
        self.target, self.conns, self.lock = str(target), [], threading.Lock()
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(str(path))
        self.srv.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                a, _ = self.srv.accept()
            except OSError:
                return
            b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            b.connect(self.target)
            with self.lock:
                self.conns += [a, b]
            for x, y in ((a, b), (b, a)):
                threading.Thread(target=self._pump, args=(x, y), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def close(self):
        self.cut()
        self.srv.close()


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
