"""SASL DIGEST-MD5 (RFC 2831; historic per RFC 6331), offered only with
[c2s] digest_md5 = true.  slixmpp's own DIGEST-MD5 logs in as a client
would; the protocol details (challenge directives, rspauth, every check of
the digest-response) are driven by a hashlib client written here, which
can send what slixmpp never would."""
import base64
import hashlib
import re
import subprocess

import pytest

from conftest import Server, connect, run
from xmpp_raw import NS_SASL, q

# auth_failures_per_account is low so that the counting test is short; the
# per-address limit is off because this module fails logins on purpose.
SERVER_OPTIONS = {'c2s_extra': 'digest_md5 = true\nauth_failures_per_account = 3\n'
                               'auth_failures_per_address = 0\n'}
DIRECTIVE = re.compile(r'\s*([A-Za-z0-9-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)')


def parse(text):
    out = {}
    for m in DIRECTIVE.finditer(text):
        v = m.group(2)
        if v.startswith('"'):
            v = re.sub(r'\\(.)', r'\1', v[1:-1])
        out[m.group(1)] = v
    return out


def md5(b):
    return hashlib.md5(b).digest()


def kd_response(user, realm, password, nonce, cnonce, nc, uri, authzid=None, a2pre=b'AUTHENTICATE'):
    """RFC 2831 §2.1.2.1 response-value (a2pre 'AUTHENTICATE') or §2.1.3
    rspauth (a2pre '')."""
    a1 = md5(('%s:%s:%s' % (user, realm, password)).encode()) + \
        (':%s:%s' % (nonce, cnonce)).encode()
    if authzid:
        a1 += b':' + authzid.encode()
    ha1 = hashlib.md5(a1).hexdigest()
    ha2 = hashlib.md5(a2pre + b':' + uri.encode()).hexdigest()
    return hashlib.md5(('%s:%s:%s:%s:auth:%s' % (ha1, nonce, nc, cnonce, ha2)).encode()).hexdigest()


def mechanisms(feats):
    return [m.text for m in feats.iter(q(NS_SASL, 'mechanism'))]


def b64(el):
    return base64.b64decode(el.text or '').decode()


class Digest:
    """One DIGEST-MD5 exchange on a raw stream, with knobs to break it."""

    def __init__(self, server, user, password):
        self.server, self.user, self.password = server, user, password
        self.s = server.raw()
        self.s.open()
        self.feats = self.s.starttls()

    def challenge(self):
        self.s.send("<auth xmlns='%s' mechanism='DIGEST-MD5'/>" % NS_SASL)
        el = self.s.next_element()
        assert el.tag == q(NS_SASL, 'challenge'), el.tag
        self.text = b64(el)
        return parse(self.text)

    def respond(self, ch, realm=None, nonce=None, uri=None, nc='00000001', authzid=None,
                proof_password=None, user=None, raw=None):
        realm = ch['realm'] if realm is None else realm
        nonce = ch['nonce'] if nonce is None else nonce
        uri = uri or 'xmpp/' + self.server.domain
        user = user or self.user
        self.cnonce, self.nc, self.uri, self.authzid = 'cn0nce-%s' % user, nc, uri, authzid
        # The hash is over the realm the account's was made with; a realm
        # sent otherwise must fail on its own (RFC 2831 §2.1.2).
        resp = kd_response(user, ch['realm'], proof_password or self.password, nonce,
                           self.cnonce, nc, uri, authzid)
        self.nonce, self.realm = nonce, ch['realm']
        msg = raw or ('username="%s",realm="%s",nonce="%s",cnonce="%s",nc=%s,qop=auth,'
                      'digest-uri="%s",response=%s,charset=utf-8%s'
                      % (user, realm, nonce, self.cnonce, nc, uri, resp,
                         ',authzid="%s"' % authzid if authzid else ''))
        self.s.send("<response xmlns='%s'>%s</response>" % (NS_SASL,
                    base64.b64encode(msg.encode()).decode()))
        return self.s.next_element()

    def close(self):
        self.s.close()


