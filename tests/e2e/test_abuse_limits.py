"""Abuse limits of the cm (issue 9), each breach answered and counted in
`starlingctl status`:

- [c2s] max_connections_per_address, counted across the workers: one more
  connection than allowed from an address gets <policy-violation/> (RFC 6120
  §4.9.3.15) before its stream starts; other addresses are not affected and a
  closed connection frees its place.
- [c2s] auth_failures_per_account: after that many wrong passwords for one
  account, from any addresses, even the right password gets
  <temporary-auth-failure/> (RFC 6120 §6.5.12) and the core is not asked for
  the credentials; other accounts log in as usual.
- [c2s] read_rate / read_burst: a connection sending faster than its bucket
  is stopped and resumed, and what it sent still arrives whole."""
import socket
import time

from xmpp_raw import NS_CLIENT, NS_SASL, RawStream, body_of, expect_stream_error, q

SERVER_OPTIONS = {
    'workers': 2,
    'c2s_extra': 'max_connections_per_address = 3\n'
                 'auth_failures_per_address = 0\n'
                 'auth_failures_per_account = 2\nauth_failure_window = 3600\n'
                 'read_rate = 16384\nread_burst = 4096\n',
}


def _stream(server, source='127.0.0.1'):
    """A raw stream from a given loopback address (each is another client)."""
    s = server.raw()
    if source != '127.0.0.1':
        s.sock.close()
        s.sock = socket.create_connection((server.host, server.port), timeout=15,
                                          source_address=(source, 0))
    return s


def _status(server):
    """starlingctl status as {metric line name: int}."""
    figures = {}
    for line in server.ctl('status').stdout.splitlines():
        name, value = line.rsplit(' ', 1)
        figures[name] = int(value)
    return figures


def _cm_sum(figures, name):
    return sum(v for k, v in figures.items() if k.startswith(name + '{cm="starling-cm/'))


def _cm_counter_reaches(server, name, at_least):
    """The workers report once a second: poll until the sum gets there."""
    for _ in range(100):
        now = _cm_sum(_status(server), name)
        if now >= at_least:
            return now
        time.sleep(0.1)
    return now


def _open(s):
    """Send a header; True if the stream was answered with features."""
    feats = s.open()
    return feats.tag.endswith('}features')


def test_connections_per_address(server):
    before = _status(server)
    src = '127.0.0.5'
    held = [_stream(server, src) for _ in range(3)]
    try:
        for s in held:
            assert _open(s)
        # Every further connection is refused, whichever worker takes it: a
        # count per worker would admit some of these.
        for _ in range(6):
            extra = _stream(server, src)
            expect_stream_error(extra, 'policy-violation')
            extra.close()
        # Another address is not affected.
        other = _stream(server, '127.0.0.6')
        assert _open(other)
        other.close()
        # A closed connection frees its place; the close reaches the worker
        # on its own path, so a racing connection may still be refused.
        held.pop().close()
        for _ in range(100):
            again = _stream(server, src)
            try:
                if _open(again):
                    held.append(again)
                    break
            except Exception:
                pass
            again.close()
            time.sleep(0.05)
        else:
            raise AssertionError('a closed connection never freed its place')
    finally:
        for s in held:
            s.close()
    want = _cm_sum(before, 'starling_cm_refused_per_address_total') + 6
    assert _cm_counter_reaches(server, 'starling_cm_refused_per_address_total', want) >= want
    pv = 'starling_cm_stream_errors_policy_violation_total'
    assert _cm_counter_reaches(server, pv, _cm_sum(before, pv) + 6) >= _cm_sum(before, pv) + 6


def _attempt(server, user, password, source):
    s = _stream(server, source)
    try:
        s.open()
        s.starttls()
        el = s.auth_plain(user, password)
        if el.tag == q(NS_SASL, 'success'):
            return 'success'
        return [c.tag.split('}', 1)[1] for c in el if not c.tag.endswith('}text')][0]
    finally:
        s.close()


def test_wrong_passwords_lock_out_the_account(server):
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    user = aj.split('@')[0]
    assert _attempt(server, user, apw, '127.0.0.2') == 'success'
    # Two guessers on two addresses: the per-address throttle sees one each.
    assert _attempt(server, user, 'wrong', '127.0.0.2') == 'not-authorized'
    assert _attempt(server, user, 'wrong', '127.0.0.3') == 'not-authorized'
    before = _status(server)
    # Locked out from anywhere; the credentials are not even fetched.
    assert _attempt(server, user, apw, '127.0.0.4') == 'temporary-auth-failure'
    after = _status(server)
    assert after['starling_core_credential_lookups_total'] == \
        before['starling_core_credential_lookups_total']
    # Another account logs in as usual.
    assert _attempt(server, bj.split('@')[0], bpw, '127.0.0.4') == 'success'
    want = _cm_sum(before, 'starling_cm_auth_throttled_account_total') + 1
    assert _cm_counter_reaches(server, 'starling_cm_auth_throttled_account_total', want) >= want


def test_read_rate_shapes_but_delivers(server):
    """40 KB at once through a 4 KB bucket: the connection is stopped at
    least once (counted), and the message still arrives whole."""
    before = _status(server)
    aj, apw = server.new_user('fast')
    s = server.raw_login(aj, apw, 'r')
    try:
        body = 'x' * 40000
        s.message(s.jid, body)
        got = s.next_element(lambda e: e.tag == q(NS_CLIENT, 'message'))
        assert body_of(got) == body
    finally:
        s.close()
    want = _cm_sum(before, 'starling_cm_read_shaped_total') + 1
    assert _cm_counter_reaches(server, 'starling_cm_read_shaped_total', want) >= want
