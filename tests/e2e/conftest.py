"""End-to-end fixtures: run the real starling-core + starling-cm from
$STARLING_BIN on free loopback ports, create users with starlingctl, and give
tests slixmpp clients (real client behaviour) and raw streams (hostile bytes).

Every test has a hard timeout (SIGALRM) and every client scenario an asyncio
timeout, only so a broken server fails a test instead of hanging the suite;
no assertion depends on how fast anything is."""
import asyncio
import atexit
import itertools
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

sys.path.insert(0, os.path.dirname(__file__))
import xmpp_raw  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TEST_TIMEOUT = int(os.environ.get('STARLING_E2E_TIMEOUT', '300'))
START_TIMEOUT = 30.0  # seconds for a process to come up (ASan builds start slowly)
STOP_TIMEOUT = 5.0  # SIGTERM grace period before SIGKILL (and failure)
SCENARIO_TIMEOUT = 120.0
SANITIZER_MARKS = ('ERROR: AddressSanitizer', 'runtime error:', 'LeakSanitizer',
        'ERROR: LeakSanitizer')
DOMAIN = 'localhost'
PROCS = ('starling-core', 'starling-cm')

_live_procs = []


@atexit.register
def _kill_leftovers():
    # Last resort if pytest itself is interrupted: never leave servers behind.
    for p in _live_procs:
        if p.poll() is None:
            p.kill()


def _bin_dir():
    d = os.environ.get('STARLING_BIN') or str(REPO / 'bin')
    return Path(d).resolve()  # the servers run with the temp dir as cwd


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _make_cert(d, domains=(DOMAIN,)):
    """A self-signed certificate naming every hosted domain (virtual hosts)."""
    script = REPO / 'scripts' / 'mkcert.sh'
    if script.exists():
        subprocess.run(['sh', str(script), str(d)] + list(domains), check=True, timeout=60,
                capture_output=True)
    else:
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                'ec_paramgen_curve:P-256', '-nodes', '-days', '30',
                '-keyout', str(d / 'key.pem'), '-out', str(d / 'cert.pem'),
                '-subj', '/CN=' + DOMAIN, '-addext', 'subjectAltName=DNS:' + DOMAIN],
                check=True, timeout=60, capture_output=True)
    for f in ('cert.pem', 'key.pem'):
        assert (d / f).exists(), 'certificate generation did not create %s' % f


