#!/usr/bin/python3
"""Messages per second for one sender -> receiver pair, through the whole server.

Logs in two accounts (STARTTLS + PLAIN + bind + presence), has the sender write N
chat messages as fast as the connection takes them, and times until the receiver
has read all N.  A stop-gap until starling-bench's `chat` scenario (issue 3).

  bench/pair_rate.py --port 5222 --from user0 --to user1 -n 100000
"""
import argparse
import asyncio
import ssl
import sys
import time

from idle_load import login


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5222)
    ap.add_argument("--domain", default="localhost")
    ap.add_argument("--from", dest="sender", default="user0")
    ap.add_argument("--to", dest="receiver", default="user1")
    ap.add_argument("--password", default="secret")
    ap.add_argument("-n", type=int, default=100000)
    ap.add_argument("--batch", type=int, default=100, help="messages per write")
    a = ap.parse_args()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    rr, rw = await login(a.host, a.port, a.domain, a.receiver, a.password, ctx)
    sr, sw = await login(a.host, a.port, a.domain, a.sender, a.password, ctx)
    await asyncio.sleep(0.5)
    while True:  # drop what login left unread (presence, roster)
        try:
            await asyncio.wait_for(rr.read(65536), 0.2)
        except asyncio.TimeoutError:
            break
    to = f"{a.receiver}@{a.domain}"
    msg = (f"<message to='{to}' type='chat'><body>0123456789abcdef0123456789abcdef</body></message>"
           * a.batch).encode()
    marker = b"</message>"

    async def receive():
        seen, tail = 0, b""
        while seen < a.n:
            chunk = await rr.read(1 << 16)
            if not chunk:
                raise ConnectionError("receiver closed")
            data = tail + chunk
            seen += data.count(marker)
            tail = data[-(len(marker) - 1):]
        return seen

    t0 = time.monotonic()
    rx = asyncio.create_task(receive())
    for _ in range(a.n // a.batch):
        sw.write(msg)
        await sw.drain()
    got = await asyncio.wait_for(rx, 600)
    took = time.monotonic() - t0
    print(f"{got} messages in {took:.2f} s: {got / took:,.0f} messages/s")
    sw.close()
    rw.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
