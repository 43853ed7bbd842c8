#!/usr/bin/env python3
"""The accounting table of a fault run (bench/faults.sh): the faults and when
they came, then what became of the messages, from WORK/faults.log and
WORK/chat.json.  Markdown, for docs/reliability.md.

usage: faults_report.py WORK"""
import json
import sys
from pathlib import Path


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__.split('\n\n', 1)[1])
        return 2
    work = Path(argv[1])
    data = json.loads((work / 'chat.json').read_text())
    s, f = data['settings'], data['faults']
    faults = [line.split() for line in (work / 'faults.log').read_text().splitlines() if line]
    print('%d pairs x %g msgs/s for %g s; faults: %s' % (
        s['n'] // 2, s['rate'], s['duration_s'],
        ', '.join('%s at %s s' % (name, t) for t, name in faults) or 'none'))
    print()
    print('| sent | delivered | offline | bounced | duplicates | missing | sessions lost | back |')
    print('|---|---|---|---|---|---|---|---|')
    print('| %d | %d | %d | %d | %d | %d | %d | %d |' % (
        f['sent'], f['delivered'], f['offline'], f['bounced'], f['duplicates'], f['missing'],
        f['sessions_lost'], f['relogins']))
    print()
    ok = f['delivered'] + f['offline'] + f['bounced'] == f['sent'] and f['missing'] == 0
    print('delivered + offline + bounced %s sent' % ('=' if ok else '!='))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
