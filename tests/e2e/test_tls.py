"""TLS: a certificate per hosted domain chosen by SNI (RFC 6066 §3) on the
STARTTLS and the direct-TLS port, ALPN 'xmpp-client' (XEP-0368 §3), session
resumption with stateless tickets (RFC 8446 §4.6.1, RFC 5077) and the
certificates reloaded on SIGHUP without dropping connections.

Which certificate the server presented is told by comparing its DER bytes
with the files: the default certificate names every hosted domain, each
domain's own certificate only that domain."""
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import REPO, Server
from xmpp_raw import NS_TLS, RawStream, body_of, q

HOSTS = ('a.example', 'b.example')
WAIT = 30.0  # hang guard for what follows a SIGHUP, not a pass/fail timing


def make_pair(d, *domains):
    """d/cert.pem and d/key.pem naming domains (scripts/mkcert.sh)."""
    subprocess.run(['sh', str(REPO / 'scripts' / 'mkcert.sh'), str(d)] + list(domains),
            check=True, timeout=60, capture_output=True)
    return d / 'cert.pem', d / 'key.pem'


def der(path):
    return ssl.PEM_cert_to_DER_cert(path.read_text())


def domain_lines(base):
    """[tls] certificate.<domain> / key.<domain> for a.example and b.example,
    each pair made in base/<domain>/."""
    lines = ''
    for h in HOSTS:
        cert, key = make_pair(base / h, h)
        lines += 'certificate.%s = %s\nkey.%s = %s\n' % (h, cert, h, key)
    return lines


def start_server(tmp_path_factory, name, tls_extra):
    d = tmp_path_factory.mktemp(name)
    srv = Server(d, tls_port=True, hosts=HOSTS, tls_extra=tls_extra(d))
    srv.start()
    return srv


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory, 'tls', domain_lines)
    yield srv
    srv.stop()
    srv.check()


