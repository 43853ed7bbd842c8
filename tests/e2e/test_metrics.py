"""/metrics: each process serves Prometheus text exposition (format 0.0.4)
over HTTP/1.x on its own address ([c2s] metrics for starling-cm, [core]
metrics for starling-core; see docs/operations.md).  The page is parsed
here, not grepped, and the counters must move as slixmpp clients log in,
chat and fail a login.  The endpoint must survive hostile HTTP: huge
headers, a slow request, garbage, more connections than it serves."""
import re
import socket
import time

import pytest

from conftest import Server, connect, expect, run

SERVER_OPTIONS = {'workers': 2}

# -- the exposition format (text format 0.0.4) --------------------------------

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
SAMPLE = re.compile(r'^(%s)(?:\{(.*)\})? (\S+)$' % NAME)
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')
TYPES = {'counter', 'gauge', 'histogram', 'summary', 'untyped'}


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        assert m, 'bad label set %r at %d' % (text, pos)
        assert m.group(1) not in labels, 'label %s twice in %r' % (m.group(1), text)
        labels[m.group(1)] = re.sub(r'\\(.)', lambda e: {'n': '\n'}.get(e.group(1), e.group(1)),
                                    m.group(2))
        pos = m.end()
    return labels


def family_of(name, types):
    """The declared family a sample name belongs to (histogram suffixes)."""
    if name in types:
        return name
    for suffix in ('_bucket', '_sum', '_count'):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and types.get(base) in ('histogram', 'summary'):
            return base
    raise AssertionError('sample %s has no # TYPE line' % name)


def parse(text):
    """{family: {'type', 'help', 'samples': {(name, frozenset(labels)): value}}}.
    Checks the grammar as it goes: HELP/TYPE at most once per family and
    before its samples, every sample typed, values floats, no duplicates."""
    assert text.endswith('\n'), 'the exposition must end with a newline'
    fams, types = {}, {}
    for line in text.split('\n')[:-1]:
        if line.startswith('#'):
            parts = line.split(' ', 3)
            if len(parts) >= 3 and parts[1] in ('HELP', 'TYPE'):
                assert re.fullmatch(NAME, parts[2]), line
                f = fams.setdefault(parts[2], {'type': None, 'help': None, 'samples': {}})
                assert not f['samples'], '%s after its samples' % line
                key = parts[1].lower()
                assert f[key] is None, 'second %s line for %s' % (parts[1], parts[2])
                f[key] = parts[3] if len(parts) > 3 else ''
                if key == 'type':
                    assert f['type'] in TYPES, line
                    types[parts[2]] = f['type']
            continue
        assert line, 'empty line in the exposition'
        m = SAMPLE.match(line)
        assert m, 'not a sample line: %r' % line
        name, labels, value = m.group(1), parse_labels(m.group(2) or ''), float(m.group(3))
        f = fams[family_of(name, types)]
        key = (name, frozenset(labels.items()))
        assert key not in f['samples'], 'duplicate sample %r' % line
        f['samples'][key] = value
    for fname, f in fams.items():
        assert f['type'] and f['help'], '%s lacks HELP or TYPE' % fname
        assert fname.startswith('starling_'), fname
        if f['type'] == 'counter':
            assert fname.endswith('_total'), 'counter %s without _total' % fname
        if f['type'] == 'histogram':
            check_histogram(fname, f['samples'])
    return fams


def check_histogram(name, samples):
    """Each series (a label set without le) is cumulative up to +Inf = count."""
    series = {}
    for (n, ls), v in samples.items():
        if n == name + '_bucket':
            labels = dict(ls)
            le = float(labels.pop('le'))
            series.setdefault(frozenset(labels.items()), []).append((le, v))
    assert series, '%s has no buckets' % name
    for labels, buckets in series.items():
        buckets.sort()
        assert buckets[-1][0] == float('inf'), '%s has no +Inf bucket' % name
        assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), \
            '%s not cumulative' % name
        assert samples[(name + '_count', labels)] == buckets[-1][1]
        assert (name + '_sum', labels) in samples


def value(fams, name, **labels):
    """One sample, or the sum over those matching labels."""
    fam = fams[family_of(name, {k: v['type'] for k, v in fams.items()})]
    got = [v for (n, ls), v in fam['samples'].items()
           if n == name and set(labels.items()) <= set(ls)]
    assert got, 'no sample %s%s' % (name, labels)
    return sum(got)