class Server:
    """One starling-core + starling-cm pair in its own directory."""

    def __init__(self, tmpdir, workers=1, max_stanza_size=65536, tls_port=False, auth_timeout=60,
            max_connections=None, cm_nofile=None, asan_options=None, hosts=(), c2s_extra='', core_extra='', tls_extra='',
            server_extra=''):
        """max_connections: [c2s] max_connections (per worker), written only
        when given so the config default applies otherwise.  cm_nofile: the
        RLIMIT_NOFILE (soft and hard) of starling-cm only, to provoke
        descriptor exhaustion; None leaves the inherited limit.  asan_options:
        extra ASAN_OPTIONS (e.g. 'quarantine_size_mb=0' where a test measures
        memory), appended to the defaults; ignored by non-ASan builds.
        hosts: further hosted domains ([server] hosts, virtual hosts), also
        named by the certificate.  c2s_extra, core_extra, tls_extra, server_extra:
        more [c2s], [core], [tls] and [server] lines, verbatim."""
        self.dir = Path(tmpdir)
        self.cm_nofile = cm_nofile
        self.asan_options = asan_options
        self.bin = _bin_dir()
        self.domain = DOMAIN
        self.hosts = list(hosts)
        self.host = '127.0.0.1'
        self.port = free_port()
        self.tls_port = free_port() if tls_port else 0
        # Each process's /metrics on its own free port ([c2s] / [core] metrics)
        self.cm_metrics_port = free_port()
        self.core_metrics_port = free_port()
        self.max_stanza_size = max_stanza_size
        self.cert = self.dir / 'cert.pem'
        self.sock = self.dir / 'core.sock'
        self.conf = self.dir / 'starling.conf'
        self.core = self.cm = None
        self.problems = []
        self._log_seen = {}
        self._users = itertools.count(1)
        for b in ('starling-core', 'starling-cm', 'starlingctl'):
            if not os.access(self.bin / b, os.X_OK):
                pytest.fail('%s/%s is missing: build first or set STARLING_BIN' % (self.bin, b))
        _make_cert(self.dir, [DOMAIN] + self.hosts)
        self.conf.write_text(
            '[server]\ndomain = %s\nlog_level = debug\n%s%s\n'
            '[c2s]\naddress = 127.0.0.1\nport = %d\ntls_port = %d\nworkers = %d\n'
            'max_stanza_size = %d\nrequire_tls = true\nauth_timeout = %d\nmetrics = 127.0.0.1:%d\n%s\n'
            '[tls]\ncertificate = %s\nkey = %s\n%s\n'
            '[link]\naddress = unix:%s\n\n'
            '[core]\ndatabase = %s\nscram_iterations = 4096\ncontrol = %s\nmetrics = 127.0.0.1:%d\n%s'
            % (self.domain, 'hosts = %s\n' % ', '.join(self.hosts) if self.hosts else '', server_extra,
                self.port, self.tls_port, workers, max_stanza_size, auth_timeout,
                self.cm_metrics_port,
                ('' if max_connections is None else 'max_connections = %d\n' % max_connections)
                + c2s_extra,
                self.cert,
                self.dir / 'key.pem', tls_extra, self.sock, self.dir / 'starling.db', self.dir / 'core.ctl',
                self.core_metrics_port, core_extra))

    # -- processes ----------------------------------------------------------

    def _env(self):
        env = dict(os.environ)
        env['ASAN_OPTIONS'] = 'detect_leaks=1:abort_on_error=0'
        if self.asan_options:
            env['ASAN_OPTIONS'] += ':' + self.asan_options
        env['UBSAN_OPTIONS'] = 'print_stacktrace=1'
        return env

    def _limits(self, name):
        """The preexec_fn applying cm_nofile to starling-cm, else None."""
        if name != 'starling-cm' or self.cm_nofile is None:
            return None
        n = self.cm_nofile
        return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))

    def _spawn(self, name):
        # Append: a restart keeps the first run's log for the sanitizer check.
        log = open(self.dir / (name + '.log'), 'ab')
        try:
            p = subprocess.Popen([str(self.bin / name), '-c', str(self.conf)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                    env=self._env(), cwd=str(self.dir), preexec_fn=self._limits(name))
        finally:
            log.close()
        _live_procs.append(p)
        return p

    def _wait(self, what, ready, proc):
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            if proc.poll() is not None:
                self._abort('%s exited with %s during startup' % (what, proc.returncode))
            if time.monotonic() > deadline:
                self._abort('%s not ready after %.0f s' % (what, START_TIMEOUT))
            time.sleep(0.05)

    def _port_open(self):
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                return True
        except OSError:
            return False

    def start(self):
        if self.sock.exists():
            self.sock.unlink()  # stale file would make us start the cm too early
        self.core = self._spawn('starling-core')
        self._wait('starling-core', self.sock.exists, self.core)
        self.cm = self._spawn('starling-cm')
        self._wait('starling-cm', self._port_open, self.cm)

    def _stop_one(self, name, p):
        if p is None:
            return
        if p.poll() is not None:
            self.problems.append('%s had already exited with %s' % (name, p.returncode))
            return
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            self.problems.append('%s did not exit within %.0f s of SIGTERM'
                    % (name, STOP_TIMEOUT))
            return
        if rc != 0:
            self.problems.append('%s exited with %s after SIGTERM' % (name, rc))

    def stop(self):
        """SIGTERM cm then core; records (not raises) problems so both stop."""
        self._stop_one('starling-cm', self.cm)
        self._stop_one('starling-core', self.core)
        self.cm = self.core = None

    def restart(self):
        self.stop()
        self.check()
        self.start()

    def restart_cm(self):
        """SIGTERM the cm alone and start it again; the core keeps running."""
        self._stop_one('starling-cm', self.cm)
        self.cm = self._spawn('starling-cm')
        self._wait('starling-cm', self._port_open, self.cm)

    def alive_problems(self):
        out = []
        for name, p in (('starling-core', self.core), ('starling-cm', self.cm)):
            if p is not None and p.poll() is not None:
                out.append('%s died with exit status %s' % (name, p.returncode))
        return out

    def _log(self, name):
        f = self.dir / (name + '.log')
        return f.read_text(errors='replace') if f.exists() else ''

    def cm_metric(self, name):
        """The sum of a cm family's samples over its workers, from /metrics."""
        url = 'http://127.0.0.1:%d/metrics' % self.cm_metrics_port
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        values = [float(m.group(1)) for m in
                  re.finditer(r'^%s(?:\{[^}]*\})? (\S+)$' % re.escape(name), text, re.M)]
        assert values, '%s not on /metrics' % name
        return sum(values)

    def log_text(self):
        """Both processes' stderr, every run since the fixture was created."""
        return '\n'.join('==== %s ====\n%s' % (n, self._log(n)) for n in PROCS)

    def log_tail(self, lines=40):
        return '\n'.join('==== %s (last %d lines) ====\n%s'
                         % (n, lines, '\n'.join(self._log(n).splitlines()[-lines:]))
                         for n in PROCS)

    def sanitizer_problems(self):
        """Sanitizer reports written since the previous call, so one report
        fails the test that provoked it and not every later one."""
        out = []
        for n in PROCS:
            text = self._log(n)
            new = text[self._log_seen.get(n, 0):]
            self._log_seen[n] = len(text)
            out += ['%s: sanitizer report %r in its log' % (n, m) for m in SANITIZER_MARKS
                    if m in new]
        return out

    def check(self):
        """Fail, with the log tails, on any recorded process or sanitizer
        problem.  A dead server is restarted first so later tests still run."""
        problems = self.problems + self.alive_problems() + self.sanitizer_problems()
        self.problems = []
        if not problems:
            return
        tail = self.log_tail()
        if self.alive_problems():
            self.stop()
            self.problems = []
            self.start()
        pytest.fail('%s\n%s' % ('\n'.join(problems), tail))

    def _abort(self, msg):
        for p in (self.cm, self.core):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        self.cm = self.core = None
        pytest.fail('%s\n%s' % (msg, self.log_tail()))

    # -- administration -----------------------------------------------------

    def ctl(self, *args):
        """Run starlingctl; fail the test on a non-zero exit."""
        r = subprocess.run([str(self.bin / 'starlingctl'), '-c', str(self.conf)] + list(args),
                capture_output=True, text=True, timeout=60, env=self._env(),
                cwd=str(self.dir))
        out = r.stdout + r.stderr
        for m in SANITIZER_MARKS:
            assert m not in out, 'starlingctl %s: sanitizer report:\n%s' % (args, out)
        assert r.returncode == 0, 'starlingctl %s exited %d:\n%s' % (args, r.returncode, out)
        return r

    def adduser(self, name, password='secret', domain=None):
        jid = '%s@%s' % (name, domain or self.domain)
        self.ctl('adduser', jid, password)
        return jid

    def new_user(self, prefix='user', password=None):
        """A fresh account (unique per server) so tests never share state.
        Returns (bare_jid, password)."""
        name = '%s%d' % (prefix, next(self._users))
        password = password or 'pw-' + name
        return self.adduser(name, password), password

    # -- clients ------------------------------------------------------------

    def raw(self, domain=None):
        """A raw stream to domain (default the primary one)."""
        return xmpp_raw.RawStream(self.host, self.port, domain or self.domain,
                cafile=str(self.cert))

    def raw_login(self, jid, password, resource=None):
        s = self.raw(jid.split('@')[1].split('/')[0])
        s.login(jid.split('@')[0], password, resource)
        return s


@pytest.fixture(scope='module')
def server(request, tmp_path_factory):
    """A running server for the module; SERVER_OPTIONS in the test module
    (e.g. {'workers': 2}) override the defaults."""
    opts = getattr(request.module, 'SERVER_OPTIONS', {})
    srv = Server(tmp_path_factory.mktemp('starling'), **opts)
    srv.start()
    yield srv
    srv.stop()
    srv.check()


@pytest.fixture(autouse=True)
def _server_health(request):
    """After every test that used the server: it must still be running and
    its log must carry no sanitizer report, so a crash is pinned on the test
    that caused it."""
    yield
    if 'server' in request.fixturenames:
        request.getfixturevalue('server').check()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the server log tails to every failed test report."""
    outcome = yield
    rep = outcome.get_result()
    srv = getattr(item, 'funcargs', {}).get('server')
    if rep.failed and isinstance(srv, Server):
        rep.sections.append(('starling log tail (%s)' % rep.when, srv.log_tail()))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    def expired(signum, frame):
        raise TimeoutError('test exceeded the %d s hard timeout' % TEST_TIMEOUT)
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# -- slixmpp helpers ---------------------------------------------------------
# Test modules import these with `from conftest import ...`.

WAIT = 30.0  # per expected stanza; only a hang guard


class Client(slixmpp.ClientXMPP):
    """A slixmpp client that verifies the server certificate against the
    test CA (our self-signed cert, name 'localhost') while connecting to
    127.0.0.1, and queues everything it receives for the test to inspect.
    Subscription requests are NOT answered automatically: tests answer them
    explicitly so they exercise the server, not slixmpp's policy."""

    def __init__(self, server, jid, password, mech=None, resource=None):
        super().__init__(jid + ('/' + resource if resource else ''), password, sasl_mech=mech)
        self.ca_certs = Path(server.cert)
        self.auto_authorize = None
        self.auto_subscribe = False
        self.messages = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.iqs = asyncio.Queue()
        self.roster_pushes = asyncio.Queue()
        self.auth_failures = []
        self.stream_errors = []
        self.outcome = asyncio.get_running_loop().create_future()
        self.closed = asyncio.Event()
        self.register_handler(Callback('e2e message', StanzaPath('message'),
                self.messages.put_nowait))
        self.register_handler(Callback('e2e presence', StanzaPath('presence'),
                self.presences.put_nowait))
        self.add_event_handler('roster_update', self.roster_pushes.put_nowait)
        self.add_event_handler('session_start', lambda _: self._settle('session'))
        self.add_event_handler('failed_auth',
                lambda st: self.auth_failures.append(st['condition']))
        self.add_event_handler('failed_all_auth', lambda _: self._settle('auth-failed'))
        self.add_event_handler('no_auth', lambda _: self._settle('no-mechanism'))
        self.add_event_handler('stream_error',
                lambda st: self.stream_errors.append(st['condition']))
        self.add_event_handler('connection_failed', lambda _: self._settle('connect-failed'))
        self.add_event_handler('disconnected', self._on_disconnected)

    def _settle(self, what):
        if not self.outcome.done():
            self.outcome.set_result(what)

    def _on_disconnected(self, _):
        self._settle('disconnected')
        self.closed.set()

    @property
    def mech_used(self):
        m = self['feature_mechanisms'].mech
        return m.name if m else None

    async def stop(self):
        """Orderly logout (</stream:stream>) and wait for the close."""
        if not self.closed.is_set():
            self.disconnect(wait=5)
            await asyncio.wait_for(self.closed.wait(), WAIT)

    def kill(self):
        """Drop the TCP connection without closing the stream or TLS."""
        if self.transport is not None:
            self.transport.abort()


_clients = []


async def connect(server, jid, password, mech=None, resource=None, presence=False,
        expect='session'):
    """Log in with slixmpp over STARTTLS; assert the login outcome
    ('session', 'auth-failed', ...) and return the client."""
    c = Client(server, jid, password, mech=mech, resource=resource)
    _clients.append(c)
    c.connect((server.host, server.port))
    outcome = await asyncio.wait_for(c.outcome, WAIT)
    assert outcome == expect, ('%s: login outcome %r, expected %r (auth failures %s, '
            'stream errors %s)' % (jid, outcome, expect, c.auth_failures, c.stream_errors))
    if presence:
        c.send_presence()
    return c


async def full_roster(c):
    """The whole roster as the server has it, {bare JID: item}.  slixmpp would
    otherwise name the version it cached from pushes and, that being current,
    get an empty result (RFC 6121 §2.6.3)."""
    c.client_roster.version = ''
    iq = await c.get_roster(timeout=30)
    assert iq['type'] == 'result'
    return {str(k): v for k, v in iq['roster']['items'].items()}


async def expect(queue, pred, what, timeout=WAIT):
    """The first item of queue satisfying pred; earlier non-matching items
    are dropped.  Fails with a description of what was skipped."""
    skipped = []

    async def loop():
        while True:
            item = await queue.get()
            if pred(item):
                return item
            skipped.append(item)
    try:
        return await asyncio.wait_for(loop(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError('timed out waiting for %s; got instead: %s'
                % (what, [str(s)[:300] for s in skipped][:10])) from None


def run(coro, timeout=SCENARIO_TIMEOUT):
    """Run one async client scenario with a hard timeout; connections left
    open by the scenario are dropped afterwards."""
    async def scenario():
        try:
            return await asyncio.wait_for(coro, timeout)
        finally:
            while _clients:
                c = _clients.pop()
                c.kill()
            await asyncio.sleep(0)
    return asyncio.run(scenario())
