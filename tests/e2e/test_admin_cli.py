"""starlingctl's operator verbs over the core's control socket ([core]
control, a Unix socket of mode 0600, or 0660 with control_group): sessions,
kick, reload, log-level, stats, with --json; exit codes 0 ok, 1 failure,
2 usage."""
import asyncio
import json
import os
import re
import stat
import subprocess
import time

from conftest import Server, connect, expect, run
from xmpp_raw import NS_CLIENT, expect_stream_error, q

PING = "<iq type='get' id='%s' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"


def _ctl(server, *args, conf=None):
    """starlingctl without failing on its exit status: (code, stdout, stderr)."""
    r = subprocess.run([str(server.bin / 'starlingctl'), '-c', str(conf or server.conf)]
                       + list(args), capture_output=True, text=True, timeout=60,
                       cwd=str(server.dir))
    return r.returncode, r.stdout, r.stderr


def _wait_log(server, text, what):
    """Until the servers' logs hold text (an event, not a duration: the
    deadline only bounds a failure)."""
    deadline = time.monotonic() + 20
    while text not in server.log_text():
        assert time.monotonic() < deadline, 'no %s in the log' % what
        time.sleep(0.05)


def _alive(s, tag):
    s.send(PING % tag)
    r = s.next_element(lambda e: e.tag == q(NS_CLIENT, 'iq') and e.get('id') == tag)
    return r.get('type') == 'result'


def test_control_socket_is_private(server):
    mode = stat.S_IMODE(os.stat(server.dir / 'core.ctl').st_mode)
    assert stat.S_ISSOCK(os.stat(server.dir / 'core.ctl').st_mode)
    assert mode == 0o600, oct(mode)


def test_sessions_lists_a_slixmpp_client(server):
    jid, pw = server.new_user('seen')

    async def scenario():
        c = await connect(server, jid, pw, resource='laptop', presence=True)
        await expect(c.presences, lambda p: p['from'] == jid + '/laptop', 'own presence')
        r = server.ctl('sessions', '--json')
        rows = [s for s in json.loads(r.stdout)['sessions'] if s['jid'] == jid]
        assert len(rows) == 1, r.stdout
        s = rows[0]
        assert s['resource'] == 'laptop' and s['available'] is True and s['priority'] == 0
        assert re.fullmatch(r'127\.0\.0\.1:\d+', s['address']), s
        assert s['cm'].startswith('starling-cm/') and s['since'] > 0, s
        # The local end of the client's socket is the address the cm saw.
        assert int(s['address'].split(':')[1]) == c.transport.get_extra_info('sockname')[1]
        # Text form, filtered by the bare JID.
        text = server.ctl('sessions', jid).stdout.splitlines()
        assert len(text) == 2 and text[1].startswith(jid + '/laptop\t127.0.0.1:'), text
        assert text[1].endswith('\tavailable'), text
        await c.stop()
    run(scenario())
    # Gone once logged out: an empty list, still exit 0.
    assert json.loads(server.ctl('sessions', jid, '--json').stdout) == {'sessions': []}


def test_kick_closes_with_the_condition(server):
    jid, pw = server.new_user('kicked')
    local = jid.split('@')[0]
    a, b = server.raw(), server.raw()
    try:
        a.login(local, pw, resource='a')
        b.login(local, pw, resource='b')
        out = json.loads(server.ctl('kick', jid + '/a', '--json').stdout)
        assert out == {'jid': jid + '/a', 'condition': 'policy-violation', 'kicked': 1}
        expect_stream_error(a, 'policy-violation')
        assert _alive(b, 'still')  # only the full JID named went
        r = server.ctl('kick', jid, 'resource-constraint')
        assert '1 session(s) closed with <resource-constraint/>' in r.stdout
        expect_stream_error(b, 'resource-constraint')
    finally:
        a.close()
        b.close()
    # Nobody left to kick, a condition kick cannot use, no JID: 1, 1, 2.
    code, out, err = _ctl(server, 'kick', jid)
    assert code == 1 and 'no such session' in err, (code, out, err)
    code, out, err = _ctl(server, 'kick', jid, 'not-a-condition')
    assert code == 1 and 'not a condition' in err, (code, out, err)
    code, out, err = _ctl(server, 'kick', jid, 'see-other-host', '--json')
    assert code == 1 and 'not a condition' in json.loads(out)['error'], (code, out, err)
    code, out, err = _ctl(server, 'kick')
    assert code == 2 and 'usage' in err


def test_log_level_changes_what_is_logged(server):
    def login_logged(level):
        server.ctl('log-level', level)
        jid, pw = server.new_user('lvl')
        s = server.raw_login(jid, pw, 'r')
        try:
            assert _alive(s, 'lvl')
        finally:
            s.close()
        return ('session open: %s/r' % jid) in server.log_text()
    assert not login_logged('info')  # a debug line
    assert login_logged('debug')
    out = json.loads(server.ctl('log-level', 'debug', '--json').stdout)
    assert out == {'level': 'debug', 'core': True, 'cm_links': 1}
    # One process only: the cm's debug lines go, the core's stay.
    def cm_debug_lines():
        cm_log = server.log_text().split('==== starling-cm ====')[1]
        return len(re.findall(r'(?m) starling-cm debug: ', cm_log))
    server.ctl('log-level', 'info', 'cm')
    before = cm_debug_lines()
    jid, pw = server.new_user('one')
    s = server.raw_login(jid, pw, 'r')
    try:
        assert _alive(s, 'one')
    finally:
        s.close()
    _wait_log(server, 'session close: %s/r' % jid, "the core's debug line")
    assert cm_debug_lines() == before
    server.ctl('log-level', 'debug')
    code, _, err = _ctl(server, 'log-level', 'info', 'router')
    assert code == 1 and 'core or cm' in err
    code, _, err = _ctl(server, 'log-level', 'loud')
    assert code == 1 and 'not a log level' in err


