#!/usr/bin/python3
"""tls_resume_cost: starling-cm's CPU per TLS handshake on the direct-TLS
port, full against resumed with a session ticket (docs/performance.md).

    bench/tools/tls_resume_cost.py PORT CM_PID [N]

For each TLS version, N connections with a full handshake (no session
offered), then N that each offer the session of the connection before (as a
returning client holds the ticket of its last connection).  Each connection
is a TCP connect, the handshake, reading the server's first record after it
(TLS 1.3 tickets follow the handshake) and a close; the cm's CPU is its
utime + stime from /proc before and after, divided by N.  The client runs on
the same machine, but its CPU is not counted."""
import os
import socket
import ssl
import sys


def cm_cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def connect(port, ctx, session):
    sock = socket.create_connection(('127.0.0.1', port), timeout=10)
    # Without it the client's Nagle holds the stream header behind its
    # Finished until the server's delayed ACK (40 ms): the cm would sleep
    # through every resumed TLS 1.2 handshake and wake up cold.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    tls = ctx.wrap_socket(sock, server_hostname='localhost', session=session)
    # A stream header makes the server answer, so the ticket has arrived.
    tls.sendall(b"<?xml version='1.0'?><stream:stream to='localhost' version='1.0' "
                b"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
    tls.recv(4096)
    reused, session = tls.session_reused, tls.session
    tls.close()
    return reused, session


def run(port, pid, n, version, resume):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = version
    _, session = connect(port, ctx, None)
    reused = 0
    before = cm_cpu_seconds(pid)
    for _ in range(n):
        r, s = connect(port, ctx, session if resume else None)
        reused += r
        if resume:
            session = s
    spent = cm_cpu_seconds(pid) - before
    return spent / n * 1e6, reused


def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        full, _ = run(port, pid, n, version, False)
        resumed, count = run(port, pid, n, version, True)
        print('%s: full %.0f us, resumed %.0f us (%d of %d resumed): %.0f us saved (%.0f%%)'
              % (version.name, full, resumed, count, n, full - resumed,
                 100 * (full - resumed) / full))


if __name__ == '__main__':
    main()
