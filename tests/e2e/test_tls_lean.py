"""TLS 1.3 records without OpenSSL after the handshake ([tls] lean_records,
tls/lean.h): the connection is counted by starling_cm_tls_lean_connections
while open, a client's KeyUpdate (RFC 8446 §4.6.3) does not disturb it, a
record that does not verify ends it as a TLS error, TLS 1.2 stays on
OpenSSL, and lean_records = false keeps every connection there.  The rest
(slixmpp over both ports, SCRAM-PLUS, EXTERNAL, resumption) is the rest of
the suite, which runs with the default (on)."""
import ssl
import time

import pytest

from conftest import Server, connect, expect, run
from sasl_tool import sasl_client
from xmpp_raw import RawStream

SERVER_OPTIONS = {'tls_port': True}
WAIT = 15.0  # hang guard for a gauge that follows a close, not a pass/fail timing


def lean(server):
    return server.cm_metric('starling_cm_tls_lean_connections')


def settle(server, want):
    """The gauge once it reads want (connections close asynchronously)."""
    deadline = time.monotonic() + WAIT
    while lean(server) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return lean(server)


def open_stream(server, direct, max_version=None):
    """A TLS stream with its features read (the takeover has happened)."""
    s = RawStream(server.host, server.tls_port if direct else server.port, server.domain,
                  cafile=str(server.cert), direct_tls=False)
    if direct or max_version:
        ctx = ssl.create_default_context(cafile=str(server.cert))
        if max_version:
            ctx.maximum_version = max_version
        if not direct:
            s.open()
            s.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            s.next_element()
        s.sock = ctx.wrap_socket(s.sock, server_hostname=server.domain)
        s.tls = True
        s.open()
    else:
        s.open()
        s.starttls()
    return s


@pytest.mark.parametrize('direct', [False, True], ids=['starttls', 'direct'])
def test_tls13_connection_is_lean(server, direct):
    assert settle(server, 0) == 0
    s = open_stream(server, direct)
    try:
        assert s.sock.version() == 'TLSv1.3'
        assert lean(server) == 1
        assert 'records without OpenSSL' in server.log_text()
    finally:
        s.close()
    assert settle(server, 0) == 0


def test_tls12_stays_on_openssl(server):
    assert settle(server, 0) == 0
    s = open_stream(server, False, max_version=ssl.TLSVersion.TLSv1_2)
    try:
        assert s.sock.version() == 'TLSv1.2'
        assert lean(server) == 0
    finally:
        s.close()


def test_chat_over_lean_records(server):
    """Stanzas larger than one record both ways, split over reads."""
    a, pa = server.new_user('la')
    b, pb = server.new_user('lb')
    big = 'x' * 40000

    async def scenario():
        ca = await connect(server, a, pa, presence=True)
        cb = await connect(server, b, pb, presence=True)
        assert lean(server) == 2
        ca.send_message(mto=b, mbody=big)
        msg = await expect(cb.messages, lambda m: m['body'], 'the big message')
        assert msg['body'] == big
        cb.send_message(mto=a, mbody='back')
        msg = await expect(ca.messages, lambda m: m['body'], 'the answer')
        assert msg['body'] == 'back'
        await ca.stop()
        await cb.stop()
    assert settle(server, 0) == 0
    run(scenario())


@pytest.mark.parametrize('direct', [False, True], ids=['starttls', 'direct'])
def test_key_update_then_scram_plus(server, direct):
    """The SASL exchange after two KeyUpdates (one asking for ours) runs
    under the new keys.  (SCRAM-PLUS over lean records: test_sasl_plus.py.)"""
    jid, pw = server.new_user('ku')
    out = sasl_client(server, '--tls', '13', '--key-update', '--mech', 'SCRAM-SHA-256',
                      '--user', jid.split('@')[0], '--password', pw, direct=direct)
    assert out['key_update'] == 'sent'
    assert out['result'] == 'success' and out['verify'] == 'ok'


def test_corrupt_record_is_a_tls_error(server):
    before = server.cm_metric('starling_cm_tls_errors_total')
    out = sasl_client(server, '--tls', '13', '--corrupt')
    assert out['corrupt'] == 'closed'
    assert server.cm_metric('starling_cm_tls_errors_total') == before + 1
    assert 'TLS error: bad record' in server.log_text()


@pytest.fixture(scope='module')
def server_off(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp('lean-off'), tls_port=True,
                 tls_extra='lean_records = false\n')
    srv.start()
    yield srv
    srv.stop()
    srv.check()


@pytest.mark.parametrize('direct', [False, True], ids=['starttls', 'direct'])
def test_lean_records_off_keeps_openssl(server_off, direct):
    s = open_stream(server_off, direct)
    try:
        assert s.sock.version() == 'TLSv1.3'
        assert lean(server_off) == 0
    finally:
        s.close()
    jid, pw = server_off.new_user('off')
    out = sasl_client(server_off, '--tls', '13', '--key-update', '--mech', 'SCRAM-SHA-256',
                      '--user', jid.split('@')[0], '--password', pw, direct=direct)
    assert out['result'] == 'success'
    assert 'records without OpenSSL' not in server_off.log_text()
