"""xmpp.js (@xmpp/client 0.14, from the npm registry) against the real
binaries: a client library that logs in with SASL2 and Bind 2 when the
server offers them, as Conversations does.  Needs Node >= 20.10 (xmpp.js's
own minimum) and the npm registry; without either the test is skipped and
says why.  The package is installed once into build/npm."""
import os
import shutil
import subprocess

import pytest

from conftest import REPO

XMPPJS = '@xmpp/client@0.14.0'
NPM_DIR = REPO / 'build' / 'npm'
SCRIPT = REPO / 'tests' / 'e2e' / 'node' / 'sasl2_login.mjs'


def _node_ok():
    node = shutil.which('node')
    if not node:
        return None, 'no node'
    v = subprocess.run([node, '--version'], capture_output=True, text=True).stdout.strip()
    major, minor = (int(x) for x in v.lstrip('v').split('.')[:2])
    if (major, minor) < (20, 10):
        return None, 'node %s is older than xmpp.js needs (20.10)' % v
    return node, v


@pytest.fixture(scope='module')
def xmppjs():
    node, why = _node_ok()
    if not node:
        pytest.skip(why)
    if not (NPM_DIR / 'node_modules' / '@xmpp' / 'client').is_dir():
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(['npm', 'install', '--no-audit', '--no-fund', '--prefix',
                            str(NPM_DIR), XMPPJS], capture_output=True, text=True, timeout=300)
        if r.returncode:
            pytest.skip('npm install %s failed: %s' % (XMPPJS, r.stderr[-500:]))
    return node


def test_xmppjs_logs_in_with_sasl2_and_bind2(server, xmppjs):
    jid, pw = server.new_user('xjs')
    # The script is copied beside node_modules so that its import resolves.
    script = NPM_DIR / SCRIPT.name
    shutil.copy(SCRIPT, script)
    r = subprocess.run([xmppjs, str(script), str(server.port), jid.split('@')[0], pw],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, NODE_TLS_REJECT_UNAUTHORIZED='0'))
    lines = r.stdout.splitlines()
    assert r.returncode == 0, r.stdout + r.stderr
    online = [l.split(' ', 1)[1] for l in lines if l.startswith('online ')]
    # XEP-0386 §3.2.1: the client's tag, then ours.
    assert online and online[0].startswith(jid + '/xjs/'), lines
    assert 'roster result' in lines and 'message to myself' in lines
    nonzas = [l for l in lines if l.startswith('nonza ')]
    # SASL2's elements, and no stream restart after <success/>: the features
    # that follow it are the last ones.
    assert 'nonza success urn:xmpp:sasl:2' in nonzas, nonzas
    after = nonzas[nonzas.index('nonza success urn:xmpp:sasl:2') + 1:]
    assert after and after[0].startswith('nonza stream:features'), nonzas
    assert not any(n.startswith('nonza stream:features') for n in after[1:]), nonzas
