"""SASL2 (XEP-0388) with Bind 2 inline (XEP-0386), driven with raw streams:
the feature after TLS only, SCRAM-SHA-256 and PLAIN through <authenticate/>,
the resource bound inside the exchange and named in <success/>, no stream
restart, failures in the profile's elements, and the stream's rules around
them.  SCRAM's client side is written out here (RFC 5802 §3) so that the
server's signature is checked too."""
import base64
import hashlib
import hmac
import os
import xml.etree.ElementTree as ET

import pytest

from xmpp_raw import NS_BIND, NS_CLIENT, NS_SASL, NS_STREAM, RawStream, expect_stream_error, q

NS_SASL2 = 'urn:xmpp:sasl:2'
NS_BIND2 = 'urn:xmpp:bind:0'
NS_SM = 'urn:xmpp:sm:3'
NS_CSI = 'urn:xmpp:csi:0'
NS_CARBONS = 'urn:xmpp:carbons:2'
NS_FORWARD = 'urn:xmpp:forward:0'

SERVER_OPTIONS = {'tls_port': True}


def b64(data):
    return base64.b64encode(data).decode()


class Scram:
    """SCRAM-SHA-256's client (RFC 5802 §3, §5), no channel binding."""

    def __init__(self, user, password):
        self.user, self.password = user, password
        self.nonce = b64(os.urandom(18))
        self.bare = 'n=%s,r=%s' % (user, self.nonce)

    def first(self):
        return ('n,,' + self.bare).encode()

    def final(self, server_first):
        attrs = dict(kv.split('=', 1) for kv in server_first.decode().split(','))
        assert attrs['r'].startswith(self.nonce), 'server nonce does not extend ours'
        salted = hashlib.pbkdf2_hmac('sha256', self.password.encode(),
                                     base64.b64decode(attrs['s']), int(attrs['i']))
        client_key = hmac.new(salted, b'Client Key', 'sha256').digest()
        stored = hashlib.sha256(client_key).digest()
        without_proof = 'c=biws,r=' + attrs['r']
        auth_msg = ','.join([self.bare, server_first.decode(), without_proof]).encode()
        sig = hmac.new(stored, auth_msg, 'sha256').digest()
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        server_key = hmac.new(salted, b'Server Key', 'sha256').digest()
        self.server_sig = hmac.new(server_key, auth_msg, 'sha256').digest()
        return ('%s,p=%s' % (without_proof, b64(proof))).encode()

    def verify(self, server_final):
        assert server_final.decode() == 'v=' + b64(self.server_sig), 'bad server signature'


def tls_stream(server, direct=False):
    """A stream after TLS (STARTTLS or the direct-TLS port); returns it and
    the features of the encrypted stream."""
    if direct:
        s = RawStream(server.host, server.tls_port, server.domain, cafile=str(server.cert),
                      direct_tls=True)
        return s, s.open()
    s = server.raw()
    s.open()
    return s, s.starttls()


def authenticate(s, mech, payload=None, bind=None, tag=None, extra='', inline=''):
    """Send <authenticate/>; bind: include Bind 2's <bind/> (with tag and
    the inline features)."""
    ir = '' if payload is None else '<initial-response>%s</initial-response>' % b64(payload)
    bnd = ''
    if bind:
        bnd = "<bind xmlns='%s'>%s%s</bind>" % (
            NS_BIND2, '' if tag is None else '<tag>%s</tag>' % tag, inline)
    s.send("<authenticate xmlns='%s' mechanism='%s'>%s<user-agent id='%s'>"
           "<software>starling tests</software></user-agent>%s%s</authenticate>"
           % (NS_SASL2, mech, ir, 'd4565fa7-4d72-4749-b3d3-740edbf87770', bnd, extra))


def scram_login(s, user, password, bind=True, tag='Tests', inline=''):
    """SCRAM-SHA-256 through SASL2; returns the <success/> element.
    inline: features to start inside Bind 2's <bind/> (XEP-0386 §3.2)."""
    sc = Scram(user, password)
    authenticate(s, 'SCRAM-SHA-256', sc.first(), bind=bind, tag=tag, inline=inline)
    ch = s.next_element()
    assert ch.tag == q(NS_SASL2, 'challenge'), ET.tostring(ch)
    s.send("<response xmlns='%s'>%s</response>"
           % (NS_SASL2, b64(sc.final(base64.b64decode(ch.text)))))
    ok = s.next_element()
    assert ok.tag == q(NS_SASL2, 'success'), ET.tostring(ok)
    sc.verify(base64.b64decode(ok.find(q(NS_SASL2, 'additional-data')).text))
    return ok


