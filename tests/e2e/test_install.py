"""make install (PREFIX, DESTDIR): the programs, systemd units, man pages and
a default configuration that is never overwritten; the pages render without
groff warnings, starling.conf(5) is current with docs/configuration.md, and
systemd-analyze accepts the units.  Runs make in the source tree, installing
the programs of bin/ (built by make all)."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ['man5/starling.conf.5', 'man8/starling-core.8', 'man8/starling-cm.8',
         'man8/starlingctl.8']
UNITS = ['starling-core.service', 'starling-cm@.service']


def make_install(*args):
    env = dict(os.environ)
    env.pop('MAKEFLAGS', None)
    r = subprocess.run(['make', '-s', '--no-print-directory', 'install'] + list(args),
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_destdir_install(tmp_path):
    dest = tmp_path / 'dest'
    make_install('DESTDIR=%s' % dest)
    usr = dest / 'usr/local'
    expected = ['bin/starling-cm', 'bin/starling-core', 'bin/starlingctl',
                'lib/sysusers.d/starling.conf'] + ['share/man/' + p for p in PAGES] + \
               ['lib/systemd/system/' + u for u in UNITS]
    for f in expected:
        assert (usr / f).is_file(), '%s not installed' % f
    for b in ('starling-cm', 'starling-core', 'starlingctl'):
        assert os.access(usr / 'bin' / b, os.X_OK)
    conf = (dest / 'etc/starling/starling.conf').read_text()
    assert 'database = /var/lib/starling/starling.db' in conf
    assert 'address = unix:/run/starling/core.sock' in conf
    assert 'certificate = /etc/starling/cert.pem' in conf
    core = (usr / 'lib/systemd/system/starling-core.service').read_text()
    assert 'ExecStart=/usr/local/bin/starling-core -c /etc/starling/starling.conf' in core
    for line in ('Type=notify', 'WatchdogSec=', 'NoNewPrivileges=yes', 'ProtectSystem=strict',
                 'ReadWritePaths=/var/lib/starling', 'CapabilityBoundingSet=\n',
                 'Restart=on-failure', 'LimitNOFILE='):
        assert line in core, line
    cm = (usr / 'lib/systemd/system/starling-cm@.service').read_text()
    assert 'ExecStart=/usr/local/bin/starling-cm -c /etc/starling/cm-%i.conf' in cm


def test_existing_config_kept(tmp_path):
    conf = tmp_path / 'etc/starling/starling.conf'
    conf.parent.mkdir(parents=True)
    conf.write_text('[server]\ndomain = mine.example\n')
    out = make_install('DESTDIR=%s' % tmp_path)
    assert conf.read_text() == '[server]\ndomain = mine.example\n'
    assert 'left as it is' in out


def test_prefix_rewrites_unit_paths(tmp_path):
    prefix = tmp_path / 'opt'
    make_install('PREFIX=%s' % prefix, 'SYSCONFDIR=%s' % (tmp_path / 'etc'))
    unitdir = prefix / 'lib/systemd/system'
    core = (unitdir / 'starling-core.service').read_text()
    assert 'ExecStart=%s/bin/starling-core -c %s/etc/starling/starling.conf' % (prefix, tmp_path) \
        in core
    if not shutil.which('systemd-analyze'):
        pytest.skip('systemd-analyze not installed')
    # The binaries exist at the rewritten paths, so verify checks everything
    # but the man pages (not in the man path).
    env = dict(os.environ, SYSTEMD_UNIT_PATH='%s:' % unitdir)
    r = subprocess.run(['systemd-analyze', 'verify', '--man=no', 'starling-core.service',
                        'starling-cm@main.service'], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    dest = tmp_path_factory.mktemp('man')
    make_install('DESTDIR=%s' % dest)
    return dest / 'usr/local/share/man'


@pytest.mark.parametrize('page', PAGES)
def test_man_page_renders_without_warnings(installed, page):
    if not shutil.which('man'):
        pytest.skip('man not installed')
    env = dict(os.environ, MANWIDTH='80')
    r = subprocess.run(['man', '--warnings', '-l', str(installed / page)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == '', r.stderr
    text = re.sub('.\x08', '', r.stdout)  # the overstrike of bold
    assert 'NAME' in text and len(text.splitlines()) > 10


def test_conf_page_lists_every_key(installed):
    """Each key of lib/config.c's table appears as an entry of starling.conf(5)."""
    page = (installed / 'man5/starling.conf.5').read_text()
    keys = re.findall(r'(?:STR|NUM|BOOL)\("\w+", "(\w+)"', (ROOT / 'lib/config.c').read_text())
    assert len(keys) > 20
    for key in keys + ['hosts']:
        assert '\\fB%s\\fR = ' % key in page, key
