"""Failed-login throttling per source address (issue 9): after
auth_failures_per_address wrong passwords from one address within
auth_failure_window, even the right password gets <temporary-auth-failure/>
(RFC 6120 §6.5.12) until the window ends; other addresses are not affected."""
import socket
import time

from xmpp_raw import NS_SASL, q

SERVER_OPTIONS = {'c2s_extra': 'auth_failures_per_address = 3\nauth_failure_window = 3600\n'}


def _attempt(server, user, password, source='127.0.0.1'):
    s = server.raw()
    if source != '127.0.0.1':  # a second loopback address as another client
        s.sock.close()
        s.sock = socket.create_connection((server.host, server.port), timeout=15,
                                          source_address=(source, 0))
    try:
        s.open()
        s.starttls()
        el = s.auth_plain(user, password)
        if el.tag == q(NS_SASL, 'success'):
            return 'success'
        return [c.tag.split('}', 1)[1] for c in el if not c.tag.endswith('}text')][0]
    finally:
        s.close()


def test_wrong_passwords_lock_out_the_address(server):
    aj, apw = server.new_user('alice')
    user = aj.split('@')[0]
    assert _attempt(server, user, apw) == 'success'
    for _ in range(3):
        assert _attempt(server, user, 'wrong') == 'not-authorized'
    before = _throttled(server)
    # Locked out: the right password is not even looked at.
    assert _attempt(server, user, apw) == 'temporary-auth-failure'
    # Another address logs in as usual.
    assert _attempt(server, user, apw, source='127.0.0.2') == 'success'
    # Counted in `starlingctl status` (the workers report once a second).
    for _ in range(100):
        if _throttled(server) > before:
            break
        time.sleep(0.1)
    assert _throttled(server) == before + 1


def _throttled(server):
    """starling_cm_auth_throttled_address_total summed over the workers."""
    total = 0
    for line in server.ctl('status').stdout.splitlines():
        name, value = line.rsplit(' ', 1)
        if name.startswith('starling_cm_auth_throttled_address_total{'):
            total += int(value)
    return total
