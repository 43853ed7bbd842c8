"""starlingctl against a running server: a changed password or a deleted
account ends the account's live sessions (<not-authorized/>, RFC 6120
§4.9.3.12), and only the new credentials log in afterwards."""
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
