"""The short form of issue 13's fault run (bench/faults.sh): pairs chat
through a fresh Starling while it is broken; afterwards every numbered
message is accounted for (delivered live, from offline storage, or bounced)
and none is missing.

With one cm, its core is killed and started again, its link is stalled and
cut, and it is killed and started again.  Without the cm's resend of the
link frames the core never acknowledged, the messages held in the cut link
are missing.  With the receivers on a cm of their own whose link is cut,
what the core had routed into that link comes back only through the core's
routing it again; without that, it is missing."""
import json
import os
import subprocess

import pytest

from conftest import REPO, _bin_dir

PAIRS, RATE = 3, 10


def run_faults(tmp_path, seconds, faults, cms):
    env = dict(os.environ, STARLING_BIN=str(_bin_dir()))
    r = subprocess.run(['bash', 'bench/faults.sh', '--pairs', str(PAIRS), '--rate', str(RATE),
                        '--seconds', str(seconds), '--faults', ','.join(faults),
                        '--cms', str(cms), '--work', str(tmp_path)],
                       cwd=str(REPO), env=env, capture_output=True, text=True, timeout=300)
    chat = (tmp_path / 'chat.txt').read_text() if (tmp_path / 'chat.txt').exists() else ''
    assert r.returncode == 0, '%s\n%s\n%s' % (r.stdout, r.stderr, chat)
    done = [line.split()[1] for line in (tmp_path / 'faults.log').read_text().splitlines()]
    assert done == faults, done
    f = json.loads((tmp_path / 'chat.json').read_text())['faults']
    assert f['sent'] >= PAIRS * RATE * seconds, f
    assert f['delivered'] + f['offline'] + f['bounced'] == f['sent'], f
    assert f['missing'] == 0, f
    assert 'delivered + offline + bounced = sent' in r.stdout, r.stdout
    return f


def test_every_message_is_accounted_for(tmp_path):
    f = run_faults(tmp_path, 8, ['core', 'link', 'cm'], 1)
    # The cm's kill took every session down, and each came back.
    assert f['sessions_lost'] >= 2 * PAIRS and f['relogins'] >= 2 * PAIRS, f


@pytest.mark.parametrize('faults', [['link'], ['cm']])
def test_receivers_on_a_cm_of_their_own(tmp_path, faults):
    f = run_faults(tmp_path, 5, faults, 2)
    if faults == ['cm']:  # only the receivers' sessions were taken down
        assert f['sessions_lost'] == PAIRS and f['relogins'] >= PAIRS, f