def mechanisms(features, ns, parent):
    el = features.find(q(ns, parent))
    return None if el is None else [m.text for m in el.findall(q(ns, 'mechanism'))]


def test_offered_after_tls_only_with_bind2_inline(server):
    s = server.raw()
    plain = s.open()
    assert plain.find(q(NS_SASL2, 'authentication')) is None  # XEP-0388 §3
    feats = s.starttls()
    sasl2 = feats.find(q(NS_SASL2, 'authentication'))
    assert sasl2 is not None, ET.tostring(feats)
    # The same mechanisms as RFC 6120's list, and Bind 2 (XEP-0386 §3).
    assert mechanisms(feats, NS_SASL2, 'authentication') == mechanisms(feats, NS_SASL, 'mechanisms')
    bind2 = sasl2.find('%s/%s' % (q(NS_SASL2, 'inline'), q(NS_BIND2, 'bind')))
    assert bind2 is not None
    # What Bind 2 can start with the session (XEP-0386 §3.1).
    assert {f.get('var') for f in bind2.iter(q(NS_BIND2, 'feature'))} == {NS_SM, NS_CSI,
                                                                          NS_CARBONS}
    s.close()


@pytest.mark.parametrize('direct', [False, True], ids=['starttls', 'direct-tls'])
def test_scram_with_bind2_needs_no_restart(server, direct):
    jid, pw = server.new_user('sasl2')
    s, _ = tls_stream(server, direct)
    ok = scram_login(s, jid.split('@')[0], pw, tag='Tests')
    full = ok.find(q(NS_SASL2, 'authorization-identifier')).text
    # XEP-0386 §3.2.1: the tag, then the server's part; <bound/> in <success/>.
    assert full.startswith(jid + '/Tests/') and len(full) > len(jid + '/Tests/'), full
    assert ok.find(q(NS_BIND2, 'bound')) is not None
    # XEP-0388 §2.6.1: features follow at once, without a restart; bound
    # already, so no <bind/>, but stream management can be enabled.
    feats = s.next_element()
    assert feats.tag == q(NS_STREAM, 'features'), ET.tostring(feats)
    assert feats.find(q(NS_BIND, 'bind')) is None
    assert feats.find(q(NS_SM, 'sm')) is not None
    # The session works on the same stream: a message to itself comes back.
    s.send("<message to='%s' type='chat' id='m1'><body>over sasl2</body></message>" % full)
    msg = s.next_message()
    assert msg.get('from') == full and msg.find(q(NS_CLIENT, 'body')).text == 'over sasl2'
    s.close()


def test_sasl2_and_legacy_clients_talk(server):
    a, apw = server.new_user('sasl2')
    b, bpw = server.new_user('legacy')
    s, _ = tls_stream(server)
    full = scram_login(s, a.split('@')[0], apw).find(q(NS_SASL2, 'authorization-identifier')).text
    s.next_element()  # features
    legacy = server.raw_login(b, bpw, 'desk')
    legacy.send("<message to='%s' type='chat'><body>hi</body></message>" % full)
    got = s.next_message()
    assert got.get('from') == b + '/desk'
    s.send("<message to='%s/desk' type='chat'><body>hello</body></message>" % b)
    assert legacy.next_message().get('from') == full
    s.close()
    legacy.close()


def test_without_bind_the_bare_jid_and_legacy_bind(server):
    jid, pw = server.new_user('sasl2')
    before = server.cm_metric('starling_cm_auth_sasl2_total')
    s, _ = tls_stream(server)
    authenticate(s, 'PLAIN', b'\0' + jid.split('@')[0].encode() + b'\0' + pw.encode())
    ok = s.next_element()
    assert ok.tag == q(NS_SASL2, 'success'), ET.tostring(ok)
    assert ok.find(q(NS_SASL2, 'authorization-identifier')).text == jid
    assert ok.find(q(NS_BIND2, 'bound')) is None
    assert ok.find(q(NS_SASL2, 'additional-data')) is None  # PLAIN has none
    feats = s.next_element()
    assert feats.find(q(NS_BIND, 'bind')) is not None  # still to bind, no restart
    assert s.bind('phone') == jid + '/phone'
    s.close()
    assert server.cm_metric('starling_cm_auth_sasl2_total') == before + 1
    legacy = server.raw_login(jid, pw, 'desk')  # RFC 6120 SASL: not counted
    legacy.close()
    assert server.cm_metric('starling_cm_auth_sasl2_total') == before + 1


