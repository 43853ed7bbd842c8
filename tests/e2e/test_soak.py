"""The short form of issue 13's soak (bench/soak.sh; the hour-long run is in
docs/reliability.md): 50 pairs chat at 1,000 msgs/s for 24 s against a fresh
server.  Every message arrives, in order, and neither process's resident
memory grows once the sessions are up: a leak of a few hundred bytes per
message would add megabytes between the first third and the end."""
import csv
import json
import os
import subprocess
from pathlib import Path

from conftest import _bin_dir

REPO = Path(__file__).resolve().parents[2]
MiB_KIB = 1024


def test_short_soak(tmp_path):
    env = dict(os.environ, STARLING_BIN=str(_bin_dir()),
               ASAN_OPTIONS='detect_leaks=1:quarantine_size_mb=8')
    subprocess.run(['bash', 'bench/soak.sh', '--seconds', '24', '--pairs', '50', '--rate', '20',
                    '--sample', '1', '--work', str(tmp_path)],
                   cwd=str(REPO), env=env, check=True, capture_output=True, timeout=300)
    chat = json.loads((tmp_path / 'chat.json').read_text())['chat']
    assert chat['sent'] >= 20000 and chat['delivered'] == chat['sent'], chat
    assert chat['lost'] == 0 and chat['out_of_order'] == 0, chat
    with open(tmp_path / 'rss.csv') as f:
        rows = [(int(r['seconds']), int(r['cm_kib']), int(r['core_kib'])) for r in csv.DictReader(f)]
    assert len(rows) >= 12, rows
    if _bin_dir().name == 'asan':
        return  # ASan's quarantine and shadow memory grow on their own; LSan checks leaks
    third = rows[len(rows) // 3]
    for col, name in ((1, 'starling-cm'), (2, 'starling-core')):
        growth = max(r[col] for r in rows[len(rows) // 3:]) - third[col]
        assert growth < 2 * MiB_KIB, '%s grew %d KiB while chatting: %s' % (name, growth, rows)