def client_ctx(alpn=None, max_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # the test checks which certificate, not that it verifies
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def tls_connect(server, direct, sni, ctx=None, session=None, stream_to=None):
    """A TLS socket to the direct-TLS port, or to the STARTTLS port after
    <starttls/> on a stream to stream_to (default the primary domain).  sni
    None sends no server_name.  The server's stream header is read over TLS
    so that TLS 1.3 tickets, which follow the handshake, have arrived."""
    ctx = ctx or client_ctx()
    if direct:
        sock = socket.create_connection((server.host, server.tls_port), timeout=15)
    else:
        raw = RawStream(server.host, server.port, stream_to or server.domain)
        raw.open()
        raw.send("<starttls xmlns='%s'/>" % NS_TLS)
        assert raw.next_element().tag == q(NS_TLS, 'proceed')
        sock = raw.sock
    tls = ctx.wrap_socket(sock, server_hostname=sni, session=session)
    tls.sendall(("<?xml version='1.0'?><stream:stream to='%s' version='1.0' "
                 "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
                 % (stream_to or server.domain)).encode())
    got = b''
    while b'</stream:features>' not in got:
        chunk = tls.recv(4096)
        assert chunk, 'connection closed before the stream features: %r' % got
        got += chunk
    return tls


def presented(server, direct, sni, **kw):
    s = tls_connect(server, direct, sni, **kw)
    try:
        return s.getpeercert(binary_form=True)
    finally:
        s.close()


PORTS = [pytest.param(False, id='starttls'), pytest.param(True, id='direct-tls')]


@pytest.mark.parametrize('direct', PORTS)
def test_sni_picks_each_domains_certificate(server, direct):
    for h in HOSTS:
        assert presented(server, direct, h) == der(server.dir / h / 'cert.pem'), h
    # The name's case does not matter (RFC 6066 §3: ASCII host names).
    assert presented(server, direct, 'B.Example') == der(server.dir / 'b.example' / 'cert.pem')


@pytest.mark.parametrize('direct', PORTS)
def test_unknown_or_no_sni_gets_the_default_certificate(server, direct):
    default = der(server.cert)
    assert presented(server, direct, 'localhost') == default  # hosted, no pair of its own
    assert presented(server, direct, 'unknown.example') == default
    assert presented(server, direct, None) == default


def test_alpn_xmpp_client_on_the_direct_tls_port(server):
    s = tls_connect(server, True, HOSTS[0], ctx=client_ctx(alpn=['h2', 'xmpp-client']))
    try:
        assert s.selected_alpn_protocol() == 'xmpp-client'
    finally:
        s.close()
    s = tls_connect(server, True, HOSTS[0])  # ALPN is a SHOULD (XEP-0368 §3)
    try:
        assert s.selected_alpn_protocol() is None
    finally:
        s.close()


def test_alpn_for_another_protocol_is_refused(server):
    # RFC 7301 §3.2: no_application_protocol, not an XMPP stream to an
    # HTTP client.
    with pytest.raises(ssl.SSLError, match='no application protocol'):
        tls_connect(server, True, HOSTS[0], ctx=client_ctx(alpn=['http/1.1']))


def resumed(server, direct, max_version=None, sni=HOSTS[0]):
    """Connect, keep the session, reconnect with it: session_reused."""
    ctx = client_ctx(max_version=max_version)
    first = tls_connect(server, direct, sni, ctx=ctx)
    try:
        assert not first.session_reused
        session = first.session
    finally:
        first.close()
    second = tls_connect(server, direct, sni, ctx=ctx, session=session)
    try:
        return second.session_reused
    finally:
        second.close()


@pytest.mark.parametrize('direct', PORTS)
@pytest.mark.parametrize('version', [pytest.param(None, id='tls1.3'),
                                     pytest.param(ssl.TLSVersion.TLSv1_2, id='tls1.2')])
def test_session_ticket_resumes(server, direct, version):
    assert resumed(server, direct, version) is True
    assert resumed(server, direct, version, sni=None) is True  # the default context's


@pytest.mark.parametrize('direct', PORTS)
def test_every_resumption_brings_a_new_ticket(server, direct):
    # RFC 8446 §C.4: a TLS 1.3 client offers a ticket only once (OpenSSL's
    # with a session cache, BoringSSL's on Android), so a connection that
    # resumed must hand out the ticket for the next one.
    ctx = client_ctx()
    session, ids = None, []
    for i in range(4):
        s = tls_connect(server, direct, HOSTS[0], ctx=ctx, session=session)
        try:
            assert s.session_reused is (i > 0), i
            session = s.session
            assert session.has_ticket, i
            ids.append(session.id)
        finally:
            s.close()
    assert len(set(ids)) == 4, 'a resumed connection got no ticket of its own'


def test_no_resumption_with_session_tickets_off(tmp_path_factory):
    srv = start_server(tmp_path_factory, 'notickets',
                       lambda d: domain_lines(d) + 'session_tickets = false\n')
    try:
        for direct in (False, True):
            for version in (None, ssl.TLSVersion.TLSv1_2):
                assert resumed(srv, direct, version) is False
    finally:
        srv.stop()
        srv.check()


# -- reload ------------------------------------------------------------------


def replace_pair(d, name, *domains):
    """Write a new pair for domains over d/cert.pem and d/key.pem, as a
    renewal would; returns the new certificate's DER."""
    cert, key = make_pair(d / name, *domains)
    shutil.copyfile(key, d / 'key.pem')
    shutil.copyfile(cert, d / 'cert.pem')
    return der(d / 'cert.pem')


def wait_for(what, cond):
    deadline = time.monotonic() + WAIT
    while not cond():
        assert time.monotonic() < deadline, 'not seen within %.0f s: %s' % (WAIT, what)
        time.sleep(0.05)


def reloads(srv):
    return srv.log_text().count('SIGHUP: certificates')


def sighup(srv):
    """SIGHUP the cm and wait until it has logged the outcome."""
    before = reloads(srv)
    srv.cm.send_signal(signal.SIGHUP)
    wait_for('the reload logged', lambda: reloads(srv) > before)


def test_sighup_reloads_certificates_and_keeps_connections(tmp_path_factory):
    srv = start_server(tmp_path_factory, 'reload', domain_lines)
    alice = None
    try:
        jid, pw = srv.new_user('alice')
        alice = srv.raw_login(jid, pw, resource='kept')
        old_default = der(srv.cert)
        new_a = replace_pair(srv.dir / 'a.example', 'a2', 'a.example')
        new_default = replace_pair(srv.dir, 'default2', 'localhost', *HOSTS)
        assert new_a != der(srv.dir / 'b.example' / 'cert.pem') and new_default != old_default
        sighup(srv)
        assert 'certificates reloaded' in srv.log_text()
        for direct in (False, True):
            assert presented(srv, direct, 'a.example') == new_a
            assert presented(srv, direct, None) == new_default
            assert presented(srv, direct, 'b.example') == der(srv.dir / 'b.example' / 'cert.pem')
        # The connection made before the reload still chats, with the old
        # certificate it was opened with.
        assert alice.sock.getpeercert(binary_form=True) == old_default
        alice.message(alice.jid, 'after the reload')
        assert body_of(alice.next_message()) == 'after the reload'
        # A new login works under the new certificate (verified against it).
        bob_jid, bob_pw = srv.new_user('bob')
        bob = srv.raw_login(bob_jid, bob_pw)
        try:
            bob.message(alice.jid, 'hello across the reload')
            assert body_of(alice.next_message()) == 'hello across the reload'
        finally:
            bob.close()
    finally:
        if alice:
            alice.close()
        srv.stop()
        srv.check()


def test_sighup_with_a_broken_file_keeps_the_old_certificates(tmp_path_factory):
    srv = start_server(tmp_path_factory, 'badreload', domain_lines)
    try:
        b_dir = srv.dir / 'b.example'
        old_b = der(b_dir / 'cert.pem')
        old_default = der(srv.cert)
        # A renewal in progress: the default pair is new, b.example's
        # certificate file is cut short.  Nothing may change.
        replace_pair(srv.dir, 'default2', 'localhost', *HOSTS)
        (b_dir / 'cert.pem').write_text('-----BEGIN CERTIFICATE-----\nnot base64\n')
        sighup(srv)
        log = srv.log_text()
        assert 'certificates not reloaded' in log
        bad = [l for l in log.splitlines() if 'certificates not reloaded' in l]
        assert str(b_dir / 'cert.pem') in bad[-1], bad
        for direct in (False, True):
            assert presented(srv, direct, 'b.example') == old_b
            assert presented(srv, direct, None) == old_default
        # Fixed files load at the next SIGHUP.
        new_b = replace_pair(b_dir, 'b2', 'b.example')
        sighup(srv)
        assert presented(srv, True, 'b.example') == new_b
    finally:
        srv.stop()
        srv.check()


def test_check_config_reads_each_domains_files(server, tmp_path):
    """starlingctl check-config opens the per-domain files too, and names the
    key of a missing one."""
    def check(text):
        path = tmp_path / 'c.conf'
        path.write_text(text)
        r = subprocess.run([str(server.bin / 'starlingctl'), 'check-config', str(path)],
                           capture_output=True, text=True, timeout=30, cwd=str(server.dir))
        return r.returncode, r.stdout + r.stderr

    good = server.conf.read_text()
    assert check(good)[0] == 0
    missing = str(tmp_path / 'missing.pem')
    rc, out = check(good.replace(str(server.dir / 'b.example' / 'key.pem'), missing))
    assert rc == 1 and 'tls.key.b.example %s' % missing in out, out
