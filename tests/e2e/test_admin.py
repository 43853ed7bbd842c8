"""starlingctl against a running server: a changed password or a deleted
account ends the account's live sessions (<not-authorized/>, RFC 6120
§4.9.3.12), and only the new credentials log in afterwards; `status` reports
the running server's figures."""
import re
import subprocess
import time

import pytest

from xmpp_raw import NS_SASL, expect_stream_error, q


def _local(jid):
    return jid.split('@')[0]


def _plain_result(server, jid, password):
    """The tag of the SASL outcome (<success/> or <failure/>) for a PLAIN login."""
    s = server.raw()
    try:
        s.open()
        s.starttls()
        return s.auth_plain(_local(jid), password).tag
    finally:
        s.close()


def test_passwd_ends_sessions_and_takes_effect(server):
    jid, pw = server.new_user('pw')
    a, b = server.raw(), server.raw()
    try:
        a.login(_local(jid), pw, resource='one')
        b.login(_local(jid), pw, resource='two')
        r = server.ctl('passwd', jid, 'changed')
        assert 'sessions ended' in r.stdout
        expect_stream_error(a, 'not-authorized')
        expect_stream_error(b, 'not-authorized')
    finally:
        a.close()
        b.close()
    assert _plain_result(server, jid, pw) == q(NS_SASL, 'failure')
    assert _plain_result(server, jid, 'changed') == q(NS_SASL, 'success')


def test_deluser_ends_sessions_and_spares_others(server):
    gone, pw = server.new_user('gone')
    watcher, wpw = server.new_user('watch')
    w = server.raw()
    s = server.raw()
    try:
        wfull = w.login(_local(watcher), wpw, resource='w')
        full = s.login(_local(gone), pw, resource='g')
        # The two sessions talk before the account goes.
        s.message(wfull, 'bye')
        got = w.next_message()
        assert got.get('from') == full
        server.ctl('deluser', gone)
        expect_stream_error(s, 'not-authorized')
        # The watcher's stream is untouched: a ping to the server still answers.
        res = w.iq('get', "<ping xmlns='urn:xmpp:ping'/>")
        assert res.get('type') == 'result'
    finally:
        s.close()
        w.close()
    assert _plain_result(server, gone, pw) == q(NS_SASL, 'failure')


@pytest.mark.parametrize('cmd', ['passwd', 'deluser'])
def test_unknown_account_is_an_error(server, cmd):
    args = [cmd, 'nobody-here@%s' % server.domain] + (['x'] if cmd == 'passwd' else [])
    with pytest.raises(AssertionError):
        server.ctl(*args)


def _status(server):
    """starlingctl status as {metric line name: int}."""
    figures = {}
    for line in server.ctl('status').stdout.splitlines():
        name, value = line.rsplit(' ', 1)
        figures[name] = int(value)
    return figures


def _cm_sum(figures, name):
    return sum(v for k, v in figures.items() if k.startswith(name + '{cm="starling-cm/'))


def test_status_counts_what_happened(server):
    """`starlingctl status`: the core's gauges and counters and every cm
    worker's report (sent each second) move with a session's work."""
    before = _status(server)
    jid, pw = server.new_user('st')
    s = server.raw()
    try:
        s.login(_local(jid), pw, resource='r')
        s.presence()
        for i in range(3):
            s.message(jid + '/r', 'hello %d' % i)
            s.next_message()
        deadline = time.time() + 10
        while True:  # the cm reports once a second
            now = _status(server)
            if _cm_sum(now, 'starling_cm_stanzas_in_total') >= \
                    _cm_sum(before, 'starling_cm_stanzas_in_total') + 4 or time.time() > deadline:
                break
            time.sleep(0.2)
        assert now['starling_core_cm_links'] >= 1
        assert now['starling_core_sessions'] == before['starling_core_sessions'] + 1
        assert now['starling_core_sessions_available'] >= 1
        k = 'starling_core_stanzas_total{kind="message"}'
        assert now[k] == before[k] + 3
        assert now['starling_core_deliveries_total'] >= before['starling_core_deliveries_total'] + 3
        assert now['starling_core_credential_lookups_total'] > \
            before['starling_core_credential_lookups_total']
        assert _cm_sum(now, 'starling_cm_connections') >= 1
        assert _cm_sum(now, 'starling_cm_auth_ok_total') > \
            _cm_sum(before, 'starling_cm_auth_ok_total')
        assert _cm_sum(now, 'starling_cm_stanzas_in_total') >= \
            _cm_sum(before, 'starling_cm_stanzas_in_total') + 4  # presence + 3 messages
    finally:
        s.close()


def test_status_without_a_core(server, tmp_path):
    conf = tmp_path / 'nocore.conf'
    conf.write_text(re.sub(r'(?m)^control = .*$', 'control = %s/none.ctl' % tmp_path,
                           server.conf.read_text()))
    r = subprocess.run([str(server.bin / 'starlingctl'), '-c', str(conf), 'status'],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and 'no core listening' in r.stderr, (r.returncode, r.stderr)


def test_check_config(server, tmp_path):
    """starlingctl check-config validates a file without starting anything:
    the running server's own file passes; a bad value, an unknown key and a
    missing certificate are reported with the file (and line) and exit 1."""
    ctl = str(server.bin / 'starlingctl')

    def check(path):
        r = subprocess.run([ctl, 'check-config', str(path)], capture_output=True, text=True,
                           timeout=30, cwd=str(server.dir))
        return r.returncode, r.stdout + r.stderr

    rc, out = check(server.conf)
    assert rc == 0 and out.strip() == '%s: ok' % server.conf, out
    good = server.conf.read_text()
    cases = {
        'range': (good.replace('auth_timeout = 60', 'auth_timeout = 0'),
                  'c2s.auth_timeout'),
        'unknown': (good.replace('[c2s]\n', '[c2s]\nbogus_key = 1\n', 1), 'bogus_key'),
        'cert': (good.replace(str(server.cert), str(tmp_path / 'missing.pem')), 'missing.pem'),
    }
    for name, (text, what) in cases.items():
        bad = tmp_path / (name + '.conf')
        bad.write_text(text)
        rc, out = check(bad)
        assert rc == 1 and str(bad) in out and what in out, (name, rc, out)
        if name != 'cert':  # the line of the bad key is named
            line = next(i for i, l in enumerate(text.splitlines(), 1) if what.split('.')[-1] in l)
            assert '%s:%d:' % (bad, line) in out, (name, line, out)