def failure(el):
    assert el.tag == q(NS_SASL, 'failure'), 'expected <failure/>, got %s' % el.tag
    return [c.tag.split('}')[1] for c in el if not c.tag.endswith('}text')][0]


def full_login(server, user, password, **kw):
    """The whole exchange; returns 'success' or the failure condition."""
    d = Digest(server, user, password)
    try:
        el = d.respond(d.challenge(), **kw)
        if el.tag != q(NS_SASL, 'challenge'):
            return failure(el)
        assert b64(el) == 'rspauth=' + kd_response(user, d.realm, password, d.nonce, d.cnonce,
                                                   d.nc, d.uri, d.authzid, a2pre=b'')
        d.s.send("<response xmlns='%s'/>" % NS_SASL)
        el = d.s.next_element()
        return 'success' if el.tag == q(NS_SASL, 'success') else failure(el)
    finally:
        d.close()


def ctl_with(server, digest, *args):
    """starlingctl on this server's database with [c2s] digest_md5 set to
    digest: as an operator who had not turned it on yet."""
    conf = server.dir / ('starling-digest-%s.conf' % digest)
    conf.write_text(re.sub(r'digest_md5 = \w+', 'digest_md5 = %s' % digest,
                           server.conf.read_text()))
    r = subprocess.run([str(server.bin / 'starlingctl'), '-c', str(conf)] + list(args),
                       capture_output=True, text=True, timeout=60, cwd=str(server.dir))
    assert r.returncode == 0, r.stdout + r.stderr


def test_slixmpp_logs_in_with_digest_md5(server):
    jid, pw = server.new_user('dm')

    async def scenario():
        c = await connect(server, jid, pw, mech='DIGEST-MD5')
        assert c.mech_used == 'DIGEST-MD5'
        await c.stop()
    run(scenario())


def test_slixmpp_wrong_password_is_not_authorized(server):
    jid, _ = server.new_user('dmwrong')

    async def scenario():
        c = await connect(server, jid, 'not-the-password', mech='DIGEST-MD5',
                          expect='auth-failed')
        assert c.auth_failures == ['not-authorized']
    run(scenario())


def test_challenge_and_rspauth(server):
    """RFC 2831 §2.1.1 challenge, §2.1.3 rspauth in a <challenge/>, then
    <success/> for the empty response, and the session works."""
    jid, pw = server.new_user('dmraw')
    user = jid.split('@')[0]
    d = Digest(server, user, pw)
    assert 'DIGEST-MD5' in mechanisms(d.feats)
    ch = d.challenge()
    assert ch['realm'] == server.domain and ch['qop'] == 'auth'
    assert ch['algorithm'] == 'md5-sess' and ch['charset'] == 'utf-8'
    assert re.fullmatch(r'[0-9a-f]{32}', ch['nonce'])
    d.close()
    assert Digest(server, user, pw).challenge()['nonce'] != ch['nonce']
    assert full_login(server, user, pw) == 'success'
    assert full_login(server, user, pw, authzid=jid) == 'success'


@pytest.mark.parametrize('field,value', [
    ('realm', 'other.example'),
    ('nonce', '0123456789abcdef0123456789abcdef'),
    ('uri', 'imap/localhost'),
    ('nc', '00000002'),
    ('proof_password', 'wrong'),
])
def test_a_wrong_directive_is_not_authorized(server, field, value):
    """Each directive our challenge fixed must come back unchanged (a
    replayed or relayed response), and the response must prove the password."""
    jid, pw = server.new_user('dmbad')
    if field == 'uri':
        value = 'imap/' + server.domain
    assert full_login(server, jid.split('@')[0], pw, **{field: value}) == 'not-authorized'
    assert full_login(server, jid.split('@')[0], pw) == 'success'


