"""SCRAM with channel binding (RFC 5802 §6, RFC 7677; tls-exporter RFC 9266,
tls-server-end-point RFC 5929 §4), the channel-binding types in the features
(XEP-0440) and the downgrade-protection hash (XEP-0474), driven by
tests/tools/sasl_client (C + OpenSSL: Python's ssl exports no keying
material) against the real server."""
import pytest

from conftest import Client, Server, run
from sasl_tool import sasl_client

SERVER_OPTIONS = {'tls_port': True, 'c2s_extra': 'channel_binding = true\n'}
PLUS = ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS']
CB_TYPES = ['tls-exporter', 'tls-server-end-point']


def login(server, mech, tls='13', cb=None, flag=None, tamper=False, direct=False, user=None):
    jid, pw = user or server.new_user('plus')
    args = ['--tls', tls, '--mech', mech, '--user', jid.split('@')[0], '--password', pw]
    if cb:
        args += ['--cb', cb]
    if flag:
        args += ['--flag', flag]
    if tamper:
        args.append('--tamper')
    return sasl_client(server, *args, direct=direct)


@pytest.mark.parametrize('mech', PLUS)
@pytest.mark.parametrize('cb', CB_TYPES)
def test_plus_login_with_each_binding(server, mech, cb):
    out = login(server, mech, cb=cb)
    assert out['tls'] == 'TLSv1.3'
    assert out['result'] == 'success'
    assert out['verify'] == 'ok'


def test_plus_over_direct_tls(server):
    out = login(server, 'SCRAM-SHA-256-PLUS', cb='tls-exporter', direct=True)
    assert out['result'] == 'success' and out['verify'] == 'ok'


@pytest.mark.parametrize('mech', PLUS)
def test_tls12_server_end_point_works(server, mech):
    out = login(server, mech, tls='12', cb='tls-server-end-point')
    assert out['tls'] == 'TLSv1.2'
    assert out['result'] == 'success'


def test_tls12_refuses_tls_exporter(server):
    """RFC 9266 is for TLS 1.3: on 1.2 the type is not offered, and a client
    asking for it anyway fails."""
    out = login(server, 'SCRAM-SHA-256-PLUS', tls='12', cb='tls-exporter')
    assert out['tls'] == 'TLSv1.2'
    assert out['result'] == 'failure:not-authorized'


@pytest.mark.parametrize('mech', PLUS)
@pytest.mark.parametrize('cb', CB_TYPES)
def test_tampered_binding_is_not_authorized(server, mech, cb):
    """RFC 5802 §6: binding data that is not this connection's (a man in the
    middle) fails the proof check."""
    out = login(server, mech, cb=cb, tamper=True)
    assert out['result'] == 'failure:not-authorized'


def test_unsupported_binding_type_fails(server):
    out = login(server, 'SCRAM-SHA-256-PLUS', cb='tls-unique')
    assert out['result'] == 'failure:not-authorized'


@pytest.mark.parametrize('mech', ['SCRAM-SHA-256', 'SCRAM-SHA-1'])
def test_y_flag_is_refused_when_plus_offered(server, mech):
    """RFC 5802 §6: 'y' says the client could bind but saw no -PLUS: since we
    offered one, someone removed it."""
    out = login(server, mech, flag='y')
    assert out['result'] == 'failure:not-authorized'


@pytest.mark.parametrize('mech', ['SCRAM-SHA-256', 'SCRAM-SHA-1'])
def test_n_flag_is_fine(server, mech):
    out = login(server, mech, flag='n')
    assert out['result'] == 'success' and out['verify'] == 'ok'


def test_flag_must_fit_the_mechanism(server):
    """'p=' needs a -PLUS mechanism and a -PLUS mechanism needs 'p='."""
    out = login(server, 'SCRAM-SHA-256', flag='p', cb='tls-exporter')
    assert out['result'] == 'failure:malformed-request'
    out = login(server, 'SCRAM-SHA-256-PLUS', flag='n')
    assert out['result'] == 'failure:malformed-request'


def test_xep0440_types_per_tls_version(server):
    """XEP-0440 §2: the types on this connection; tls-exporter only on 1.3."""
    out13 = sasl_client(server, '--tls', '13', '--features-only')
    assert out13['cbind'].split(',') == ['tls-exporter', 'tls-server-end-point']
    out12 = sasl_client(server, '--tls', '12', '--features-only')
    assert out12['cbind'].split(',') == ['tls-server-end-point']
    for out in (out13, out12):
        mechs = out['mechanisms'].split(',')
        assert mechs[:2] == PLUS
        assert 'SCRAM-SHA-256' in mechs and 'SCRAM-SHA-1' in mechs


