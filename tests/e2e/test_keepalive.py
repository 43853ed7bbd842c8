"""Dead-peer detection (issue 9): a logged-in client silent for idle_timeout
is pinged by the server (XEP-0199 §4.1); anything it sends then (the answer,
a whitespace keepalive of RFC 6120 §4.6.1) keeps the stream, silence for
ping_timeout ends it with <connection-timeout/>, and the session's
unacknowledged stanzas go back to the server (XEP-0198).  Short timeouts in
this module's config; the assertions are on what arrives, never on time."""
from test_sm import NS_SM, _enable
from xmpp_raw import NS_CLIENT, body_of, expect_stream_error, q

SERVER_OPTIONS = {'c2s_extra': 'idle_timeout = 1\nping_timeout = 2\n'}
NS_PING = 'urn:xmpp:ping'


def _server_ping(s):
    return s.next_element(lambda e: e.tag == q(NS_CLIENT, 'iq') and e.get('type') == 'get'
                          and e.find(q(NS_PING, 'ping')) is not None)


def test_answered_ping_keeps_the_stream(server):
    aj, apw = server.new_user('alice')
    a = server.raw_login(aj, apw, 'pc')
    try:
        for _ in range(2):
            p = _server_ping(a)
            assert p.get('from') == 'localhost' and p.get('id')
            a.send("<iq type='result' id='%s' to='localhost'/>" % p.get('id'))
        # A whitespace keepalive is an answer too.
        _server_ping(a)
        a.send(' ')
        _server_ping(a)  # pinged again after the next silence, not cut
        a.send("<iq type='get' id='still' to='localhost'><ping xmlns='%s'/></iq>" % NS_PING)
        assert a.next_element(lambda e: e.get('id') == 'still').get('type') == 'result'
    finally:
        a.close()


def test_silent_client_is_cut_and_loses_nothing(server):
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    a = server.raw_login(aj, apw, 'phone')
    a.presence()
    a.next_element(lambda e: e.tag == q(NS_CLIENT, 'presence'))
    assert _enable(a).tag == q(NS_SM, 'enabled')
    b = server.raw_login(bj, bpw, 'pc')
    try:
        b.message(aj + '/phone', 'never acked')
        assert body_of(a.next_message()) == 'never acked'
        # alice stays silent: pinged, then cut.
        _server_ping(a)
        expect_stream_error(a, 'connection-timeout')
        a.close()
        # The message she never acknowledged waits for her next login.
        a = server.raw_login(aj, apw, 'tablet')
        a.presence()
        assert body_of(a.next_message()) == 'never acked'
        a.close()
    finally:
        b.close()
