"""bench/peers: Prosody and ejabberd from Debian, provisioned and started by
their scripts, must take the same bench scenarios as Starling (issue 3's
bench-compare).  Each server: accounts with mutual rosters written before the
start, a SCRAM-SHA-1 login run with CPU from the reported PIDs, a presence
run whose every expected delivery arrives, and a stop that ends every PID."""
import json
import os
import random
import socket
import subprocess
import time

import pytest

from conftest import REPO, _bin_dir, _make_cert

PEERS = ('prosody', 'ejabberd')
N, K = 8, 4


def _port():
    # below the ephemeral range, as bench/peers/README.md asks
    for _ in range(1000):
        p = random.randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(('127.0.0.1', p))
            except OSError:
                continue
            return p
    pytest.fail('no free port')


def _script(name, *args, timeout=180):
    r = subprocess.run(['bash', str(REPO / 'bench' / 'peers' / ('%s.sh' % name))] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, '%s %s: exit %d\n%s\n%s' % (name, args[0], r.returncode,
                                                         r.stdout, r.stderr)
    return r.stdout


def _bench(port, pids, tmp_path, scenario, *args):
    out = tmp_path / ('%s.json' % scenario)
    r = subprocess.run([str(_bin_dir() / 'starling-bench'), scenario, '--port', str(port),
                        '--pids', pids, '--user', 'peer%d', '--password', 'peerpw',
                        '--mech', 'SCRAM-SHA-1', '--timeout', '60', '--json', str(out)]
                       + list(args), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(out.read_text())


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open('/proc/%d/stat' % pid) as f:
        return f.read().rsplit(')', 1)[1].split()[0] != 'Z'


@pytest.mark.parametrize('name', PEERS)
def test_peer_takes_the_scenarios(name, tmp_path):
    d = tmp_path / name
    d.mkdir()
    _make_cert(d)
    _script(name, 'install', timeout=600)
    _script(name, 'provision', str(d), '--domain', 'localhost', '--users', 'peer%d', '--first',
            '1', '-n', str(N), '--password', 'peerpw', '--contacts', str(K))
    port = _port()
    out = _script(name, 'start', str(d), '--domain', 'localhost', '--port', str(port), '--cert',
                  str(d / 'cert.pem'), '--key', str(d / 'key.pem'))
    pids = [int(p) for p in out.strip().splitlines()[-1].split(',')]
    try:
        assert pids and all(_alive(p) for p in pids)
        data = _bench(port, '+'.join(map(str, pids)), tmp_path, 'login', '-n', str(N),
                      '--rate', '20')
        assert data['login']['ok'] == N and data['ok']
        assert data['server_cpu']['ms_per_login'] >= 0
        data = _bench(port, ','.join(map(str, pids)), tmp_path, 'presence', '-n', str(N),
                      '--contacts', str(K), '--rate', '2', '--duration', '1')
        pres = data['presence']
        assert pres['expected'] == pres['sent'] * K == pres['delivered'] > 0
    finally:
        _script(name, 'stop', str(d))
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids)
