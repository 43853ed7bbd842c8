"""SASL EXTERNAL with client certificates (XEP-0178 §2, RFC 6120 §6.3.4):
asked for, never required, when [tls] client_ca is set; offered only to a
client whose certificate verified; the account is the certificate's xmppAddr
(or a commonName that is a JID), chosen by the authzid when there are
several.  Certificates come from tests/tools/mkclientcert.sh, the client is
tests/tools/sasl_client."""
import pytest

from conftest import Server
from sasl_tool import client_cert, sasl_client


@pytest.fixture(scope='module')
def certs(tmp_path_factory):
    return tmp_path_factory.mktemp('client-certs')


@pytest.fixture(scope='module')
def server(tmp_path_factory, certs):
    """A server asking for client certificates signed by certs/ca.pem, with
    channel binding on (XEP-0474's list then holds -PLUS and EXTERNAL)."""
    client_cert(certs, 'alice', 'alice', 'alice@localhost')  # also makes ca.pem
    srv = Server(tmp_path_factory.mktemp('starling-external'), tls_port=True,
                 c2s_extra='channel_binding = true\n',
                 core_extra='\n[tls]\nclient_ca = %s\n' % (certs / 'ca.pem'))
    srv.start()
    srv.adduser('alice')
    srv.adduser('bob')
    srv.adduser('carol')
    yield srv
    srv.stop()
    srv.check()


def external(server, cert, *args, direct=False):
    return sasl_client(server, '--mech', 'EXTERNAL', '--cert', cert,
                       '--key', cert[:-len('.pem')] + '.key', *args, direct=direct)


@pytest.mark.parametrize('tls', ['12', '13'])
@pytest.mark.parametrize('direct', [False, True])
def test_certificate_logs_in(server, certs, tls, direct):
    out = external(server, str(certs / 'alice.pem'), '--tls', tls, direct=direct)
    assert 'EXTERNAL' in out['mechanisms'].split(',')
    assert out['result'] == 'success'


def test_authzid_equal_to_the_certificate_is_fine(server, certs):
    out = external(server, str(certs / 'alice.pem'), '--authzid', 'alice@localhost')
    assert out['result'] == 'success'


def test_authzid_of_another_account_is_invalid_authzid(server, certs):
    """RFC 6120 §6.3.8, XEP-0178 §2: only a name the certificate holds."""
    out = external(server, str(certs / 'alice.pem'), '--authzid', 'bob@localhost')
    assert out['result'] == 'failure:invalid-authzid'


def test_no_certificate_no_external(server):
    """Asked for, not required: without a certificate TLS and SCRAM work,
    EXTERNAL is neither offered nor accepted."""
    out = sasl_client(server, '--tls', '13', '--features-only')
    assert out['tls'] == 'TLSv1.3'
    assert 'EXTERNAL' not in out['mechanisms'].split(',')
    out = sasl_client(server, '--mech', 'EXTERNAL')
    assert out['result'] == 'failure:invalid-mechanism'


def test_unverified_certificate_no_external(server, certs):
    """A certificate no configured CA signed does not end the connection but
    earns nothing."""
    cert = client_cert(certs, 'self', 'alice', 'alice@localhost')
    out = external(server, cert)
    assert 'EXTERNAL' not in out['mechanisms'].split(',')
    assert out['result'] == 'failure:invalid-mechanism'


def test_several_jids_need_an_authzid(server, certs):
    """XEP-0178 §2 step 10: with several xmppAddrs the client names one."""
    cert = client_cert(certs, 'two', 'two', 'bob@localhost', 'carol@localhost')
    assert external(server, cert)['result'] == 'failure:invalid-authzid'
    assert external(server, cert, '--authzid', 'carol@localhost')['result'] == 'success'
    assert external(server, cert, '--authzid', 'alice@localhost')['result'] == \
        'failure:invalid-authzid'


def test_unknown_account_is_not_authorized(server, certs):
    cert = client_cert(certs, 'ghost', 'ghost', 'ghost@localhost')
    assert external(server, cert)['result'] == 'failure:not-authorized'


def test_jid_of_another_domain_is_not_authorized(server, certs):
    cert = client_cert(certs, 'other', 'other', 'alice@example.org')
    assert external(server, cert)['result'] == 'failure:not-authorized'


def test_common_name_maps_when_there_is_no_xmppaddr(server, certs):
    """XEP-0178 §2: without xmppAddr the server may map the certificate; a
    commonName that is a JID here is the one mapping we make."""
    cert = client_cert(certs, 'cn-bob', 'bob@localhost')
    assert external(server, cert)['result'] == 'success'
    cert = client_cert(certs, 'cn-plain', 'Bob Example')
    assert external(server, cert)['result'] == 'failure:not-authorized'


def test_ssdp_covers_external(server, certs):
    """XEP-0474: EXTERNAL is in the hashed list when it is offered."""
    out = external(server, str(certs / 'alice.pem'), '--mech', 'SCRAM-SHA-256-PLUS',
                   '--cb', 'tls-exporter', '--user', 'alice', '--password', 'secret')
    assert 'EXTERNAL' in out['mechanisms'].split(',')
    assert out['ssdp'] == 'ok' and out['result'] == 'success'


def test_default_server_asks_for_no_certificate(tmp_path_factory, certs):
    """Without client_ca no certificate is requested, so none is sent."""
    srv = Server(tmp_path_factory.mktemp('starling-no-ca'))
    srv.start()
    try:
        out = external(srv, str(certs / 'alice.pem'))
        assert 'EXTERNAL' not in out['mechanisms'].split(',')
        assert out['result'] == 'failure:invalid-mechanism'
    finally:
        srv.stop()
        srv.check()
