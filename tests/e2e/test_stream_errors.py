"""Stream errors (RFC 6120 §4.9) provoked with raw bytes.  Each test checks
the exact condition element in the xmpp-streams namespace, that the server
then closes the stream (</stream:stream>) and the TCP connection (§4.9.1.1),
and that two sessions logged in before the attack still talk afterwards."""

import pytest

from xmpp_raw import body_of, expect_stream_error, stream_header

pytestmark = pytest.mark.usefixtures('witness')

RESTRICTED = {
    # RFC 6120 §11.1: comments, processing instructions, internal subsets
    # (DTDs) and entity references other than the five predefined ones.
    'comment': '<!-- hello -->',
    'pi': "<?evil-target data='1'?>",
    'entity': "<message type='chat' to='nobody@localhost'><body>&foo;</body></message>",
}
DOCTYPE = "<!DOCTYPE stream:stream [<!ENTITY foo 'bar'>]>"


class Witness:
    """Two raw sessions established before an attack; check() proves the
    server still routes between them afterwards."""

    def __init__(self, server):
        (aj, apw), (bj, bpw) = server.new_user('wa'), server.new_user('wb')
        self.a = server.raw_login(aj, apw, resource='w')
        self.b = server.raw_login(bj, bpw, resource='w')
        self.a.presence()
        self.b.presence()
        self.n = 0

    def check(self):
        for src, dst in ((self.a, self.b), (self.b, self.a)):
            self.n += 1
            body = 'still alive %d' % self.n
            src.message(dst.jid, body)
            m = dst.next_message()
            assert m.get('from') == src.jid
            assert body_of(m) == body

    def close(self):
        self.a.close()
        self.b.close()


@pytest.fixture
def witness(server):
    w = Witness(server)
    yield w
    try:
        w.check()
    finally:
        w.close()


def attacker(server, phase):
    """A raw stream in the given phase: 'plain' (stream open, no TLS) or
    'bound' (TLS + SASL + resource bound)."""
    s = server.raw()
    if phase == 'plain':
        s.open()
    else:
        jid, pw = server.new_user('mallory')
        s.login(jid.split('@')[0], pw, resource='m')
    return s


def test_host_unknown(server):
    s = server.raw()
    try:
        s.send(stream_header('no-such-host.example'))
        expect_stream_error(s, 'host-unknown')  # RFC 6120 §4.9.3.6
    finally:
        s.close()


@pytest.mark.parametrize('which', ['stream', 'content'])
def test_invalid_namespace(server, which):
    s = server.raw()
    try:
        if which == 'stream':
            s.send(stream_header(server.domain, stream_ns='http://example.com/not-streams'))
        else:
            s.send(stream_header(server.domain, ns='jabber:not-client'))
        expect_stream_error(s, 'invalid-namespace')  # RFC 6120 §4.9.3.10
    finally:
        s.close()


@pytest.mark.parametrize('phase', ['plain', 'bound'])
def test_not_well_formed(server, phase):
    s = attacker(server, phase)
    try:
        s.send('<message><body></message>')
        expect_stream_error(s, 'not-well-formed')  # RFC 6120 §4.9.3.13
    finally:
        s.close()


@pytest.mark.parametrize('phase', ['plain', 'bound'])
@pytest.mark.parametrize('what', sorted(RESTRICTED))
def test_restricted_xml(server, what, phase):
    s = attacker(server, phase)
    try:
        s.send(RESTRICTED[what])
        expect_stream_error(s, 'restricted-xml')  # RFC 6120 §4.9.3.18
    finally:
        s.close()


@pytest.mark.parametrize('phase', ['initial', 'after-sasl'])
def test_doctype_restricted(server, phase):
    """A DTD can only appear before the root element, so it goes in front of
    the first stream header or of the one that restarts the stream after SASL."""
    s = server.raw()
    try:
        if phase == 'after-sasl':
            jid, pw = server.new_user('mallory')
            s.authenticate(jid.split('@')[0], pw)
            s._new_parser()
        s.send(stream_header(server.domain, doctype=DOCTYPE))
        expect_stream_error(s, 'restricted-xml')
    finally:
        s.close()


def test_oversized_stanza(server):
    s = attacker(server, 'bound')
    try:
        body = 'a' * (server.max_stanza_size + 1024)
        try:
            s.send("<message type='chat' to='%s'><body>%s</body></message>" % (s.jid, body))
        except OSError:
            pass  # the server may close while we are still writing; its answer is read below
        expect_stream_error(s, 'policy-violation')  # RFC 6120 §4.9.3.14, §13.12
    finally:
        s.close()