def test_malformed_and_authzid(server):
    jid, pw = server.new_user('dmmal')
    user = jid.split('@')[0]
    d = Digest(server, user, pw)
    ch = d.challenge()
    dup = 'username="%s",username="%s",nonce="%s",cnonce="x",nc=00000001,digest-uri="xmpp/%s",' \
          'response=00000000000000000000000000000000' % (user, user, ch['nonce'], server.domain)
    assert failure(d.respond(ch, raw=dup)) == 'malformed-request'
    d.close()
    # RFC 6120 §6.3.8: only the account itself.
    other, _ = server.new_user('dmother')
    assert full_login(server, user, pw, authzid=other) == 'invalid-authzid'
    # RFC 2831 §2.1.3: after rspauth the client has nothing more to say.
    d = Digest(server, user, pw)
    el = d.respond(d.challenge())
    assert b64(el).startswith('rspauth=')
    d.s.send("<response xmlns='%s'>%s</response>" % (NS_SASL, base64.b64encode(b'x').decode()))
    assert failure(d.s.next_element()) == 'malformed-request'
    d.close()
    # An initial response is not part of §2.1.
    d = Digest(server, user, pw)
    d.s.send("<auth xmlns='%s' mechanism='DIGEST-MD5'>%s</auth>"
             % (NS_SASL, base64.b64encode(b'username="x"').decode()))
    assert failure(d.s.next_element()) == 'malformed-request'
    d.close()


def test_unknown_user_fails_like_a_wrong_password(server):
    assert full_login(server, 'nobody-here', 'secret') == 'not-authorized'


def test_failures_count_against_the_account(server):
    """cm/acctlimit.c: three wrong DIGEST-MD5 responses lock the account for
    the window, so even the right password is refused."""
    jid, pw = server.new_user('dmlock')
    user = jid.split('@')[0]
    for _ in range(3):
        assert full_login(server, user, pw, proof_password='guess') == 'not-authorized'
    assert full_login(server, user, pw) == 'temporary-auth-failure'


def test_account_from_before_needs_a_new_password(server):
    """An account whose password was set while digest_md5 was off has no
    DIGEST-MD5 hash: DIGEST-MD5 fails as a wrong password would, SCRAM still
    works, and setting the password with digest_md5 on enables it.  A
    password set with it off again drops the old hash."""
    name = 'dmold'
    jid = '%s@%s' % (name, server.domain)
    ctl_with(server, 'false', 'adduser', jid, 'old-secret')
    assert full_login(server, name, 'old-secret') == 'not-authorized'

    async def scram():
        c = await connect(server, jid, 'old-secret', mech='SCRAM-SHA-256')
        await c.stop()
    run(scram())
    server.ctl('passwd', jid, 'new-secret')
    assert full_login(server, name, 'new-secret') == 'success'
    ctl_with(server, 'false', 'passwd', jid, 'newer-secret')
    assert full_login(server, name, 'newer-secret') == 'not-authorized'
    assert full_login(server, name, 'new-secret') == 'not-authorized'


def test_provision_stores_the_hash(server):
    server.ctl('provision', 'dmprov%d', '2', 'prov-secret', '--contacts', '0')
    assert full_login(server, 'dmprov1', 'prov-secret') == 'success'


@pytest.fixture(scope='module')
def default_server(tmp_path_factory):
    """The default configuration: [c2s] digest_md5 is off."""
    srv = Server(tmp_path_factory.mktemp('starling-nodigest'))
    srv.start()
    yield srv
    srv.stop()
    srv.check()


def test_not_offered_by_default(default_server):
    jid, pw = default_server.new_user('dmoff')
    d = Digest(default_server, jid.split('@')[0], pw)
    assert 'DIGEST-MD5' not in mechanisms(d.feats)
    assert 'SCRAM-SHA-256' in mechanisms(d.feats)
    d.s.send("<auth xmlns='%s' mechanism='DIGEST-MD5'/>" % NS_SASL)
    assert failure(d.s.next_element()) == 'invalid-mechanism'
    d.close()
