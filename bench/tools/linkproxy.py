#!/usr/bin/env python3
"""A relay on a cm's backend link, to break the link on purpose (issue 13):
tests/e2e/test_link_cut.py uses LinkProxy directly, bench/faults.sh runs this
file as a process and signals it.  netem would be the tool for loss and
delay, but this machine's kernel has no sch_netem, and a relay in user space
can do the two faults that matter to the link's acknowledgements: hold what
is in flight, and cut the connection with it.

usage: linkproxy.py LISTEN_PATH TARGET_PATH
  relays each connection to LISTEN_PATH (a Unix socket it creates) to
  TARGET_PATH (the core's link socket); SIGUSR2 stalls every relayed
  connection (what either side sends is held), SIGUSR1 cuts them all (what
  was held is lost; new connections are relayed again); SIGTERM ends it."""
import os
import signal
import socket
import sys
import threading


class LinkProxy:
    """Listens on path, relays each connection to target; stall() holds what
    either side sends (resume() lets it go on; it is lost if a cut follows), cut() closes every
    relayed connection (new ones are relayed again).  While the target is
    away (a core restarting) a new connection is closed at once, as the
    target itself would refuse it."""

    def __init__(self, path, target):
        self.target, self.conns, self.lock = str(target), [], threading.Lock()
        self.flowing = threading.Event()
        self.flowing.set()
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
            try:
                b.connect(self.target)
            except OSError:
                a.close()
                b.close()
                continue
            with self.lock:
                self.conns += [a, b]
            for x, y in ((a, b), (b, a)):
                threading.Thread(target=self._pump, args=(x, y), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                self.flowing.wait()
                if src.fileno() < 0:
                    break  # cut while held: what was held is lost
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stall(self):
        self.flowing.clear()

    def resume(self):
        """What was held goes on, in order."""
        self.flowing.set()

    def cut(self):
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.flowing.set()

    def close(self):
        self.cut()
        self.srv.close()


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__.split('\n\n', 1)[1])
        return 2
    if os.path.exists(argv[1]):
        os.unlink(argv[1])
    proxy = LinkProxy(argv[1], argv[2])
    done = threading.Event()
    # Handlers run in the main thread between its waits; the relays go on.
    signal.signal(signal.SIGUSR2, lambda *_: proxy.stall())
    signal.signal(signal.SIGUSR1, lambda *_: proxy.cut())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    while not done.wait(1):
        pass
    proxy.close()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
