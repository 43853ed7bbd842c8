"""starling-bench smoke runs (issue 3): each scenario, small N, against the
server fixture; the JSON must carry the figures with zero errors.  No timing
thresholds: only counts, presence of the figures and sanity of the values."""
import json
import os
import subprocess

import pytest

from conftest import REPO, _bin_dir

N = 20
BENCH_TIMEOUT = 240  # hang guard only (ASan builds are slow)


def _bench():
    b = _bin_dir() / 'starling-bench'
    if not os.access(b, os.X_OK):
        pytest.skip('%s not built' % b)
    return b


@pytest.fixture(scope='module')
def accounts(server):
    """bench1..benchN with one password, the accounts the pattern names."""
    for i in range(1, N + 1):
        server.adduser('bench%d' % i, 'benchpw')
    return 'bench%d', 'benchpw'


def run_bench(server, accounts, tmp_path, scenario, *args):
    pattern, password = accounts
    out = tmp_path / ('%s.json' % scenario)
    cmd = [str(_bench()), scenario, '--host', server.host, '--port', str(server.port),
           '--domain', server.domain, '--user', pattern, '--password', password,
           '--cafile', str(server.cert), '--timeout', '60', '--json', str(out)] + list(args)
    env = dict(os.environ, ASAN_OPTIONS='detect_leaks=1:abort_on_error=0')
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=BENCH_TIMEOUT, env=env)
    assert 'Sanitizer' not in r.stderr and 'runtime error:' not in r.stderr, r.stderr
    assert r.returncode == 0, 'exit %d\nstdout:\n%s\nstderr:\n%s' % (r.returncode, r.stdout,
                                                                     r.stderr)
    assert 'login latency' in r.stdout
    data = json.loads(out.read_text())
    assert data['settings']['scenario'] == scenario
    assert data['ok'] is True and data['errors'] == 0
    return data


def check_cpu(data, deliveries=False):
    """Server CPU from /proc (cm + core) and the bench's own cost are reported."""
    cpu, own = data['server_cpu'], data['bench_self']
    assert len(cpu['login_s']) == len(data['settings']['pids'])
    assert all(v >= 0 for v in cpu['login_s'] + cpu['after_login_s'])
    assert own['cpu_s'] > 0 and own['rss_end_kib'] > 0
    npids = len(data['settings']['pids'])
    assert len(cpu['ms_per_login_by_pid']) == len(cpu['us_per_delivery_by_pid']) == npids
    if npids:
        assert cpu['ms_per_login'] >= 0
        assert abs(sum(cpu['ms_per_login_by_pid']) - cpu['ms_per_login']) < 0.01
    if deliveries:
        assert own['us_per_delivery'] > 0
        if data['settings']['pids']:
            assert cpu['us_per_delivery'] >= 0


def check_series(data):
    """One point per second (plus the start and the end), counts never fall."""
    series = data['series']
    assert len(series) >= 2 and series[0]['t_s'] == 0
    for a, b in zip(series, series[1:]):
        assert b['t_s'] > a['t_s']
        assert b['delivered'] >= a['delivered'] and b['sent'] >= a['sent']
    assert series[-1]['online'] == data['login']['ok']


def check_hist(h, count):
    assert h['count'] == count
    for k in ('mean_ms', 'p50_ms', 'p90_ms', 'p99_ms', 'p99_9_ms', 'min_ms', 'max_ms'):
        assert h[k] >= 0, k
    assert h['p50_ms'] <= h['p90_ms'] <= h['p99_ms'] <= h['p99_9_ms'] <= h['max_ms']


def check_logins(data, n):
    login = data['login']
    assert login['attempted'] == n and login['ok'] == n
    assert login['failed'] == 0 and login['dropped'] == 0
    assert all(v == 0 for v in login['failures'].values())
    assert login['rate_per_s'] > 0
    # After the handshake every TLS 1.3 session runs on tls/record (no SSL
    # object kept) unless --openssl-records says otherwise.
    assert login['tls_lean'] == (0 if data['settings']['openssl_records'] else n)
    check_hist(data['login_latency'], n)


