"""The short form of issue 13's fault run (bench/faults.sh): pairs chat
through a fresh Starling while its core is killed and started again, its
cm's link is stalled and cut, and its cm is killed and started again.
Every numbered message is accounted for: delivered live, from offline
storage, or bounced; none is missing.  Without the cm's resend of the link
frames the core never acknowledged, the messages held in the cut link are
missing and this test fails."""
import json
import os
import subprocess

from conftest import REPO, _bin_dir

PAIRS, RATE, SECONDS = 3, 10, 8
FAULTS = ['core', 'link', 'cm']


def test_every_message_is_accounted_for(tmp_path):
    env = dict(os.environ, STARLING_BIN=str(_bin_dir()))
    r = subprocess.run(['bash', 'bench/faults.sh', '--pairs', str(PAIRS), '--rate', str(RATE),
                        '--seconds', str(SECONDS), '--faults', ','.join(FAULTS),
                        '--work', str(tmp_path)],
                       cwd=str(REPO), env=env, capture_output=True, text=True, timeout=300)
    chat = (tmp_path / 'chat.txt').read_text() if (tmp_path / 'chat.txt').exists() else ''
    assert r.returncode == 0, '%s\n%s\n%s' % (r.stdout, r.stderr, chat)
    done = [line.split()[1] for line in (tmp_path / 'faults.log').read_text().splitlines()]
    assert done == FAULTS, done
    f = json.loads((tmp_path / 'chat.json').read_text())['faults']
    assert f['sent'] >= PAIRS * RATE * SECONDS, f
    assert f['delivered'] + f['offline'] + f['bounced'] == f['sent'], f
    assert f['missing'] == 0, f
    # The cm's kill took every session down, and each came back.
    assert f['sessions_lost'] >= 2 * PAIRS and f['relogins'] >= 2 * PAIRS, f
    assert 'delivered + offline + bounced = sent' in r.stdout, r.stdout
