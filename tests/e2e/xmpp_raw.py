"""A small blocking raw-socket XMPP client for tests that need to send bytes no
real client would send (stream errors, forged attributes, bare SASL/bind).

The server's output is parsed with ElementTree's pull parser so every
assertion is made on parsed elements, never on substrings.  One parser per
XML stream: RFC 6120 §5.4.3.3 and §6.4.6 restart the stream after STARTTLS and
after SASL success, which starts a new XML document."""
import base64
import itertools
import socket
import ssl
import xml.etree.ElementTree as ET

NS_STREAM = 'http://etherx.jabber.org/streams'
NS_CLIENT = 'jabber:client'
NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls'
NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'
NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind'
NS_STREAMS_ERR = 'urn:ietf:params:xml:ns:xmpp-streams'
NS_STANZA_ERR = 'urn:ietf:params:xml:ns:xmpp-stanzas'
NS_ROSTER = 'jabber:iq:roster'

_ids = itertools.count(1)


def q(ns, local):
    """ElementTree's {namespace}local name."""
    return '{%s}%s' % (ns, local)


def new_id(prefix='raw'):
    return '%s%d' % (prefix, next(_ids))


def stream_header(to, ns=NS_CLIENT, stream_ns=NS_STREAM, doctype=''):
    """The XML declaration, an optional DOCTYPE (hostile: RFC 6120 §11.1),
    and the opening <stream:stream> tag."""
    return ("<?xml version='1.0'?>%s<stream:stream to='%s' xmlns='%s' xmlns:stream='%s' "
            "version='1.0'>" % (doctype, to, ns, stream_ns))


class StreamClosed(Exception):
    pass


class RawStream:
    """One TCP connection.  Top-level children of the server's stream are
    queued in self.pending; self.root is the server's stream header element,
    self.root_closed says whether </stream:stream> arrived and self.eof whether
    the TCP connection was closed by the server."""

    def __init__(self, host, port, domain, cafile=None, timeout=15.0, direct_tls=False):
        self.domain = domain
        self.cafile = cafile
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.tls = False
        if direct_tls:  # XEP-0368: TLS from the first byte
            self._wrap_tls()
        self.jid = None
        self.eof = False
        self.received = b''  # the last bytes from the server, for failure messages
        self._new_parser()

    # -- plumbing -----------------------------------------------------------

    def _new_parser(self):
        self.parser = ET.XMLPullParser(events=('start', 'end'))
        self.depth = 0
        self.root = None
        self.root_closed = False
        self.pending = []
        self.stream_errors = []  # <stream:error/> elements, kept even if skipped

    def send(self, data):
        if isinstance(data, str):
            data = data.encode('utf-8')
        self.sock.sendall(data)

    def _recv_some(self):
        """Feed the next chunk of server bytes to the parser.  Returns False on
        EOF.  An unclean TLS close (no close_notify) also counts as EOF: the
        server may drop the TCP connection right after </stream:stream>."""
        try:
            data = self.sock.recv(65536)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError, ConnectionResetError):
            data = b''
        if not data:
            self.eof = True
            return False
        self.received = (self.received + data)[-1024:]
        self.parser.feed(data)
        for event, el in self.parser.read_events():
            if event == 'start':
                if self.depth == 0:
                    self.root = el
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.pending.append(el)
                    self.root.remove(el)
                    if el.tag == q(NS_STREAM, 'error'):
                        self.stream_errors.append(el)
                elif self.depth == 0:
                    self.root_closed = True
        return True

    def next_element(self, match=None):
        """The next top-level element (optionally the next one for which
        match(el) is true, discarding others).  Raises StreamClosed if the
        stream or connection ends first, socket.timeout if nothing arrives."""
        while True:
            while self.pending:
                el = self.pending.pop(0)
                if match is None or match(el):
                    return el
            if self.root_closed or self.eof:
                raise StreamClosed('stream closed while waiting (root_closed=%s eof=%s)'
                    % (self.root_closed, self.eof))
            self._recv_some()

    def wait_root(self):
        while self.root is None:
            if not self._recv_some():
                raise StreamClosed('connection closed before the stream header')
        return self.root

    def read_to_close(self):
        """Read until the server closes TCP; return every top-level element
        not consumed yet plus every stream error seen on this stream.  The
        caller asserts on root_closed and eof."""
        try:
            while self._recv_some():
                pass
        except ET.ParseError as e:
            raise AssertionError('server sent malformed XML (%s): %r' % (e, self.received))
        out, self.pending = self.pending, []
        return self.stream_errors + [el for el in out if el not in self.stream_errors]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- stream negotiation (RFC 6120 §4, §5, §6, §7) ------------------------

    def open(self, to=None, doctype=''):
        """Send a stream header and return the <stream:features/> element."""
        self._new_parser()
        self.send(stream_header(to or self.domain, doctype=doctype))
        self.wait_root()
        return self.next_element()

    def starttls(self):
        """RFC 6120 §5.4.2: <starttls/>, <proceed/>, handshake, new stream.
        The certificate is verified against cafile for the name 'domain'."""
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        el = self.next_element()
        assert el.tag == q(NS_TLS, 'proceed'), 'expected <proceed/>, got %s' % el.tag
        self._wrap_tls()
        return self.open()

    def _wrap_tls(self):
        ctx = ssl.create_default_context(cafile=self.cafile)
        if self.cafile is None:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock, server_hostname=self.domain)
        self.tls = True

    def auth_plain(self, user, password):
        """RFC 4616 PLAIN.  Returns the <success/> or <failure/> element."""
        token = base64.b64encode(b'\0' + user.encode() + b'\0' + password.encode()).decode()
        self.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, token))
        return self.next_element()

    def bind(self, resource=None):
        """RFC 6120 §7.  Returns the bound full JID; resource None sends an
        empty <bind/> so the server picks the resourcepart."""
        rid = new_id('bind')
        res = '' if resource is None else '<resource>%s</resource>' % resource
        self.send("<iq type='set' id='%s'><bind xmlns='%s'>%s</bind></iq>" % (rid, NS_BIND, res))
        el = self.next_element(lambda e: e.get('id') == rid)
        assert el.get('type') == 'result', 'bind failed: %s' % ET.tostring(el)
        jid = el.find('%s/%s' % (q(NS_BIND, 'bind'), q(NS_BIND, 'jid')))
        assert jid is not None and jid.text, 'bind result without <jid/>'
        self.jid = jid.text
        return self.jid

    def authenticate(self, user, password):
        """STARTTLS + SASL PLAIN, stopping before the post-SASL stream restart."""
        feats = self.open()
        assert feats.find(q(NS_TLS, 'starttls')) is not None, 'no <starttls/> offered'
        self.starttls()
        el = self.auth_plain(user, password)
        assert el.tag == q(NS_SASL, 'success'), 'SASL failed: %s' % ET.tostring(el)

    def login(self, user, password, resource=None):
        """STARTTLS + SASL PLAIN + bind.  Returns the full JID."""
        self.authenticate(user, password)
        feats = self.open()
        assert feats.find(q(NS_BIND, 'bind')) is not None, 'no <bind/> after SASL'
        return self.bind(resource)

    # -- stanzas ------------------------------------------------------------

    def iq(self, type_, payload, to=None):
        """Send an IQ and return its response (matched by id)."""
        rid = new_id('iq')
        to_attr = " to='%s'" % to if to else ''
        self.send("<iq type='%s' id='%s'%s>%s</iq>" % (type_, rid, to_attr, payload))
        return self.next_element(lambda e: e.tag == q(NS_CLIENT, 'iq') and e.get('id') == rid)

    def message(self, to, body, extra_attrs=''):
        self.send("<message type='chat' to='%s'%s><body>%s</body></message>"
            % (to, extra_attrs, body))

    def next_message(self):
        return self.next_element(lambda e: e.tag == q(NS_CLIENT, 'message'))

    def presence(self):
        self.send('<presence/>')


