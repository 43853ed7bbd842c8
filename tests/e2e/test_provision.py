"""starlingctl provision: bulk bench accounts with mutual rosters, checked
through a running server (SASL logins, roster get, presence), plus its
argument validation.  Each test uses its own account pattern: the server (and
its database) is shared by the module."""
import subprocess

import pytest

from conftest import SANITIZER_MARKS, connect, expect, full_roster as _roster, run
from xmpp_raw import NS_SASL, expect_stream_error, q


def _ctl_rc(server, *args):
    """starlingctl with any exit status: (returncode, stdout, stderr)."""
    r = subprocess.run([str(server.bin / 'starlingctl'), '-c', str(server.conf)] + list(args),
            capture_output=True, text=True, timeout=120, env=server._env(), cwd=str(server.dir))
    for m in SANITIZER_MARKS:
        assert m not in r.stdout + r.stderr, 'starlingctl %s: sanitizer report:\n%s' % (
            args, r.stdout + r.stderr)
    return r.returncode, r.stdout, r.stderr


def _users(server):
    return server.ctl('users').stdout.split()


def _jid(server, local):
    return '%s@%s' % (local, server.domain)


def _plain_result(server, local, password):
    """The tag of the SASL outcome (<success/> or <failure/>) for a PLAIN login."""
    s = server.raw()
    try:
        s.open()
        s.starttls()
        return s.auth_plain(local, password).tag
    finally:
        s.close()


def test_rosters_are_the_ring_neighbours(server):
    r = server.ctl('provision', 'ring%d', '6', 'pw-ring', '--contacts', '2')
    assert r.stdout == 'provision: 6 accounts (ring1..ring6@%s), 2 contacts each\n' % (
        server.domain)
    assert sorted(u for u in _users(server) if u.startswith('ring')) == sorted(
        _jid(server, 'ring%d' % i) for i in range(1, 7))
    # First and last wrap around; ring3 is an ordinary middle account.
    want = {1: (6, 2), 3: (2, 4), 6: (5, 1)}

    async def scenario():
        for i, (lo, hi) in want.items():
            c = await connect(server, _jid(server, 'ring%d' % i), 'pw-ring')
            roster = await _roster(c)
            assert sorted(roster) == sorted(_jid(server, 'ring%d' % n) for n in (lo, hi)), (
                i, roster)
            for item in roster.values():
                assert item['subscription'] == 'both'
                assert list(item['groups']) == ['bench']
                assert not item['name']
                assert not item['ask']
            await c.stop()
    run(scenario())


def test_first_number_and_no_contacts(server):
    r = server.ctl('provision', 'Ten%d', '3', 'pw-ten', '--first', '10')
    # Nodeprep folds the case, as adduser would.
    assert r.stdout == 'provision: 3 accounts (ten10..ten12@%s), 0 contacts each\n' % (
        server.domain)
    assert sorted(u for u in _users(server) if u.startswith('ten')) == sorted(
        _jid(server, 'ten%d' % i) for i in (10, 11, 12))

    async def scenario():
        c = await connect(server, _jid(server, 'ten12'), 'pw-ten')
        assert await _roster(c) == {}
        await c.stop()
    run(scenario())


def test_second_run_replaces_the_password(server):
    server.ctl('provision', 'idem%d', '4', 'old-pw', '--contacts', '2')
    live = server.raw()
    try:
        live.login('idem2', 'old-pw', resource='r')
        r = server.ctl('provision', 'idem%d', '4', 'new-pw', '--contacts', '2')
        assert r.stdout == 'provision: 4 accounts (idem1..idem4@%s), 2 contacts each\n' % (
            server.domain)
        # As with passwd: a session on the replaced credentials ends.
        expect_stream_error(live, 'not-authorized')
    finally:
        live.close()
    assert _plain_result(server, 'idem1', 'old-pw') == q(NS_SASL, 'failure')
    assert _plain_result(server, 'idem1', 'new-pw') == q(NS_SASL, 'success')

    async def scenario():
        # Both stored verifiers were replaced, not only the one PLAIN uses.
        for mech in ('SCRAM-SHA-1', 'SCRAM-SHA-256'):
            c = await connect(server, _jid(server, 'idem4'), 'old-pw', mech=mech,
                              expect='auth-failed')
            c = await connect(server, _jid(server, 'idem4'), 'new-pw', mech=mech)
            assert c.mech_used == mech
            # Re-putting the items did not duplicate them.
            assert sorted(await _roster(c)) == [_jid(server, 'idem1'), _jid(server, 'idem3')]
            await c.stop()
    run(scenario())


@pytest.mark.parametrize('args', [
    ['bad', '4', 'pw'],                              # no %d
    ['bad%d%d', '4', 'pw'],                          # two %d
    ['bad%s', '4', 'pw'],                            # another conversion
    ['bad%d%', '4', 'pw'],                           # a lone %
    ['bad%d', '4', 'pw', '--contacts', '3'],         # odd
    ['bad%d', '4', 'pw', '--contacts', '4'],         # not < N
    ['bad%d', '0', 'pw'],
    ['bad%d', '1000001', 'pw'],
    ['bad%d', '-4', 'pw'],
    ['bad%d', '4', 'pw', '--first', '-1'],
    ['bad%d', '4', 'pw', '--first'],
    ['bad%d', '4'],
    ['bad%d', '4', 'pw', 'extra'],
])
def test_bad_arguments_are_usage_errors(server, args):
    rc, out, err = _ctl_rc(server, 'provision', *args)
    assert rc == 2, (rc, out, err)
    assert out == ''
    assert 'usage:' in err
    assert not [u for u in _users(server) if u.startswith('bad')]


def test_provisioned_contacts_see_each_other_online(server):
    server.ctl('provision', 'pres%d', '4', 'pw-pres', '--contacts', '2')
    aj, bj = _jid(server, 'pres1'), _jid(server, 'pres2')

    def available_from(full):
        return lambda p: p['type'] == 'available' and str(p['from']) == full

    async def scenario():
        a = await connect(server, aj, 'pw-pres', resource='a', presence=True)
        b = await connect(server, bj, 'pw-pres', resource='b', presence=True)
        # RFC 6121 §4.2.2: b's initial presence goes to its subscribed
        # contacts, and b learns a's presence by the server's probe.
        await expect(a.presences, available_from(bj + '/b'), 'available from %s/b' % bj)
        await expect(b.presences, available_from(aj + '/a'), 'available from %s/a' % aj)
        await a.stop()
        await b.stop()
    run(scenario())
