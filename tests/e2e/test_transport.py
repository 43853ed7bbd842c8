"""Transport: direct TLS (XEP-0368), the login timeout, the close handshake."""
import time

from xmpp_raw import NS_BIND, NS_SASL, NS_STREAMS_ERR, NS_TLS, RawStream, body_of, q, stream_error

SERVER_OPTIONS = {'tls_port': True, 'auth_timeout': 2}


def test_direct_tls_login_and_chat(server):
    jid, pw = server.new_user('direct')
    s = RawStream(server.host, server.tls_port, server.domain, cafile=str(server.cert),
                  direct_tls=True)
    try:
        feats = s.open()
        # TLS is already up: no <starttls/>, and PLAIN is on offer (RFC 6120 §13.8.3).
        assert feats.find(q(NS_TLS, 'starttls')) is None
        mechs = [m.text for m in feats.iter(q(NS_SASL, 'mechanism'))]
        assert 'PLAIN' in mechs and 'SCRAM-SHA-256' in mechs
        el = s.auth_plain(jid.split('@')[0], pw)
        assert el.tag == q(NS_SASL, 'success')
        assert s.open().find(q(NS_BIND, 'bind')) is not None
        full = s.bind('direct')
        s.message(full, 'over direct TLS')
        msg = s.next_message()
        assert body_of(msg) == 'over direct TLS'
        assert msg.get('from') == full
    finally:
        s.close()


def test_login_timeout_closes_idle_unauthenticated(server):
    s = server.raw()
    try:
        s.open()
        start = time.monotonic()
        els = s.read_to_close()
        assert stream_error(els) == (NS_STREAMS_ERR, 'connection-timeout')
        assert s.root_closed and s.eof
        assert time.monotonic() - start < 30  # closed by the server, not by our timeout
    finally:
        s.close()


def test_bound_session_outlives_login_timeout(server):
    jid, pw = server.new_user('stay')
    s = server.raw()
    try:
        full = s.login(jid.split('@')[0], pw, resource='stay')
        time.sleep(3.5)  # past auth_timeout = 2 s and a timer tick
        s.message(full, 'still here')
        assert body_of(s.next_message()) == 'still here'
    finally:
        s.close()


def test_close_handshake(server):
    jid, pw = server.new_user('bye')
    s = server.raw()
    try:
        s.login(jid.split('@')[0], pw)
        s.send('</stream:stream>')
        s.read_to_close()
        # RFC 6120 §4.4: the server answers with its own close, then ends TCP.
        assert s.root_closed and s.eof
        assert not s.stream_errors
    finally:
        s.close()
