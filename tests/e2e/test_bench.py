"""starling-bench smoke runs (issue 3): each scenario, small N, against the
server fixture; the JSON must carry the figures with zero errors.  No timing
thresholds: only counts, presence of the figures and sanity of the values."""
import json
import os
import subprocess

import pytest

from conftest import _bin_dir

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
    check_hist(data['login_latency'], n)


@pytest.mark.parametrize('mech', ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'])
def test_login(server, accounts, tmp_path, mech):
    data = run_bench(server, accounts, tmp_path, 'login', '-n', str(N), '--rate', '50',
                     '--mech', mech)
    assert data['settings']['mech'] == mech and data['settings']['n'] == N
    check_logins(data, N)


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


def test_idle(server, accounts, tmp_path):
    pids = '%d,%d' % (server.cm.pid, server.core.pid)
    data = run_bench(server, accounts, tmp_path, 'idle', '-n', str(N), '--rate', '50',
                     '--hold', '1', '--pids', pids)
    check_logins(data, N)
    idle = data['idle']
    assert idle['rss_before_kib'] > 0 and idle['rss_at_n_kib'] > 0
    assert idle['held_s'] == 1
    assert 'kib_per_conn' in idle


def test_chat(server, accounts, tmp_path):
    data = run_bench(server, accounts, tmp_path, 'chat', '-n', '4', '--rate', '50',
                     '--duration', '2')
    check_logins(data, 4)
    chat = data['chat']
    assert chat['pairs'] == 2
    assert chat['sent'] > 0 and chat['delivered'] == chat['sent']
    assert chat['lost'] == 0 and chat['malformed'] == 0
    assert chat['delivered_per_s'] > 0
    check_hist(data['message_latency'], chat['sent'])


@pytest.fixture(scope='module')
def tls_server(tmp_path_factory):
    from conftest import Server
    srv = Server(tmp_path_factory.mktemp('starling-tls'), tls_port=True)
    srv.start()
    yield srv
    srv.stop()
    srv.check()
