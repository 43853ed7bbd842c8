#!/usr/bin/python3
"""Hold N idle, authenticated TLS sessions open against an XMPP server and report
the server's resident memory per session.

A stop-gap until starling-bench (issue 3) has its `idle` scenario: plain asyncio, one
connection = STARTTLS + SASL PLAIN + bind + initial presence, then silence.

  bench/idle_load.py --port 5222 --users 'user%d' --password secret -n 10000 \
      --pids $(pgrep -d, starling-cm),$(pgrep -d, starling-core)
"""
import argparse
import asyncio
import base64
import resource
import ssl
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def read_until(reader, token, limit=1 << 16):
    data = b""
    while token not in data:
        chunk = await reader.read(4096)
        if not chunk:
            raise ConnectionError(f"closed while waiting for {token!r}: {data[-200:]!r}")
        data += chunk
        if len(data) > limit:
            raise ConnectionError("too much data")
    return data


def header(domain):
    return (f"<?xml version='1.0'?><stream:stream to='{domain}' xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>").encode()


async def login(host, port, domain, user, password, ctx):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(header(domain))
    await read_until(reader, b"</stream:features>")
    writer.write(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    await read_until(reader, b"<proceed")
    await writer.start_tls(ctx, server_hostname=domain)
    writer.write(header(domain))
    await read_until(reader, b"</stream:features>")
    cred = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    writer.write(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{cred}</auth>".encode())
    got = await read_until(reader, b"xmlns='urn:ietf:params:xml:ns:xmpp-sasl'")
    if b"<success" not in got:
        got += await reader.read(4096)
        if b"<success" not in got:
            raise ConnectionError(f"auth failed for {user}: {got!r}")
    writer.write(header(domain))
    await read_until(reader, b"</stream:features>")
    writer.write(b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
    await read_until(reader, b"</iq>")
    writer.write(b"<presence/>")
    return reader, writer


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5222)
    ap.add_argument("--domain", default="localhost")
    ap.add_argument("--users", default="user%d", help="account name pattern")
    ap.add_argument("--password", default="secret")
    ap.add_argument("-n", type=int, default=1000, help="sessions to open")
    ap.add_argument("--accounts", type=int, default=0, help="distinct accounts (default n)")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--pids", default="", help="comma-separated server PIDs to sample")
    ap.add_argument("--hold", type=float, default=3.0, help="seconds to settle before sampling")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    pids = [int(p) for p in a.pids.split(",") if p]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    before = {p: rss_kib(p) for p in pids}
    conns, sem = [], asyncio.Semaphore(a.concurrency)
    accounts = a.accounts or a.n
    t0 = time.monotonic()

    async def one(i):
        async with sem:
            conns.append(await login(a.host, a.port, a.domain, a.users % (i % accounts), a.password, ctx))

    results = await asyncio.gather(*(one(i) for i in range(a.n)), return_exceptions=True)
    errors = [r for r in results if isinstance(r, Exception)]
    took = time.monotonic() - t0
    await asyncio.sleep(a.hold)
    after = {p: rss_kib(p) for p in pids}
    print(f"sessions: {len(conns)} opened in {took:.1f} s, {len(errors)} failed")
    for e in errors[:3]:
        print("  error:", e)
    total = 0
    for p in pids:
        d = after[p] - before[p]
        total += d
        print(f"pid {p}: RSS {before[p]} KiB -> {after[p]} KiB, +{d} KiB, "
              f"{d / max(1, len(conns)):.2f} KiB/session")
    if pids:
        print(f"total: +{total} KiB, {total / max(1, len(conns)):.2f} KiB/session")
    for _, w in conns:
        w.close()
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