def test_a_tag_that_is_no_resourcepart_is_dropped(server):
    jid, pw = server.new_user('sasl2')
    s, _ = tls_stream(server)
    # U+0007 is no XML character; a tag with a prohibited code point
    # (RFC 7613 §4.2: U+2028 is a separator) cannot be a resourcepart.
    full = scram_login(s, jid.split('@')[0], pw, tag='bad\u2028tag') \
        .find(q(NS_SASL2, 'authorization-identifier')).text
    res = full.split('/', 1)[1]
    assert '/' not in res and len(res) == 16 and all(ch in '0123456789abcdef' for ch in res), full
    s.close()


def test_wrong_password_fails_in_sasl2_and_may_retry(server):
    jid, pw = server.new_user('sasl2')
    s, _ = tls_stream(server)
    authenticate(s, 'PLAIN', b'\0' + jid.split('@')[0].encode() + b'\0wrong', bind=True)
    fail = s.next_element()
    # XEP-0388 §2.6.2: the RFC 6120 §6.5 condition in the SASL namespace.
    assert fail.tag == q(NS_SASL2, 'failure'), ET.tostring(fail)
    assert fail.find(q(NS_SASL, 'not-authorized')) is not None
    ok = scram_login(s, jid.split('@')[0], pw)
    assert ok.find(q(NS_BIND2, 'bound')) is not None
    s.close()


def test_unoffered_mechanism_and_abort(server):
    s, _ = tls_stream(server)
    authenticate(s, 'X-NOT-A-MECH', b'x')
    fail = s.next_element()
    assert fail.tag == q(NS_SASL2, 'failure') and fail.find(q(NS_SASL, 'invalid-mechanism')) is not None
    authenticate(s, 'SCRAM-SHA-256')  # no initial response: an empty challenge
    ch = s.next_element()
    assert ch.tag == q(NS_SASL2, 'challenge') and not ch.text, ET.tostring(ch)
    s.send("<abort xmlns='%s'/>" % NS_SASL2)
    fail = s.next_element()
    assert fail.tag == q(NS_SASL2, 'failure') and fail.find(q(NS_SASL, 'aborted')) is not None
    s.close()


def test_bad_base64_is_incorrect_encoding(server):
    s, _ = tls_stream(server)
    s.send("<authenticate xmlns='%s' mechanism='PLAIN'><initial-response>***</initial-response>"
           "</authenticate>" % NS_SASL2)
    fail = s.next_element()
    assert fail.tag == q(NS_SASL2, 'failure')
    assert fail.find(q(NS_SASL, 'incorrect-encoding')) is not None
    s.close()


def test_authenticate_again_after_success_is_a_stream_error(server):
    jid, pw = server.new_user('sasl2')
    s, _ = tls_stream(server)
    scram_login(s, jid.split('@')[0], pw)
    s.next_element()  # features
    # XEP-0388 §4: after <success/>, another <authenticate/> is a stream error.
    authenticate(s, 'PLAIN', b'\0' + jid.split('@')[0].encode() + b'\0' + pw.encode())
    expect_stream_error(s, 'policy-violation')


def test_the_other_profile_mid_exchange_ends_the_stream(server):
    s, _ = tls_stream(server)
    authenticate(s, 'SCRAM-SHA-256')
    assert s.next_element().tag == q(NS_SASL2, 'challenge')
    s.send("<response xmlns='%s'>%s</response>" % (NS_SASL, b64(b'n,,n=x,r=abc')))
    expect_stream_error(s, 'policy-violation')


def test_authenticate_again_mid_exchange_ends_the_stream(server):
    # XEP-0388 §2.4: only <response/> or <abort/> while an exchange runs.
    s, _ = tls_stream(server)
    authenticate(s, 'SCRAM-SHA-256')
    assert s.next_element().tag == q(NS_SASL2, 'challenge')
    authenticate(s, 'SCRAM-SHA-256')
    expect_stream_error(s, 'policy-violation')


def test_a_stray_response_is_answered_in_its_own_profile(server):
    s, _ = tls_stream(server)
    s.send("<response xmlns='%s'>AAAA</response>" % NS_SASL2)
    fail = s.next_element()
    assert fail.tag == q(NS_SASL2, 'failure'), ET.tostring(fail)
    assert fail.find(q(NS_SASL, 'malformed-request')) is not None
    s.send("<abort xmlns='%s'/>" % NS_SASL)
    fail = s.next_element()
    assert fail.tag == q(NS_SASL, 'failure') and fail.find(q(NS_SASL, 'aborted')) is not None
    s.close()


