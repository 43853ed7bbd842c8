"""scripts/run.sh, what `make run` starts, with several cms (`make run
CMS=2`, issue 13): one core, a cm per port pair 10 apart, a user on each
chatting with the other; Ctrl-C (TERM) stops everything, and one program
dying stops the rest."""
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

from conftest import START_TIMEOUT, _bin_dir
from xmpp_raw import RawStream, body_of

REPO = Path(__file__).resolve().parents[2]


def _free(port):
    with socket.socket() as s:
        try:
            s.bind(('127.0.0.1', port))
            return True
        except OSError:
            return False


def _two_ports():
    """A port whose +10 is free as well (the second cm's)."""
    for _ in range(200):
        p = random.randrange(20000, 60000)
        if _free(p) and _free(p + 10):
            return p
    raise AssertionError('no free port pair')


def _answers(port):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=1):
            return True
    except OSError:
        return False


def _start(tmp_path, cms):
    port = _two_ports()
    conf = tmp_path / 'starling.conf'
    conf.write_text('[server]\ndomain = localhost\n[c2s]\naddress = 127.0.0.1\nport = %d\n'
                    'tls_port = 0\nworkers = 1\nmetrics = off\n[tls]\ncertificate = %s\n'
                    'key = %s\n[link]\naddress = unix:%s\n[core]\ndatabase = %s\n'
                    'metrics = off\n'
                    % (port, REPO / 'var/cert.pem', REPO / 'var/key.pem',
                       tmp_path / 'core.sock', tmp_path / 'starling.db'))
    b = _bin_dir()
    env = dict(os.environ, STARLING_CONF=str(conf), STARLING_SOCK=str(tmp_path / 'core.sock'),
               STARLING_CMS=str(cms), STARLING_CORE=str(b / 'starling-core'),
               STARLING_CM=str(b / 'starling-cm'), STARLING_CTL=str(b / 'starlingctl'),
               ASAN_OPTIONS='detect_leaks=0')
    log = open(tmp_path / 'run.log', 'wb')
    p = subprocess.Popen(['sh', 'scripts/run.sh'], cwd=str(REPO), env=env,
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    ports = [port + 10 * i for i in range(cms)]
    deadline = time.monotonic() + START_TIMEOUT
    while not all(_answers(x) for x in ports):
        assert p.poll() is None, (tmp_path / 'run.log').read_text()
        assert time.monotonic() < deadline, (tmp_path / 'run.log').read_text()
        time.sleep(0.1)
    return p, conf, ports


def _adduser(conf, name):
    subprocess.run([str(_bin_dir() / 'starlingctl'), '-c', str(conf), 'adduser',
                    name + '@localhost', 'secret'], check=True, capture_output=True)


def _login(port, user, resource):
    s = RawStream('127.0.0.1', port, 'localhost')
    s.login(user, 'secret', resource)
    return s


def _stopped(p, ports):
    p.wait(30)
    return not any(_answers(x) for x in ports)


def test_two_cms_one_core(tmp_path):
    p, conf, ports = _start(tmp_path, 2)
    try:
        _adduser(conf, 'alice')
        _adduser(conf, 'bob')
        a = _login(ports[0], 'alice', 'one')
        b = _login(ports[1], 'bob', 'two')
        a.message('bob@localhost/two', 'across cms')
        assert body_of(b.next_message()) == 'across cms'
        a.close()
        b.close()
        # The second cm's configuration is the first's, ports moved up 10.
        cm1 = (REPO / 'var/cm-1.conf').read_text()
        assert 'port = %d' % ports[1] in cm1 and 'database = %s' % (tmp_path / 'starling.db') in cm1
    finally:
        p.send_signal(signal.SIGTERM)
    assert _stopped(p, ports) and p.returncode == 0


def test_one_cm_dying_stops_the_rest(tmp_path):
    p, conf, ports = _start(tmp_path, 2)
    try:
        pids = subprocess.run(['pgrep', '-f', 'cm-1.conf'], capture_output=True,
                              text=True).stdout.split()
        assert len(pids) == 1, pids
        os.kill(int(pids[0]), signal.SIGKILL)
        assert _stopped(p, ports) and p.returncode == 1
        assert 'exited with status' in (tmp_path / 'run.log').read_text()
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait(30)


def test_a_dead_core_is_started_again(tmp_path):
    """kill -9 of the core under run.sh: it comes back, the cm keeps the
    client's connection and the client chats on (issue 13)."""
    p, conf, ports = _start(tmp_path, 1)
    try:
        _adduser(conf, 'alice')
        a = _login(ports[0], 'alice', 'one')
        a.presence()
        core = subprocess.run(['pgrep', '-f', 'starling-core -c %s' % conf], capture_output=True,
                              text=True).stdout.split()
        assert len(core) == 1, core
        os.kill(int(core[0]), signal.SIGKILL)
        deadline = time.monotonic() + START_TIMEOUT
        while 'starting it again' not in (tmp_path / 'run.log').read_text():
            assert p.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        a.message('alice@localhost/one', 'through the new core')
        assert body_of(a.next_message()) == 'through the new core'
        a.close()
    finally:
        p.send_signal(signal.SIGTERM)
    assert _stopped(p, ports) and p.returncode == 0
