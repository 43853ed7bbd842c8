"""[c2s] and [core] batch_wait_us, with batch_wait_busy = 0 (on every wait,
not only after a busy turn as by default): each cm worker's wait and the core's
gather completions for a while (io_uring's minimum wait, deferred task
running; a worker's ring enabled by its own thread, the core's ring polling
its epoll set).  Everything must work as without it: the resumption tests run here
again with it on and two workers, whose rings then pass sessions to each
other by message, and the chat between them must deliver every message in
order.  (What it saves and costs is measured in docs/performance.md, not
here.)"""
from test_sm_resume import *  # noqa: F401,F403  (the tests run again, with this module's server)
from test_sm_resume import RESUME_TIMEOUT
from conftest import connect, expect, run

SERVER_OPTIONS = {'workers': 2,
                  'c2s_extra': 'resume_timeout = %d\nbatch_wait_us = 2000\nbatch_wait_busy = 0'
                  % RESUME_TIMEOUT,
                  'core_extra': 'batch_wait_us = 2000'}


def test_the_workers_batch(server):
    """Both workers and the core said so: the options reached the rings (the
    kernel has the minimum wait), so the tests above ran with them."""
    log = server.log_text()
    for w in (0, 1):
        assert 'worker %d: each wait gathers completions for up to 2000 us' % w in log
    assert 'each wait gathers wake-ups for up to 2000 us' in log


def test_numbered_messages_arrive_in_order(server):
    """Ten connections (spread over both workers) send numbered messages to
    each other: every one arrives once and in order, both ways."""
    pairs = []
    for _ in range(5):
        aj, apw = server.new_user('a')
        bj, bpw = server.new_user('b')
        pairs.append(((aj, apw), (bj, bpw)))
    N = 40

    async def go():
        clients = []
        for (aj, apw), (bj, bpw) in pairs:
            clients.append((await connect(server, aj, apw), await connect(server, bj, bpw)))
        for a, b in clients:
            for i in range(N):
                a.send_message(mto=b.boundjid, mbody='a%d' % i, mtype='chat')
                b.send_message(mto=a.boundjid, mbody='b%d' % i, mtype='chat')
        chat = lambda m: m['type'] == 'chat'
        for a, b in clients:
            got_b = [(await expect(b.messages, chat, 'a message'))['body'] for _ in range(N)]
            got_a = [(await expect(a.messages, chat, 'a message'))['body'] for _ in range(N)]
            assert got_b == ['a%d' % i for i in range(N)]
            assert got_a == ['b%d' % i for i in range(N)]
        for a, b in clients:
            await a.stop()
            await b.stop()
    run(go())


def test_waits_were_batched(server):
    """With batch_wait_busy = 0 every wait gathers, however calm the worker:
    the counter moved while the tests above ran."""
    assert server.cm_metric('starling_cm_batched_waits_total') > 0