def test_stats_and_status_json(server):
    jid, pw = server.new_user('st')
    s = server.raw_login(jid, pw, 'r')
    try:
        st = json.loads(server.ctl('stats', '--json').stdout)
        assert st['sessions'] >= 1 and st['cm_links'] >= 1 and st['users_online'] >= 1
        # The cms' figures, added up, once a report (each second) counted the login.
        deadline = time.monotonic() + 20
        while st['cm']['logins_ok'] < 1 or st['cm']['connections'] < 1:
            assert time.monotonic() < deadline, st
            time.sleep(0.1)
            st = json.loads(server.ctl('stats', '--json').stdout)
        text = server.ctl('stats').stdout
        assert 'sessions:' in text and re.search(r'(?m)^logins: +[1-9]\d* ok', text), text
        fig = json.loads(server.ctl('status', '--json').stdout)['figures']
        assert fig['starling_core_sessions'] >= 1 and fig['starling_core_cm_links'] >= 1
    finally:
        s.close()


def test_no_control_socket(server, tmp_path):
    conf = tmp_path / 'nocore.conf'
    conf.write_text(re.sub(r'(?m)^control = .*$', 'control = %s/none.ctl' % tmp_path,
                           server.conf.read_text()))
    for verb in (['sessions'], ['reload'], ['kick', 'x@localhost']):
        code, out, err = _ctl(server, *verb, conf=conf)
        assert code == 1, (verb, code, err)
        assert 'no core listening at control socket %s/none.ctl' % tmp_path in err
    code, out, _ = _ctl(server, 'stats', '--json', conf=conf)
    assert code == 1 and 'error' in json.loads(out)


def test_reload_applies_live_keys_and_names_the_rest(tmp_path):
    srv = Server(tmp_path, core_extra='max_sessions_per_account = 3\ncontrol_group = true\n')
    srv.start()
    try:
        mode = stat.S_IMODE(os.stat(srv.dir / 'core.ctl').st_mode)
        assert mode == 0o660, oct(mode)
        aj, apw = srv.new_user('al')
        bj, bpw = srv.new_user('bo')
        code, out, _ = _ctl(srv, 'reload')
        assert code == 0 and 'no configuration changes' in out, out
        # A file that does not load changes nothing, and says where.
        good = srv.conf.read_text()
        srv.conf.write_text(good + 'bogus_key = 1\n')
        code, out, err = _ctl(srv, 'reload', '--json')  # starlingctl reads it too
        assert code == 1 and re.search(r'starling\.conf:\d+: ', json.loads(out)['error'])
        ctl_conf = tmp_path / 'ctl.conf'  # the core's own refusal
        ctl_conf.write_text('[core]\ncontrol = %s\n' % (srv.dir / 'core.ctl'))
        code, out, err = _ctl(srv, 'reload', '--json', conf=ctl_conf)
        assert code == 1 and re.search(r'starling\.conf:\d+: .*nothing changed',
                                       json.loads(out)['error']), (out, err)
        srv.conf.write_text(good)

        async def scenario():
            a = await connect(srv, aj, apw, resource='one', presence=True)
            b = await connect(srv, bj, bpw, resource='x', presence=True)
            text = srv.conf.read_text()
            text = text.replace('max_sessions_per_account = 3', 'max_sessions_per_account = 1')
            text = re.sub(r'(?m)^port = \d+$', 'port = 1', text, count=1)
            text = text.replace('auth_timeout = 60', 'auth_timeout = 1')
            srv.conf.write_text(text)
            r = json.loads(srv.ctl('reload', '--json').stdout)
            changed = {c['key']: c['applied'] for c in r['changed']}
            assert changed == {'core.max_sessions_per_account': True, 'c2s.port': False,
                               'c2s.auth_timeout': True}, r
            assert r['certificates_reload_requested'] == 1
            _wait_log(srv, 'worker 0: configuration reloaded', "the cm's reload")
            # A cm key: a stream that never logs in is now cut after 1 s, not 60.
            idle = srv.raw()
            try:
                idle.open()
                expect_stream_error(idle, 'connection-timeout')
            finally:
                idle.close()
            # The existing session keeps chatting ...
            a.send_message(mto=bj + '/x', mbody='after reload', mtype='chat')
            m = await expect(b.messages, lambda m: m['body'] == 'after reload', 'chat')
            assert m['from'] == aj + '/one'
            # ... and the lower limit holds for a new resource.
            s = srv.raw_login(aj, apw, 'two')
            try:
                expect_stream_error(s, 'policy-violation')
            finally:
                s.close()
            await a.stop()
            await b.stop()
        run(scenario())
        # The text form says the same; the port is still not applied.
        out = srv.ctl('reload').stdout
        assert 'c2s.port: restart needed' in out and 'max_sessions' not in out, out
        assert 'certificates reloaded' in srv.log_text()
    finally:
        srv.stop()
    srv.check()