def stream_error(elements):
    """The defined condition of the <stream:error/> among elements, as
    (namespace, localname), or None.  RFC 6120 §4.9.2: exactly one condition
    element in the xmpp-streams namespace; <text/> is optional."""
    for el in elements:
        if el.tag != q(NS_STREAM, 'error'):
            continue
        conds = [c for c in el if c.tag.startswith('{%s}' % NS_STREAMS_ERR)
            and c.tag != q(NS_STREAMS_ERR, 'text')]
        assert len(conds) == 1, 'stream error without exactly one condition: %s' % ET.tostring(el)
        ns, local = conds[0].tag[1:].split('}', 1)
        return ns, local
    return None


def stanza_error(el):
    """The defined condition of a stanza's <error/> child as a local name."""
    err = el.find(q(NS_CLIENT, 'error'))
    if err is None:
        return None
    for c in err:
        if c.tag.startswith('{%s}' % NS_STANZA_ERR) and c.tag != q(NS_STANZA_ERR, 'text'):
            return c.tag.split('}', 1)[1]
    return None


def body_of(el):
    b = el.find(q(NS_CLIENT, 'body'))
    return None if b is None else (b.text or '')


def expect_stream_error(s, condition):
    """The server sends <condition/> in a <stream:error/>, closes the stream
    and the TCP connection (RFC 6120 §4.9.1.1)."""
    try:
        got = s.read_to_close()
    except socket.timeout:
        raise AssertionError('expected <%s/>: the server neither answered nor closed within '
                             '%.0f s; last bytes: %r'
                             % (condition, s.timeout, s.received)) from None
    assert stream_error(got) == (NS_STREAMS_ERR, condition), \
        'expected <%s/>, got %s; last bytes: %r' % (condition, stream_error(got), s.received)
    assert s.root_closed, 'no </stream:stream> after the stream error: %r' % s.received
    assert s.eof, 'TCP connection not closed after the stream error'
    return got
