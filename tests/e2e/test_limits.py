"""Per-account limits (issue 9): [core] max_sessions_per_account.  One more
resource than allowed is refused with <policy-violation/> (RFC 6120
§4.9.3.15); replacing a bound resource is not a new session; a freed slot
can be taken again."""
from xmpp_raw import NS_CLIENT, expect_stream_error, q

SERVER_OPTIONS = {'core_extra': 'max_sessions_per_account = 2\n'}
PING = "<iq type='get' id='%s' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"


def _alive(s, tag):
    s.send(PING % tag)
    r = s.next_element(lambda e: e.tag == q(NS_CLIENT, 'iq') and e.get('id') == tag)
    return r.get('type') == 'result'


def test_sessions_per_account(server):
    aj, apw = server.new_user('alice')
    bj, bpw = server.new_user('bob')
    one = server.raw_login(aj, apw, 'one')
    two = server.raw_login(aj, apw, 'two')
    streams = [one, two]
    try:
        assert _alive(one, 'p1') and _alive(two, 'p2')
        three = server.raw_login(aj, apw, 'three')  # bind answered, then refused
        streams.append(three)
        expect_stream_error(three, 'policy-violation')
        # Another account is not affected.
        b = server.raw_login(bj, bpw, 'x')
        streams.append(b)
        assert _alive(b, 'p3')
        # The same resource again replaces the old session: allowed.
        two_again = server.raw_login(aj, apw, 'two')
        streams.append(two_again)
        expect_stream_error(two, 'conflict')
        assert _alive(two_again, 'p4') and _alive(one, 'p5')
        # A session ends: its slot is free.  The end reaches the core on its
        # own path, so a login racing it may still be refused: try again.
        one.close()
        for attempt in range(50):
            four = server.raw_login(aj, apw, 'four')
            streams.append(four)
            four.send(PING % 'p7')
            el = four.next_element(lambda e: e.get('id') == 'p7' or e.tag.endswith('}error'))
            if el.get('id') == 'p7':
                break
        assert el.get('id') == 'p7' and el.get('type') == 'result', attempt
    finally:
        for s in streams:
            s.close()
