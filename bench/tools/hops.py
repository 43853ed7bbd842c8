#!/usr/bin/env python3
"""hops.py: where a message's time goes inside Starling, hop by hop.

Reads starling_cm_hop_seconds (cm/trace.h) from a cm's /metrics, once or as
the difference of two scrapes (before and after a load run), and prints each
hop's count, mean and estimated p50/p99 (linear inside a bucket), with the
mean's share of the whole server path.

usage: hops.py URL_OR_FILE [BEFORE_FILE]
       hops.py --save URL FILE      (keep a scrape to subtract later)
"""
import re
import sys
import urllib.request

HOPS = ['cm_in', 'link_to_core', 'core', 'link_to_cm', 'cm_out']
LINE = re.compile(r'^starling_cm_hop_seconds_(bucket|sum|count)\{([^}]*)\} (\S+)$')


def read(src):
    if src.startswith('http://'):
        with urllib.request.urlopen(src, timeout=5) as r:
            return r.read().decode()
    with open(src) as f:
        return f.read()


def parse(text):
    """{hop: {'buckets': [(le, cumulative)], 'sum': s, 'count': n}}"""
    out = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        kind, labels, value = m.groups()
        lab = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        h = out.setdefault(lab.get('hop', '?'), {'buckets': [], 'sum': 0.0, 'count': 0})
        if kind == 'bucket':
            le = float('inf') if lab['le'] == '+Inf' else float(lab['le'])
            h['buckets'].append((le, float(value)))
        elif kind == 'sum':
            h['sum'] = float(value)
        else:
            h['count'] = float(value)
    return out


def minus(a, b):
    out = {}
    for hop, h in a.items():
        o = b.get(hop)
        if not o:
            out[hop] = h
            continue
        prev = dict(o['buckets'])
        out[hop] = {'buckets': [(le, c - prev.get(le, 0)) for le, c in h['buckets']],
                    'sum': h['sum'] - o['sum'], 'count': h['count'] - o['count']}
    return out


def quantile(buckets, q):
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return float('nan')
    rank, lo, below = q * total, 0.0, 0.0
    for le, cum in buckets:
        if cum >= rank:
            if le == float('inf'):
                return lo
            inside = cum - below
            return lo + (le - lo) * ((rank - below) / inside if inside else 1)
        lo, below = le, cum
    return lo


def report(h):
    rows, total = [], 0.0
    for hop in HOPS:
        x = h.get(hop)
        if not x or x['count'] <= 0:
            rows.append((hop, 0, None, None, None))
            continue
        mean = x['sum'] / x['count']
        total += mean
        rows.append((hop, int(x['count']), mean, quantile(x['buckets'], 0.5),
                     quantile(x['buckets'], 0.99)))
    lines = ['| hop | samples | mean µs | p50 µs | p99 µs | share of the mean |',
             '|---|---|---|---|---|---|']
    for hop, n, mean, p50, p99 in rows:
        if mean is None:
            lines.append('| %s | 0 | | | | |' % hop)
            continue
        lines.append('| %s | %d | %.1f | %.1f | %.1f | %.0f %% |' % (
            hop, n, mean * 1e6, p50 * 1e6, p99 * 1e6, 100 * mean / total if total else 0))
    lines.append('| **server path** | | **%.1f** | | | 100 %% |' % (total * 1e6))
    return '\n'.join(lines)


def main(argv):
    if len(argv) == 4 and argv[1] == '--save':
        with open(argv[3], 'w') as f:
            f.write(read(argv[2]))
        return 0
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    h = parse(read(argv[1]))
    if len(argv) == 3:
        h = minus(h, parse(read(argv[2])))
    print(report(h))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