@pytest.mark.parametrize('mech', ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'])
def test_login(server, accounts, tmp_path, mech):
    data = run_bench(server, accounts, tmp_path, 'login', '-n', str(N), '--rate', '50',
                     '--mech', mech)
    assert data['settings']['mech'] == mech and data['settings']['n'] == N
    check_logins(data, N)


@pytest.mark.parametrize('mech', ['SCRAM-SHA-256', 'PLAIN'])
def test_login_sasl2(server, accounts, tmp_path, mech):
    """--sasl2: XEP-0388 with Bind 2 inline; the login counts the same."""
    data = run_bench(server, accounts, tmp_path, 'login', '-n', str(N), '--rate', '50',
                     '--mech', mech, '--sasl2')
    assert data['settings']['sasl2'] is True
    check_logins(data, N)


def test_login_concurrency_cap(server, accounts, tmp_path):
    """--concurrency C: closed loop, never more than C logins under way."""
    data = run_bench(server, accounts, tmp_path, 'login', '-n', str(N), '--rate', '100000',
                     '--concurrency', '3', '--pids', pids_of(server))
    check_logins(data, N)
    assert data['settings']['concurrency'] == 3
    assert 1 <= data['login']['max_in_progress'] <= 3
    check_cpu(data)


def test_login_direct_tls(tls_server, tmp_path):
    accounts = ('bench%d', 'benchpw')
    for i in range(1, 5):
        tls_server.adduser('bench%d' % i, 'benchpw')
    server = type('S', (), {})()
    server.host, server.domain, server.cert = tls_server.host, tls_server.domain, tls_server.cert
    server.port = tls_server.tls_port
    data = run_bench(server, accounts, tmp_path, 'login', '-n', '4', '--rate', '50',
                     '--direct-tls')
    assert data['settings']['direct_tls'] is True
    check_logins(data, 4)


def test_login_bad_password_fails(server, accounts, tmp_path):
    """A failing run must say so: non-zero exit and the cause counted."""
    out = tmp_path / 'bad.json'
    r = subprocess.run([str(_bench()), 'login', '--port', str(server.port), '-n', '2',
                        '--user', 'bench%d', '--password', 'wrong', '--json', str(out)],
                       capture_output=True, text=True, timeout=BENCH_TIMEOUT)
    assert r.returncode != 0
    data = json.loads(out.read_text())
    assert data['ok'] is False and data['login']['failures']['auth'] == 2


def pids_of(server):
    return '%d,%d' % (server.cm.pid, server.core.pid)


def test_idle(server, accounts, tmp_path):
    data = run_bench(server, accounts, tmp_path, 'idle', '-n', str(N), '--rate', '50',
                     '--hold', '1', '--pids', pids_of(server))
    check_logins(data, N)
    idle = data['idle']
    assert idle['rss_before_kib'] > 0 and idle['rss_at_n_kib'] > 0
    assert idle['held_s'] == 1
    assert 'kib_per_conn' in idle
    # XEP-0199: every held session pinged the server once and got a result
    assert data['ping'] == {'sent': N, 'answered': N, 'errors': 0}
    check_hist(data['ping_latency'], N)
    check_cpu(data)
    check_series(data)


def test_chat(server, accounts, tmp_path):
    data = run_bench(server, accounts, tmp_path, 'chat', '-n', '4', '--rate', '50',
                     '--duration', '2', '--pids', pids_of(server))
    check_logins(data, 4)
    chat = data['chat']
    assert chat['pairs'] == 2
    # every sender at every one of its intended times (the send schedule)
    assert chat['sent'] == 2 * 50 * 2
    assert chat['delivered'] == chat['sent'] == chat['expected']
    assert chat['lost'] == 0 and chat['malformed'] == 0 and chat['out_of_order'] == 0
    assert chat['delivered_per_s'] > 0
    check_hist(data['message_latency'], chat['sent'])
    assert len(data['steps']) == 1 and data['steps'][0]['delivered'] == chat['sent']
    check_cpu(data, deliveries=True)
    check_series(data)


def test_chat_sasl2(server, accounts, tmp_path):
    """Receivers addressed by the full JIDs Bind 2 gave them: all delivered."""
    data = run_bench(server, accounts, tmp_path, 'chat', '-n', '4', '--rate', '50',
                     '--duration', '2', '--sasl2')
    chat = data['chat']
    assert chat['delivered'] == chat['sent'] == chat['expected'] == 2 * 50 * 2
    assert chat['lost'] == 0 and chat['out_of_order'] == 0


def test_chat_openssl_records(server, accounts, tmp_path):
    """--openssl-records keeps OpenSSL's record layer (the path a TLS 1.2
    server takes too): the same traffic, nothing lost."""
    data = run_bench(server, accounts, tmp_path, 'chat', '-n', '4', '--rate', '50',
                     '--duration', '1', '--openssl-records')
    assert data['settings']['openssl_records'] is True
    check_logins(data, 4)
    chat = data['chat']
    assert chat['sent'] > 0 and chat['delivered'] == chat['sent'] and chat['lost'] == 0


def test_chat_steps_up_the_rate(server, accounts, tmp_path):
    """--step multiplies the rate after each passing step until --max-rate;
    a generous p99 bound keeps every step passing, so all three run."""
    data = run_bench(server, accounts, tmp_path, 'chat', '-n', '4', '--rate', '20',
                     '--duration', '1', '--step', '2', '--max-rate', '80',
                     '--p99-bound', '60000')
    steps = data['steps']
    assert [s['rate'] for s in steps] == [20, 40, 80]
    assert [s['offered_per_s'] for s in steps] == [40, 80, 160]
    assert [s['sent'] for s in steps] == [40, 80, 160]  # 1 s each
    for s in steps:
        assert s['delivered'] == s['expected'] == s['sent'] > 0
        assert not s['behind'] and not s['over_bound']
        assert s['p50_ms'] <= s['p99_ms'] <= s['max_ms']
    assert data['chat']['sustained_per_s'] == max(s['delivered_per_s'] for s in steps)
    assert data['chat']['sent'] == sum(s['sent'] for s in steps)


def test_chat_step_over_bound_stops(server, accounts, tmp_path):
    """A p99 bound no delivery can meet fails the first step: stepping stops
    there, nothing is lost, and no rate counts as sustained."""
    data = run_bench(server, accounts, tmp_path, 'chat', '-n', '4', '--rate', '20',
                     '--duration', '1', '--step', '2', '--p99-bound', '0.001')
    assert len(data['steps']) == 1 and data['steps'][0]['over_bound']
    assert data['chat']['lost'] == 0 and data['chat']['sustained_per_s'] == 0


def test_chat_retry_runs_a_failed_step_again(server, accounts, tmp_path):
    """--retry 2: a step that delivered everything but missed the p99 bound
    runs again at the same rate, twice, before stepping stops; a step that
    passes never repeats (test_chat_steps_up_the_rate)."""
    data = run_bench(server, accounts, tmp_path, 'chat', '-n', '4', '--rate', '20',
                     '--duration', '1', '--step', '2', '--p99-bound', '0.001', '--retry', '2')
    steps = data['steps']
    assert [s['rate'] for s in steps] == [20, 20, 20]
    assert all(s['over_bound'] and not s['behind'] for s in steps)
    assert data['settings']['retries'] == 2
    assert data['chat']['lost'] == 0 and data['chat']['sustained_per_s'] == 0


def test_presence(server, tmp_path):
    """Users with K mutual contacts (starlingctl provision) broadcast stamped
    presence; every online contact must get each update, once."""
    n, k = 8, 4
    server.ctl('provision', 'pres%d', str(n), 'prespw', '--contacts', str(k))
    data = run_bench(server, ('pres%d', 'prespw'), tmp_path, 'presence', '-n', str(n),
                     '--contacts', str(k), '--rate', '2', '--duration', '1',
                     '--pids', pids_of(server))
    check_logins(data, n)
    pres = data['presence']
    assert pres['senders'] == n and pres['contacts'] == k
    assert pres['sent'] == n * 2
    assert pres['expected'] == pres['sent'] * k == pres['delivered']
    assert pres['lost'] == 0 and pres['malformed'] == 0
    check_hist(data['message_latency'], pres['delivered'])
    check_cpu(data, deliveries=True)


def test_presence_without_roster_fails(server, tmp_path):
    """Accounts with no contacts get none of the expected fan-out: the run
    must report the loss and exit non-zero (the check can fail)."""
    server.ctl('provision', 'lone%d', '4', 'lonepw')
    out = tmp_path / 'lone.json'
    r = subprocess.run([str(_bench()), 'presence', '--port', str(server.port), '-n', '4',
                        '--user', 'lone%d', '--password', 'lonepw', '--contacts', '2',
                        '--rate', '2', '--duration', '1', '--timeout', '2',
                        '--json', str(out)], capture_output=True, text=True,
                       timeout=BENCH_TIMEOUT)
    assert r.returncode == 1
    data = json.loads(out.read_text())
    assert data['ok'] is False and data['presence']['lost'] == data['presence']['expected'] > 0


def run_pep(server, tmp_path, pattern, n, k, *args):
    return run_bench(server, (pattern, 'peppw'), tmp_path, 'pep', '-n', str(n),
                     '--contacts', str(k), '--rate', '2', '--duration', '1', *args)


def test_pep(server, tmp_path):
    """Users with K mutual contacts publish stamped PEP items (XEP-0163);
    their entity caps (XEP-0115) ask for the node, so every item must reach
    the publisher's own session and each contact's: K + 1 notifications a
    publish, once each.  The server learns the caps by one disco#info query
    for all the sessions that name the ver, and checks its hash."""
    n, k = 8, 4
    server.ctl('provision', 'pep%d', str(n), 'peppw', '--contacts', str(k))
    data = run_pep(server, tmp_path, 'pep%d', n, k, '--pids', pids_of(server))
    check_logins(data, n)
    pep = data['pep']
    assert pep['senders'] == n and pep['contacts'] == k
    assert pep['sent'] == n * 2
    assert pep['expected'] == pep['sent'] * (k + 1) == pep['delivered']
    assert pep['lost'] == 0 and pep['malformed'] == 0 and pep['publish_errors'] == 0
    assert pep['published_per_s'] > 0 and pep['delivered_per_s'] > 0
    assert pep['disco_answers'] <= 1  # once per ver (none if this server knows it already)
    assert pep['last_items'] == 0  # nothing was published to these accounts before
    check_hist(data['message_latency'], pep['delivered'])
    check_cpu(data, deliveries=True)
    check_series(data)
    # Again, on two threads: each session first gets the last item of its
    # own node and of each contact's, stamped by the run before (not counted),
    # and the ver is known: no query.
    data = run_pep(server, tmp_path, 'pep%d', n, k, '--threads', '2')
    pep = data['pep']
    assert pep['last_items'] == n * (k + 1) and pep['disco_answers'] == 0
    assert pep['expected'] == pep['sent'] * (k + 1) == pep['delivered'] > 0


def test_pep_without_roster_fails(server, tmp_path):
    """Accounts with no contacts get only their own notifications: the
    contacts' share is lost, and the run must say so and exit non-zero."""
    server.ctl('provision', 'pepl%d', '4', 'peppw')
    out = tmp_path / 'pepl.json'
    r = subprocess.run([str(_bench()), 'pep', '--port', str(server.port), '-n', '4',
                        '--user', 'pepl%d', '--password', 'peppw', '--contacts', '2',
                        '--rate', '2', '--duration', '1', '--timeout', '2',
                        '--json', str(out)], capture_output=True, text=True,
                       timeout=BENCH_TIMEOUT)
    assert r.returncode == 1
    pep = json.loads(out.read_text())['pep']
    assert pep['sent'] == 8 and pep['expected'] == 8 * 3
    assert pep['delivered'] == 8 and pep['lost'] == 8 * 2


def test_plot(server, accounts, tmp_path):
    data_path = tmp_path / 'chat.json'
    run_bench(server, accounts, tmp_path, 'chat', '-n', '2', '--rate', '20', '--duration', '2')
    for ext in ('svg', 'png'):
        out = tmp_path / ('plot.' + ext)
        r = subprocess.run(['/usr/bin/python3', str(REPO / 'bench' / 'plot.py'), str(data_path),
                            str(out)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        head = out.read_bytes()[:200]
        assert (b'<svg' in head) if ext == 'svg' else head.startswith(b'\x89PNG')


def test_compare(server, tls_server, tmp_path):
    """compare runs one scenario against two servers in alternating rounds
    and prints the figures side by side with ratios against the first."""
    for s in (server, tls_server):
        s.ctl('provision', 'cmp%d', '4', 'cmppw')
    out, js = tmp_path / 'compare.md', tmp_path / 'compare.json'
    cmd = [str(_bench()), 'compare', 'chat', '-n', '4', '--rate', '20', '--duration', '1',
           '--user', 'cmp%d', '--password', 'cmppw', '--rounds', '2', '--table', str(out),
           '--json', str(js),
           '--target', 'first=127.0.0.1:%d:%s' % (server.port, pids_of(server).replace(',', '+')),
           '--target', 'second=127.0.0.1:%d' % tls_server.port]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=BENCH_TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count('== first') == 2 and r.stdout.count('== second') == 2
    table = out.read_text()
    assert '| figure (mean of 2 rounds) | first | second |' in table
    assert '| delivered/s |' in table and 'x) |' in table
    assert '| errors | 0 | 0 |' in table
    data = json.loads(js.read_text())
    assert data['scenario'] == 'chat' and data['rounds'] == 2
    first, second = data['targets']
    assert (first['name'], second['name']) == ('first', 'second')
    assert first['runs'] == second['runs'] == 2
    assert first['figures']['errors'] == second['figures']['errors'] == 0
    assert first['figures']['delivered_per_s'] > 0 and second['figures']['delivered_per_s'] > 0
    assert first['ratio_to_first']['delivered_per_s'] == 1
    assert 'server_kib_per_conn' not in first['figures']  # an idle-only figure


@pytest.fixture(scope='module')
def tls_server(tmp_path_factory):
    from conftest import Server
    srv = Server(tmp_path_factory.mktemp('starling-tls'), tls_port=True)
    srv.start()
    yield srv
    srv.stop()
    srv.check()


def test_suite_quick(tmp_path):
    """make bench's script end to end at tiny sizes: every run lands in the
    results section with its figures and clean, plus the exact commands; the
    regression guard compares with the work directory's baseline (never
    bench/baseline.json on --quick) and marks, without failing the run."""
    _bench()
    out = tmp_path / 'perf.md'
    out.write_text('# results\n\n<!-- bench:starling begin -->\nstale-section\n<!-- bench:starling end -->\n'
                   'kept\n')
    work = tmp_path / 'work'
    work.mkdir()
    # Previous figures no run can match: a p99 of a picosecond and a
    # delivery rate of 10^12/s, so both must come out as regressions
    # whatever this machine measures; chat-5k-big has none (new).
    seed = {'current': {'chat-5k-small': {'date': 'then', 'commit': 'seed', 'figures': {
        'p99_ms': 1e-9, 'delivered_per_s': 1e12}}}, 'previous': {}}
    (work / 'baseline.json').write_text(json.dumps(seed))
    committed = (REPO / 'bench' / 'baseline.json').read_bytes()
    env = dict(os.environ, STARLING_BIN=str(_bin_dir()))
    r = subprocess.run(['bash', str(REPO / 'bench' / 'suite.sh'), '--quick', '--out', str(out),
                        '--work', str(work)], capture_output=True, text=True,
                       timeout=600, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    text = out.read_text()
    assert 'stale-section' not in text and text.rstrip().endswith('kept')
    runs = ('idle', 'login-scram', 'login-plain', 'login-sasl2', 'chat-small', 'chat-big',
            'presence', 'chat-5k-small', 'chat-5k-big')
    for run in runs:
        line = next((l for l in text.splitlines() if l.startswith('| %s |' % run)), None)
        assert line and line.endswith('| yes |'), (run, line)
    assert 'KiB per idle session' in text and 'deliveries/s sustained' in text
    assert text.count('starling-bench provision --server starling') == len(runs)
    assert (tmp_path / 'bench' / 'chat-small.svg').exists()
    # the fixed-rate runs: one step at the offered rate, every figure there
    for name, pairs, rate in (('chat-5k-small', 2, 10), ('chat-5k-big', 4, 5)):
        data = json.loads((work / (name + '.json')).read_text())
        assert data['chat']['pairs'] == pairs and data['settings']['rate'] == rate
        assert len(data['steps']) == 1 and data['chat']['lost'] == 0
        line = next(l for l in text.splitlines() if l.startswith('| %s |' % name))
        assert '%d msgs/s offered' % (pairs * rate) in line
        for fig in ('deliveries/s, p99', 'p50', 'p99.9', 'µs (cm', 'per delivery, bench'):
            assert fig in line, (name, fig, line)
    # the guard: its table in the section, the seeded figures flagged
    guard = text[text.index('regression guard'):]
    small = [l for l in guard.splitlines() if l.startswith('| chat-5k-small: ')]
    assert {l.split('|')[1].strip() for l in small} >= {
        'chat-5k-small: p99 latency ms', 'chat-5k-small: delivered/s'}
    for l in small:
        if 'p99 latency' in l or 'delivered/s' in l:
            assert l.endswith('| **REGRESSION** |'), l
    big = [l for l in guard.splitlines() if l.startswith('| chat-5k-big: p99')]
    assert big and big[0].endswith('| new |')
    assert 'REGRESSION' in r.stderr
    assert (REPO / 'bench' / 'baseline.json').read_bytes() == committed
    kept = json.loads((work / 'baseline.json').read_text())
    assert kept['previous']['chat-5k-small'] == seed['current']['chat-5k-small']
    assert {'chat-5k-small', 'chat-5k-big'} <= set(kept['current'])


def test_source_addresses(tmp_path):
    """--source-addrs K spreads the connections over 127.0.0.1 .. 127.0.0.K
    (past one address's ephemeral ports).  A listener that records each
    peer and hangs up: the logins fail as 'closed', the addresses are seen."""
    import socket
    import threading
    lst = socket.socket()
    lst.bind(('127.0.0.1', 0))
    lst.listen(64)
    lst.settimeout(30)
    seen = []

    def accept(n):
        for _ in range(n):
            conn, peer = lst.accept()
            seen.append(peer[0])
            conn.close()

    t = threading.Thread(target=accept, args=(8,))
    t.start()
    r = subprocess.run([str(_bench()), 'login', '--port', str(lst.getsockname()[1]), '-n', '8',
                        '--rate', '100', '--source-addrs', '4', '--timeout', '5'],
                       capture_output=True, text=True, timeout=BENCH_TIMEOUT)
    t.join(30)
    lst.close()
    assert r.returncode == 1 and 'closed: 8' in r.stdout, r.stdout + r.stderr
    assert sorted(set(seen)) == ['127.0.0.%d' % i for i in range(1, 5)]


def test_threads_chat(server, accounts, tmp_path):
    """--threads T: every T-th pair per thread; the steps are taken together
    and the figures add up as with one thread."""
    data = run_bench(server, accounts, tmp_path, 'chat', '-n', '8', '--threads', '3',
                     '--rate', '20', '--duration', '1', '--step', '2', '--max-rate', '40',
                     '--p99-bound', '60000', '--pids', pids_of(server))
    check_logins(data, 8)
    steps = data['steps']
    assert [s['rate'] for s in steps] == [20, 40]
    for s in steps:
        assert s['delivered'] == s['expected'] == s['sent'] > 0
    chat = data['chat']
    assert chat['sent'] == sum(s['sent'] for s in steps) == chat['delivered']
    check_hist(data['message_latency'], chat['delivered'])
    check_series(data)


def test_threads_presence_and_idle(server, tmp_path):
    n, k = 8, 4
    server.ctl('provision', 'thr%d', str(n), 'thrpw', '--contacts', str(k))
    data = run_bench(server, ('thr%d', 'thrpw'), tmp_path, 'presence', '-n', str(n),
                     '--contacts', str(k), '--rate', '2', '--duration', '1', '--threads', '2')
    pres = data['presence']
    assert pres['expected'] == pres['sent'] * k == pres['delivered'] > 0
    data = run_bench(server, ('thr%d', 'thrpw'), tmp_path, 'idle', '-n', str(n), '--rate', '50',
                     '--hold', '1', '--threads', '2', '--pids', pids_of(server))
    check_logins(data, n)
    assert data['ping'] == {'sent': n, 'answered': n, 'errors': 0}
    assert data['idle']['rss_at_n_kib'] > 0


def test_host_names(server, accounts, tmp_path):
    """--host takes a name, resolved once; an unknown name is an error."""
    data = run_bench(server, accounts, tmp_path, 'login', '-n', '2', '--rate', '50',
                     '--host', 'localhost')
    check_logins(data, 2)
    bad = subprocess.run([str(_bench()), 'login', '--host', 'nosuch.invalid', '-n', '1'],
                         capture_output=True, text=True, timeout=BENCH_TIMEOUT)
    assert bad.returncode == 1 and 'nosuch.invalid' in bad.stderr


def test_ipv6_server_address():
    """An IPv6 literal: a listener on ::1 sees the bench connect from ::1."""
    import socket
    lst = socket.socket(socket.AF_INET6)
    try:
        lst.bind(('::1', 0))
    except OSError as e:
        lst.close()
        pytest.skip('no IPv6 loopback on this machine: %s' % e)
    lst.listen(8)
    lst.settimeout(30)
    r = subprocess.Popen([str(_bench()), 'login', '--host', '::1', '--port',
                          str(lst.getsockname()[1]), '-n', '1', '--timeout', '5'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    conn, peer = lst.accept()
    conn.close()
    out, err = r.communicate(timeout=BENCH_TIMEOUT)
    lst.close()
    assert peer[0] == '::1'
    assert r.returncode == 1 and 'closed: 1' in out, out + err
