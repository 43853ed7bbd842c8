"""Run tests/tools/sasl_client (built by make into build/tools): a C client
that binds SCRAM to TLS and presents client certificates, what Python's ssl
cannot do.  Its output is one key=value per line (see the tool's header)."""
import os
import subprocess

import pytest

from conftest import REPO

TOOLS = REPO / 'tests' / 'tools'


def tool_path():
    """$STARLING_SASL_CLIENT, else the build that matches $STARLING_BIN
    (bin/asan: build/asan), else either."""
    env = os.environ.get('STARLING_SASL_CLIENT')
    builds = [REPO / 'build' / 'tools', REPO / 'build' / 'asan' / 'tools']
    if os.environ.get('STARLING_BIN', '').rstrip('/').endswith('asan'):
        builds.reverse()
    for p in ([env] if env else []) + [b / 'sasl_client' for b in builds]:
        if p and os.access(str(p), os.X_OK):
            return str(p)
    pytest.fail('tests/tools/sasl_client is not built (make all)')


def sasl_client(server, *args, direct=False):
    """Run the tool against server; returns its key=value lines as a dict."""
    port = server.tls_port if direct else server.port
    cmd = [tool_path(), '--port', str(port), '--domain', server.domain] + list(args)
    if direct:
        cmd.append('--direct')
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, 'sasl_client %s: exit %d\n%s%s' % (args, r.returncode, r.stdout,
                                                                  r.stderr)
    return dict(line.split('=', 1) for line in r.stdout.splitlines() if '=' in line)


def client_cert(d, name, cn, *xmpp_addrs):
    """tests/tools/mkclientcert.sh: d/name.pem signed by d/ca.pem (name
    'self': self-signed).  Returns the certificate's path."""
    subprocess.run(['sh', str(TOOLS / 'mkclientcert.sh'), str(d), name, cn] + list(xmpp_addrs),
                   check=True, timeout=60, capture_output=True)
    return str(d / (name + '.pem'))