# -- HTTP by hand -------------------------------------------------------------

def http(port, request, timeout=10):
    """Send raw bytes, read to EOF: (status code, headers, body)."""
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
        s.sendall(request)
        data = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b'\r\n\r\n')
    lines = head.decode().split('\r\n')
    m = re.match(r'HTTP/1\.[01] (\d{3}) ', lines[0])
    assert m, 'not an HTTP response: %r' % data[:200]
    headers = dict(line.split(': ', 1) for line in lines[1:])
    return int(m.group(1)), headers, body


def scrape(port):
    code, headers, body = http(port, b'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
    assert code == 200
    assert headers['Content-Type'].startswith('text/plain; version=0.0.4')
    assert int(headers['Content-Length']) == len(body)
    return parse(body.decode())


def cm(server):
    return scrape(server.cm_metrics_port)


def core(server):
    return scrape(server.core_metrics_port)


# -- the figures --------------------------------------------------------------

def test_both_endpoints_parse(server):
    c, k = cm(server), core(server)
    # every worker is there, with the families an operator's dashboard reads
    assert {dict(ls)['worker'] for (_, ls) in c['starling_cm_connections']['samples']} == {'0', '1'}
    for fam in ('starling_cm_auth_failures_by_condition_total', 'starling_cm_uring_sq_full_total',
                'starling_cm_worker_cpu_seconds_total', 'starling_heap_allocated_bytes',
                'starling_process_resident_memory_bytes', 'starling_cm_stream_errors_total'):
        assert fam in c, fam
    for fam in ('starling_core_route_seconds', 'starling_core_store_commit_seconds',
                'starling_core_link_queue_bytes', 'starling_core_sessions'):
        assert fam in k, fam
    assert k['starling_core_route_seconds']['type'] == 'histogram'
    # the core sees one link per cm worker: the server counts as started when
    # the cm listens, which can be before its second worker's link said HELLO
    deadline = time.monotonic() + 10
    while value(k, 'starling_core_cm_links') != 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        k = core(server)
    assert value(k, 'starling_core_cm_links') == 2
    assert value(c, 'starling_process_resident_memory_bytes') > 0


def test_counters_move_with_login_chat_and_failed_auth(server):
    a_jid, a_pw = server.new_user('ma')
    b_jid, b_pw = server.new_user('mb')
    c0, k0 = cm(server), core(server)

    async def scenario():
        a = await connect(server, a_jid, a_pw, mech='SCRAM-SHA-256')
        b = await connect(server, b_jid, b_pw, mech='SCRAM-SHA-1')
        assert (await a.get_roster(timeout=30))['type'] == 'result'
        a.send_message(mto=b.boundjid.full, mbody='metrics', mtype='chat')
        await expect(b.messages, lambda m: m['body'] == 'metrics', 'the chat message')
        bad = await connect(server, a_jid, a_pw + 'x', mech='PLAIN', expect='auth-failed')
        assert bad.auth_failures == ['not-authorized']
        await a.stop()
        await b.stop()
    run(scenario())
    c1, k1 = cm(server), core(server)

    def d(before, after, name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)
    assert d(c0, c1, 'starling_cm_connections_accepted_total') == 3
    assert d(c0, c1, 'starling_cm_tls_started_total') == 3
    assert d(c0, c1, 'starling_cm_auth_success_total') == 2
    assert d(c0, c1, 'starling_cm_auth_failures_total') == 1
    assert d(c0, c1, 'starling_cm_auth_failures_by_condition_total', condition='not-authorized') == 1
    logins = {(m, r): d(c0, c1, 'starling_cm_logins_total', mechanism=m, result=r)
              for m in ('SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN') for r in ('success', 'failure')}
    assert logins == {('SCRAM-SHA-256', 'success'): 1, ('SCRAM-SHA-1', 'success'): 1,
                      ('PLAIN', 'failure'): 1, ('SCRAM-SHA-256', 'failure'): 0,
                      ('SCRAM-SHA-1', 'failure'): 0, ('PLAIN', 'success'): 0}
    assert d(c0, c1, 'starling_cm_stanzas_in_total', kind='message') == 1
    assert d(c0, c1, 'starling_cm_stanzas_out_total', kind='message') == 1
    assert d(c0, c1, 'starling_cm_stanzas_in_total', kind='iq') >= 1  # the roster get
    assert d(c0, c1, 'starling_cm_bytes_in_total') > 0
    assert d(c0, c1, 'starling_cm_bytes_out_total') > 0
    assert d(c0, c1, 'starling_cm_uring_completions_total') > 0
    assert d(c0, c1, 'starling_metrics_requests_total') >= 1
    assert d(k0, k1, 'starling_core_stanzas_total', kind='message') == 1
    assert d(k0, k1, 'starling_core_stanzas_total', kind='iq') >= 1
    assert d(k0, k1, 'starling_core_sessions_opened_total') == 2
    assert d(k0, k1, 'starling_core_deliveries_total') >= 1
    assert d(k0, k1, 'starling_core_route_seconds_count') > 0
    assert d(k0, k1, 'starling_core_link_frames_in_total') > 0


# -- HTTP rules ---------------------------------------------------------------

@pytest.mark.parametrize('port', ['cm_metrics_port', 'core_metrics_port'])
def test_paths_and_methods(server, port):
    p = getattr(server, port)
    assert http(p, b'GET /other HTTP/1.1\r\n\r\n')[0] == 404
    assert http(p, b'POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n')[0] == 405
    code, headers, body = http(p, b'HEAD /metrics HTTP/1.0\r\n\r\n')
    assert code == 200 and body == b'' and int(headers['Content-Length']) > 0
    assert http(p, b'GET /metrics?x=1 HTTP/1.0\n\n')[0] == 200


# -- hostile HTTP -------------------------------------------------------------

def closed_by_peer(s, timeout=30):
    """Read until the server closes; True if it did (what it said is ignored)."""
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


@pytest.mark.parametrize('port', ['cm_metrics_port', 'core_metrics_port'])
def test_huge_headers_refused(server, port):
    p = getattr(server, port)
    s = socket.create_connection(('127.0.0.1', p), timeout=10)
    s.sendall(b'GET /metrics HTTP/1.1\r\n')
    try:
        for _ in range(200):  # 200 KiB of headers, never ending
            s.sendall(b'X-Junk: ' + b'a' * 1014 + b'\r\n')
    except (BrokenPipeError, ConnectionResetError):
        pass  # cut off while sending: what we want
    assert closed_by_peer(s)
    s.close()
    assert http(p, b'GET /metrics HTTP/1.1\r\n' + b'X: y\r\n' * 100 + b'\r\n')[0] == 200
    scrape(p)


@pytest.mark.parametrize('port', ['cm_metrics_port', 'core_metrics_port'])
def test_garbage_gets_400(server, port):
    p = getattr(server, port)
    assert http(p, b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n')[0] == 400
    assert http(p, b'hello there\r\n\r\n')[0] == 400
    assert http(p, b'GET /metrics SPDY/3\r\n\r\n')[0] == 400
    scrape(p)


@pytest.mark.parametrize('port', ['cm_metrics_port', 'core_metrics_port'])
def test_slow_request_cut(server, port):
    """A request that never completes is closed at its deadline (a few
    seconds); the wait here is only a hang guard."""
    p = getattr(server, port)
    s = socket.create_connection(('127.0.0.1', p), timeout=10)
    s.sendall(b'GET /metr')
    assert closed_by_peer(s, timeout=60), 'an incomplete request was held open'
    s.close()
    scrape(p)


@pytest.mark.parametrize('port', ['cm_metrics_port', 'core_metrics_port'])
def test_many_connections_capped(server, port):
    """More idle connections than the endpoint serves: the surplus is closed
    at once, the rest at their deadline, and then scrapes work again."""
    p = getattr(server, port)
    socks = [socket.create_connection(('127.0.0.1', p), timeout=10) for _ in range(40)]
    try:
        end = time.monotonic() + 60  # a hang guard for all of them together
        cut = sum(closed_by_peer(s, timeout=max(0.1, end - time.monotonic())) for s in socks)
        assert cut == len(socks), 'idle scrape connections held past their deadline'
    finally:
        for s in socks:
            s.close()
    scrape(p)
    assert server.alive_problems() == []


def test_closes_by_reason_and_link_rtt(server):
    """A clean close and a dropped connection are told apart; the link's
    round trip is measured (a PING each second)."""
    before = cm(server)
    reason = lambda fams, r: value(fams, 'starling_cm_connections_closed_by_reason_total',
                                   reason=r)
    jid, pw = server.new_user('closer')
    s = server.raw_login(jid, pw, 'r')
    s.send('</stream:stream>')
    s.read_to_close()
    s.close()
    s = server.raw_login(jid, pw, 'r')
    s.close()  # no closing tag: the peer is lost
    deadline = time.monotonic() + 15
    while True:
        after = cm(server)
        if (reason(after, 'client_closed') > reason(before, 'client_closed') and
                reason(after, 'peer_lost') > reason(before, 'peer_lost') and
                value(after, 'starling_cm_link_rtt_seconds') > 0):
            break
        assert time.monotonic() < deadline, (reason(after, 'client_closed'),
                                             reason(after, 'peer_lost'))
        time.sleep(0.2)
    assert value(after, 'starling_cm_link_rtt_seconds') < 5  # seconds: it is a gauge in s


def test_offline_messages_gauge(tmp_path_factory):
    """Offline messages waiting, counted when first scraped."""
    srv = Server(tmp_path_factory.mktemp('offline-gauge'))
    srv.start()
    try:
        aj, apw = srv.new_user('sender')
        bj, _ = srv.new_user('away')
        a = srv.raw_login(aj, apw, 'r')
        for i in range(3):
            a.message(bj, 'kept %d' % i)
        assert a.iq('get', "<ping xmlns='urn:xmpp:ping'/>", to=a.domain).get('type') == 'result'
        a.close()
        assert value(core(srv), 'starling_core_offline_messages') == 3
    finally:
        srv.stop()
        srv.check()


def test_stanza_errors_by_condition(server):
    """RFC 6120 §8.3.3 conditions: one the cm sends itself (a 'to' that is
    not a JID), one the core sends (an IQ to an account that does not exist)."""
    b_cm, b_core = cm(server), core(server)
    jid, pw = server.new_user('errs')
    s = server.raw_login(jid, pw, 'r')
    try:
        s.send("<message type='chat' to='a@b@c'><body>x</body></message>")
        s.send("<iq type='get' id='e1' to='nobody@%s'><query xmlns='jabber:iq:version'/></iq>"
               % s.domain)
        s.next_element(lambda e: e.get('id') == 'e1')
    finally:
        s.close()
    a_cm, a_core = cm(server), core(server)
    name = 'starling_cm_stanza_errors_total'
    assert value(a_cm, name, condition='jid-malformed') == \
        value(b_cm, name, condition='jid-malformed') + 1
    name = 'starling_core_stanza_errors_total'
    moved = [c for c in ('service-unavailable', 'item-not-found')
             if value(a_core, name, condition=c) > value(b_core, name, condition=c)]
    assert moved, 'no core stanza error counted'


HOPS = ('cm_in', 'link_to_core', 'core', 'link_to_cm', 'cm_out')


def test_hops_of_each_sampled_message(tmp_path_factory):
    """[c2s] trace_sample = 1: every message between two clients of the cm
    (on two workers or one) adds one sample to each of the five hops of
    starling_cm_hop_seconds, and the hops add up to a time."""
    srv = Server(tmp_path_factory.mktemp('hops'), workers=2, c2s_extra='trace_sample = 1')
    srv.start()
    try:
        aj, apw = srv.new_user('tracer')
        bj, bpw = srv.new_user('traced')
        a = srv.raw_login(aj, apw, 'r')
        b = srv.raw_login(bj, bpw, 'r')
        count = lambda fams, h: value(fams, 'starling_cm_hop_seconds_count', hop=h)
        before = scrape(srv.cm_metrics_port)
        for i in range(5):
            a.message(bj + '/r', 'hop %d' % i)
            assert b.next_message() is not None
        after = scrape(srv.cm_metrics_port)
        for h in HOPS:
            assert count(after, h) - count(before, h) == 5, h
        total = sum(value(after, 'starling_cm_hop_seconds_sum', hop=h) -
                    value(before, 'starling_cm_hop_seconds_sum', hop=h) for h in HOPS)
        assert total > 0
        a.close()
        b.close()
    finally:
        srv.stop()
        srv.check()