def test_bind2_starts_stream_management_and_it_resumes(server):
    jid, pw = server.new_user('sasl2')
    user = jid.split('@')[0]
    s, _ = tls_stream(server)
    ok = scram_login(s, user, pw, inline="<enable xmlns='%s' resume='true'/>" % NS_SM)
    full = ok.find(q(NS_SASL2, 'authorization-identifier')).text
    # XEP-0386 §3.2: the <enabled/> answer inside <bound/>.
    enabled = ok.find('%s/%s' % (q(NS_BIND2, 'bound'), q(NS_SM, 'enabled')))
    assert enabled is not None and enabled.get('resume') == 'true' and enabled.get('id'), \
        ET.tostring(ok)
    # Enabled already: not offered again (XEP-0198 §3: once).
    assert s.next_element().find(q(NS_SM, 'sm')) is None
    s.send("<message to='%s' type='chat'><body>counted</body></message>" % full)
    assert s.next_message().find(q(NS_CLIENT, 'body')).text == 'counted'
    s.send("<r xmlns='%s'/>" % NS_SM)  # XEP-0198 §4: one stanza handled
    a = s.next_element(lambda e: e.tag == q(NS_SM, 'a'))
    assert a.get('h') == '1'
    s.sock.close()  # lost, not closed: the session waits for a resumption
    # A new connection: SASL2 without Bind 2, then XEP-0198 §5's <resume/>.
    t, _ = tls_stream(server)
    authenticate(t, 'PLAIN', b'\0' + user.encode() + b'\0' + pw.encode())
    assert t.next_element().tag == q(NS_SASL2, 'success')
    assert t.next_element().find(q(NS_SM, 'sm')) is not None
    t.send("<resume xmlns='%s' previd='%s' h='1'/>" % (NS_SM, enabled.get('id')))
    resumed = t.next_element()
    assert resumed.tag == q(NS_SM, 'resumed') and resumed.get('h') == '1', ET.tostring(resumed)
    t.close()


def test_bind2_starts_the_session_inactive(server):
    from test_subscription_rules import _sync, friends
    (a, aj, apw), (b, bj, _) = friends(server)
    s, _ = tls_stream(server)
    try:
        ok = scram_login(s, aj.split('@')[0], apw, inline="<inactive xmlns='%s'/>" % NS_CSI)
        full = ok.find(q(NS_SASL2, 'authorization-identifier')).text
        s.next_element()  # features
        s.send('<presence/>')
        _sync(s)
        for n in ('one', 'two', 'three'):
            b.send("<presence><status>%s</status></presence>" % n)
        _sync(b)
        # XEP-0352 from the first stanza: bob's updates were held and only
        # the latest comes, just before the message.
        b.message(full, 'wake up')
        seen = []
        s.next_element(lambda e: e.tag == q(NS_CLIENT, 'message') or seen.append(e))
        st = [e.findtext(q(NS_CLIENT, 'status')) for e in seen
              if e.tag == q(NS_CLIENT, 'presence') and e.get('from') == bj + '/pc']
        assert st == ['three'], st
    finally:
        for x in (s, a, b):
            x.close()


def test_bind2_enables_carbons_without_an_answer(server):
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    other = server.raw_login(aj, apw, 'desk')
    bob = server.raw_login(bj, bpw, 'pc')
    s, _ = tls_stream(server)
    try:
        scram_login(s, aj.split('@')[0], apw, inline="<enable xmlns='%s'/>" % NS_CARBONS)
        s.next_element()  # features
        # XEP-0386 §3.2: on at once, and nothing to answer: the first thing
        # this stream gets is the copy of what the account's other resource
        # sent, no IQ before it.
        other.message(bj + '/pc', 'from the desk')
        assert bob.next_message().find(q(NS_CLIENT, 'body')).text == 'from the desk'
        m = s.next_element()
        assert m.tag == q(NS_CLIENT, 'message'), ET.tostring(m)
        inner = m.find('%s/%s/%s' % (q(NS_CARBONS, 'sent'), q(NS_FORWARD, 'forwarded'),
                                     q(NS_CLIENT, 'message')))
        assert inner is not None and inner.get('from') == aj + '/desk', ET.tostring(m)
        # The id was the cm's for one answer only: the same id from anyone
        # later reaches the client.
        full = m.get('to')
        bob.send("<iq type='result' id='starling-bind2-carbons' to='%s'/>" % full)
        iq = s.next_element()
        assert iq.tag == q(NS_CLIENT, 'iq') and iq.get('id') == 'starling-bind2-carbons', \
            ET.tostring(iq)
    finally:
        for x in (s, other, bob):
            x.close()
