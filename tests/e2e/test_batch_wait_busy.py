"""[c2s] batch_wait_busy: a worker gathers completions only after a turn
that handled at least that many, so a calm worker keeps waking for each.
Set beyond anything a turn handles here, no wait gathers
(starling_cm_batched_waits_total stays 0, where test_batch_wait.py shows it
moving with 0), and the chat still delivers every message in
order."""
from test_batch_wait import test_numbered_messages_arrive_in_order  # noqa: F401

SERVER_OPTIONS = {'workers': 2,
                  'c2s_extra': 'batch_wait_us = 2000\nbatch_wait_busy = 4096'}


def test_the_option_reached_the_workers(server):
    log = server.log_text()
    for w in (0, 1):
        assert ('worker %d: each wait gathers completions for up to 2000 us '
                'after a turn that handled >= 4096' % w) in log


def test_no_wait_gathered(server):
    """Runs after the chat (pytest keeps the file's order)."""
    assert server.cm_metric('starling_cm_batched_waits_total') == 0
