"""soak_report.py WORK PAIRS RATE: the summary (markdown) and the plot (SVG)
of bench/soak.sh's rss.csv.  The slope is a least-squares line over the
samples after the first tenth (logins and warm-up), in KiB per hour."""
import csv
import json
import sys
from pathlib import Path


def slope(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0


def svg(rows, path):
    w, h, pad = 640, 320, 48
    t_max = max(r[0] for r in rows) or 1
    v_max = max(max(r[1], r[2]) for r in rows) * 1.1 or 1
    def line(col, colour):
        pts = ' '.join('%.1f,%.1f' % (pad + r[0] / t_max * (w - 2 * pad),
                                      h - pad - r[col] / v_max * (h - 2 * pad)) for r in rows)
        return '<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' % (colour, pts)
    ticks = ''.join('<text x="%d" y="%.1f" font-size="10" text-anchor="end">%d MiB</text>'
                    % (pad - 4, h - pad - f * (h - 2 * pad) + 3, v_max * f / 1024)
                    for f in (0, 0.25, 0.5, 0.75, 1))
    path.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">'
        '<rect width="100%%" height="100%%" fill="white"/>'
        '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>%s%s%s'
        '<text x="%d" y="%d" font-size="11">seconds (0 to %d)</text>'
        '<text x="%d" y="16" font-size="11" fill="#c33">starling-cm RSS</text>'
        '<text x="%d" y="30" font-size="11" fill="#36c">starling-core RSS</text></svg>\n'
        % (w, h, pad, h - pad, w - pad, h - pad, ticks, line(1, '#c33'), line(2, '#36c'),
           w // 2 - 40, h - 12, t_max, w - 170, w - 170))


def main():
    work, pairs, rate = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    with open(work / 'rss.csv') as f:
        rows = [(int(r['seconds']), int(r['cm_kib']), int(r['core_kib'])) for r in csv.DictReader(f)]
    svg(rows, work / 'rss.svg')
    steady = rows[len(rows) // 10:] or rows
    xs = [r[0] / 3600 for r in steady]
    chat = {}
    try:
        chat = json.loads((work / 'chat.json').read_text())
    except (OSError, ValueError):
        pass
    print('| | starling-cm | starling-core |')
    print('|---|---|---|')
    print('| RSS at the start of the steady part (KiB) | %d | %d |' % (steady[0][1], steady[0][2]))
    print('| RSS at the end (KiB) | %d | %d |' % (rows[-1][1], rows[-1][2]))
    print('| peak RSS (KiB) | %d | %d |' % (max(r[1] for r in rows), max(r[2] for r in rows)))
    print('| least-squares slope, steady part (KiB/hour) | %+.0f | %+.0f |'
          % (slope(xs, [r[1] for r in steady]), slope(xs, [r[2] for r in steady])))
    print()
    c, lat = chat.get('chat', {}), chat.get('message_latency', {})
    print('%d pairs at %g msgs/s each for %d s; %d samples.' % (pairs, rate, rows[-1][0], len(rows)))
    if c:
        print('Messages: %d sent, %d delivered, %d lost, %d out of order; latency p50 %.2f ms, '
              'p99 %.2f ms, max %.1f ms.' % (c['sent'], c['delivered'], c['lost'],
                                            c['out_of_order'], lat.get('p50_ms', 0),
                                            lat.get('p99_ms', 0), lat.get('max_ms', 0)))


if __name__ == '__main__':
    main()
