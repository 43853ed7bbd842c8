#!/usr/bin/python3
"""Plot a starling-bench result: rate and latency over time.

usage: bench/plot.py RESULT.json OUT.svg|OUT.png [TITLE]

Reads the per-second "series" of a --json result and draws, through
gnuplot, two panels sharing the time axis: deliveries per second (and
sessions online) above, p50/p99 latency of what arrived in each second
below (login latency while sessions log in).  Server CPU (cores busy, from /proc) is drawn on the rate panel's
right axis when the run had --pids.  Exit 0 when the file was written."""
import json
import os
import subprocess
import sys
import tempfile


def rows(series):
    """One row per second: t, delivered/s, online, p50, p99, server cores, bench cores."""
    out, prev = [], None
    for s in series:
        if prev is None:
            dt, d, scpu, bcpu = s['t_s'], s['delivered'], s['server_cpu_s'], s['bench_cpu_s']
        else:
            dt = s['t_s'] - prev['t_s']
            d = s['delivered'] - prev['delivered']
            scpu = s['server_cpu_s'] - prev['server_cpu_s']
            bcpu = s['bench_cpu_s'] - prev['bench_cpu_s']
        dt = dt if dt > 0 else 1.0
        cores = scpu / dt if s['server_cpu_s'] >= 0 else float('nan')
        out.append((s['t_s'], d / dt, s['online'], s['p50_ms'], s['p99_ms'], cores, bcpu / dt))
        prev = s
    return out


def script(data_path, out, title, fmt, latency):
    term = ('set terminal svg size 900,600 dynamic background rgb "white"' if fmt == 'svg'
            else 'set terminal pngcairo size 900,600' if fmt == 'png' else None)
    return '\n'.join([
        term,
        'set output "%s"' % out,
        'set multiplot layout %d,1 title "%s"' % (2 if latency else 1, title.replace('"', "'")),
        'set grid', 'set key top left', 'set ylabel "per second"', 'set y2label "cores busy"',
        'set y2tics', 'set ytics nomirror', 'set xrange [0:*]', 'set yrange [0:*]',
        'set y2range [0:*]',
        'plot "%s" using 1:2 with lines lw 2 title "delivered/s", '
        '"" using 1:3 with lines title "online sessions", '
        '"" using 1:6 axes x1y2 with lines dt 2 title "server CPU", '
        '"" using 1:7 axes x1y2 with lines dt 3 title "bench CPU"' % data_path,
    ] + ([
        'unset y2tics', 'unset y2label', 'set ylabel "latency ms"', 'set xlabel "seconds"',
        'set logscale y',
        'plot "%s" using 1:($4>0?$4:1/0) with linespoints pt 7 ps 0.4 title "p50", '
        '"" using 1:($5>0?$5:1/0) with linespoints pt 7 ps 0.4 title "p99"' % data_path,
    ] if latency else []) + ['unset multiplot', ''])


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        result = json.load(f)
    out = argv[2]
    fmt = os.path.splitext(out)[1].lstrip('.').lower()
    if fmt not in ('svg', 'png'):
        print('plot.py: output must end in .svg or .png', file=sys.stderr)
        return 2
    st = result['settings']
    title = argv[3] if len(argv) > 3 else '%s n=%d %s' % (st['scenario'], st['n'], st['mech'])
    series = rows(result.get('series', []))
    if not series:
        print('plot.py: no series in %s' % argv[1], file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, 'series.dat')
        with open(data, 'w') as f:
            for r in series:
                f.write(' '.join('%.6g' % v for v in r) + '\n')
        gp = subprocess.run(['gnuplot'], input=script(data, out, title, fmt, any(r[4] > 0 for r in series)), text=True,
                            capture_output=True)
    if gp.returncode or not os.path.exists(out):
        print('plot.py: gnuplot failed: %s' % gp.stderr, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