@pytest.fixture(scope='module')
def plain_server(tmp_path_factory):
    """require_tls = false: SCRAM over plain TCP, where there is nothing to bind to."""
    srv = Server(tmp_path_factory.mktemp('starling-plain'), c2s_extra='require_tls = false\n')
    srv.start()
    yield srv
    srv.stop()
    srv.check()


def test_no_plus_without_tls(plain_server):
    """RFC 5802 §6: -PLUS only where there is a channel; no XEP-0440 either.
    The 'y' flag is then fine, and h= covers the mechanisms alone."""
    out = sasl_client(plain_server, '--no-tls', '--features-only')
    assert out['mechanisms'].split(',') == ['SCRAM-SHA-256', 'SCRAM-SHA-1']
    assert out['cbind'] == ''
    for flag in ('y', 'n'):
        jid, pw = plain_server.new_user('plain')
        out = sasl_client(plain_server, '--no-tls', '--mech', 'SCRAM-SHA-256', '--flag', flag,
                          '--user', jid.split('@')[0], '--password', pw)
        assert out['result'] == 'success' and out['ssdp'] == 'ok'


@pytest.mark.parametrize('mech', PLUS + ['SCRAM-SHA-256', 'SCRAM-SHA-1'])
@pytest.mark.parametrize('tls', ['12', '13'])
def test_xep0474_hash_matches_features(server, mech, tls):
    """XEP-0474 §4: h= is the hash of the mechanisms and binding types we
    advertised; a client computing it over the same features agrees."""
    flag = None if mech.endswith('PLUS') else 'n'
    cb = 'tls-server-end-point' if mech.endswith('PLUS') else None
    out = login(server, mech, tls=tls, cb=cb, flag=flag)
    assert out['ssdp'] == 'ok'
    assert out['result'] == 'success'


def test_xep0474_detects_a_stripped_mechanism(server):
    """A client that saw a list without SCRAM-SHA-256-PLUS (a MITM hid it)
    computes another hash and sees the mismatch."""
    jid, pw = server.new_user('ssdp')
    out = sasl_client(server, '--tls', '13', '--mech', 'SCRAM-SHA-1', '--flag', 'n',
                      '--user', jid.split('@')[0], '--password', pw,
                      '--drop', 'SCRAM-SHA-256-PLUS')
    assert out['ssdp'] == 'mismatch'


@pytest.fixture(scope='module')
def unbound_server(tmp_path_factory):
    """The default configuration: [c2s] channel_binding is off."""
    srv = Server(tmp_path_factory.mktemp('starling-nocb'))
    srv.start()
    yield srv
    srv.stop()
    srv.check()


def test_channel_binding_off(unbound_server):
    """No -PLUS and no XEP-0440 even over TLS 1.3; 'y' is then honest, and h=
    covers the mechanisms alone."""
    out = sasl_client(unbound_server, '--tls', '13', '--features-only')
    assert out['mechanisms'].split(',') == ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']
    assert out['cbind'] == ''
    out = login(unbound_server, 'SCRAM-SHA-256', flag='y')
    assert out['result'] == 'success' and out['ssdp'] == 'ok'
    out = login(unbound_server, 'SCRAM-SHA-256-PLUS', cb='tls-exporter')
    assert out['result'] == 'failure:invalid-mechanism'


def _slixmpp_as_shipped(server):
    """slixmpp 1.8 with its own channel binding: p=tls-unique for -PLUS, 'y'
    for plain SCRAM.  Returns its login outcome and SASL failures."""
    jid, pw = server.new_user('slix')

    async def scenario():
        c = Client(server, jid, pw)
        c.connect((server.host, server.port))
        outcome = await c.outcome
        if outcome == 'session':
            await c.stop()
        return outcome, c.auth_failures
    return run(scenario())


def test_slixmpp_as_shipped_needs_channel_binding_off(server, unbound_server):
    """Documents the interop cost of RFC 5802 §6 (docs/configuration.md,
    channel_binding): such a client fails every attempt while -PLUS is
    offered, and logs in when it is not."""
    outcome, failures = _slixmpp_as_shipped(server)
    assert outcome != 'session' and failures and set(failures) == {'not-authorized'}
    outcome, failures = _slixmpp_as_shipped(unbound_server)
    assert outcome == 'session' and not failures
