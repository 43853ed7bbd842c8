"""Login: STARTTLS, SASL (RFC 6120 §6) and resource binding (RFC 6120 §7)."""
import base64

import pytest

from conftest import connect, run
from xmpp_raw import (NS_ROSTER, NS_SASL, NS_STREAM, NS_STREAMS_ERR, NS_TLS, StreamClosed, q,
                      stream_error)

MECHS = ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']


@pytest.mark.parametrize('mech', MECHS)
def test_login_with_mechanism(server, mech):
    jid, pw = server.new_user('login')

    async def scenario():
        c = await connect(server, jid, pw, mech=mech)
        assert c.mech_used == mech
        assert c.boundjid.bare == jid
        assert c.boundjid.resource, 'bound JID has no resource'
        # The session is usable: a roster get round-trips.
        roster = await c.get_roster(timeout=30)
        assert roster['type'] == 'result'
        await c.stop()
    run(scenario())


@pytest.mark.parametrize('mech', MECHS)
@pytest.mark.parametrize('case', ['wrong-password', 'unknown-user'])
def test_bad_credentials_rejected(server, mech, case):
    jid, pw = server.new_user('victim')
    if case == 'wrong-password':
        pw = pw + 'x'
    else:
        jid = 'nobody-' + jid

    async def scenario():
        c = await connect(server, jid, pw, mech=mech, expect='auth-failed')
        # RFC 6120 §6.5.10: same answer for both, so accounts cannot be probed.
        assert c.auth_failures == ['not-authorized']
        assert not c.authenticated
    run(scenario())


def test_plain_refused_before_tls(server):
    jid, pw = server.new_user('cleartext')
    s = server.raw()
    try:
        feats = s.open()
        tls = feats.find(q(NS_TLS, 'starttls'))
        assert tls is not None, 'STARTTLS not offered'
        # RFC 6120 §5.3.1: mandatory-to-negotiate TLS carries <required/>.
        assert tls.find(q(NS_TLS, 'required')) is not None, '<required/> missing'
        mechs = feats.find(q(NS_SASL, 'mechanisms'))
        if mechs is not None:
            names = [m.text for m in mechs.findall(q(NS_SASL, 'mechanism'))]
            assert 'PLAIN' not in names, 'PLAIN offered in cleartext: %s' % names
        token = base64.b64encode(b'\0' + jid.split('@')[0].encode() + b'\0'
                + pw.encode()).decode()
        s.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, token))
        # RFC 6120 §6.4.5 / §4.9: a SASL <failure/> or a stream error; never <success/>.
        try:
            answer = s.next_element()
        except StreamClosed:
            answer = None
        assert answer is None or answer.tag in (q(NS_SASL, 'failure'), q(NS_STREAM, 'error')), \
            'cleartext PLAIN answered with %s' % answer.tag
    finally:
        s.close()


def test_resource_conflict_kicks_old_session(server):
    jid, pw = server.new_user('twin')
    first = server.raw_login(jid, pw, resource='home')
    try:
        assert first.jid == jid + '/home'
        second = server.raw_login(jid, pw, resource='home')
        try:
            # RFC 6120 §7.7.2.2 / §4.9.3.3: the old stream gets <conflict/>.
            got = first.read_to_close()
            assert stream_error(got) == (NS_STREAMS_ERR, 'conflict')
            assert first.root_closed, 'old stream not closed with </stream:stream>'
            assert first.eof, 'old connection not closed'
            assert second.jid == jid + '/home'
            res = second.iq('get', "<query xmlns='%s'/>" % NS_ROSTER)
            assert res.get('type') == 'result'
        finally:
            second.close()
    finally:
        first.close()


def test_server_generated_resource(server):
    jid, pw = server.new_user('anyres')
    s = server.raw_login(jid, pw, resource=None)
    try:
        bare, _, resource = s.jid.partition('/')
        assert bare == jid
        assert resource, 'server returned a JID without resource: %r' % s.jid
        res = s.iq('get', "<query xmlns='%s'/>" % NS_ROSTER)
        assert res.get('type') == 'result'
    finally:
        s.close()
