#!/usr/bin/python3
"""Render a bench/suite.sh run into markdown and put it in the results file.

usage: bench/results.py WORKDIR OUT.md --servers starling[,prosody,...]

Single server (make bench): one table row per scenario from WORKDIR/*.json,
plots copied beside OUT (OUT's dir/bench/NAME.svg).  Several servers (make
bench-compare): the side-by-side tables `starling-bench compare` wrote
(WORKDIR/NAME.md), and for the fixed-rate runs, which the suite runs alone
against each server, a table built here from WORKDIR/NAME-SERVER.json.  The
regression guard's table (WORKDIR/guard.md, bench/guard.py) follows the single
server's.  Either way the section between the begin/end markers in OUT is
replaced (appended when missing), with the date, the machine and the exact
commands (WORKDIR/commands.txt)."""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess

SCENARIOS = ['idle', 'login-scram', 'login-plain', 'login-sasl2', 'chat-small', 'chat-big',
             'presence', 'chat-5k-small', 'chat-5k-big']


def machine():
    model = 'unknown CPU'
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2 ** 30
    return '%d x %s, %.0f GiB, Linux %s' % (os.cpu_count(), model, mem, platform.release())


def git_rev():
    try:
        return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def fmt(v, digits=3):
    if v is None or (isinstance(v, (int, float)) and v < 0):
        return 'n/a'
    if isinstance(v, float):
        return ('%.' + str(digits) + 'g') % v if abs(v) < 100 else '{:,.0f}'.format(v)
    return '{:,}'.format(v)


def best_step(d):
    """The passing step with the highest delivered rate, or None."""
    ok = [s for s in d.get('steps', []) if not s['behind'] and not s['over_bound']]
    return max(ok, key=lambda s: s['delivered_per_s']) if ok else None


def per_delivery(step, key):
    return step[key] * 1e6 / step['delivered'] if step and step['delivered'] and step[key] >= 0 \
        else None


def by_process(values):
    """' (cm 0.52 + core 0.04)' for Starling's two processes (the suite passes
    the cm's PID first); nothing for one process."""
    if len(values) != 2:
        return ''
    return ' (cm %s + core %s)' % (fmt(values[0]), fmt(values[1]))


def row(name, d):
    st, lg = d['settings'], d['login']
    what = '%s, n=%d' % (st['scenario'], st['n'])
    cpu = d['server_cpu']
    figs = ['logins %d/%d at %s/s (p99 %s ms)' % (lg['ok'], lg['attempted'],
            fmt(lg['rate_per_s']), fmt(d['login_latency']['p99_ms'])),
            'server %s ms/login%s (bench %s)' % (fmt(cpu['ms_per_login']),
                                                by_process(cpu['ms_per_login_by_pid']),
                                                fmt(d['bench_self']['ms_per_login']))]
    if st['scenario'] == 'login':
        what += ', %s%s, %d concurrent' % (st['mech'], ' over SASL2' if st.get('sasl2') else '',
                                            st['concurrency'])
    if st['scenario'] == 'idle':
        figs.insert(0, '**%s KiB per idle session** (server RSS %s → %s KiB); bench %s KiB/conn'
                    % (fmt(d['idle']['kib_per_conn']), fmt(d['idle']['rss_before_kib']),
                       fmt(d['idle']['rss_at_n_kib']), fmt(d['bench_self']['kib_per_conn'])))
    if fixed_rate(d):
        figs.insert(0, fixed_figures(d))
        what += ' (%d pairs), %s msgs/s offered' % (d['chat']['pairs'], fmt(offered(d)))
    elif st['scenario'] in ('chat', 'presence'):
        t = d[st['scenario']]
        b = best_step(d)
        if st['scenario'] == 'chat':
            what += ' (%d pairs)' % t['pairs']
        else:
            what += ' (%d contacts)' % t['contacts']
        figs.insert(0, '**%s deliveries/s sustained at p99 ≤ %s ms** (p99 %s ms); server %s µs, '
                    'bench %s µs per delivery at that step; over the whole run server %s µs%s '
                    'per delivery; %d step(s), lost %d' % (
                        fmt(t['sustained_per_s']), fmt(st['p99_bound_ms']),
                        fmt(b['p99_ms']) if b else 'n/a', fmt(per_delivery(b, 'server_cpu_s')),
                        fmt(per_delivery(b, 'bench_cpu_s')), fmt(cpu['us_per_delivery']),
                        by_process(cpu['us_per_delivery_by_pid']), len(d['steps']), t['lost']))
    ok = 'yes' if d['ok'] else 'no'
    return '| %s | %s | %s | %s |' % (name, what, '; '.join(figs), ok)


def fixed_rate(d):
    """A chat run at one rate (no --step): read for its figures at that
    load rather than for the highest rate it sustains."""
    return d['settings']['scenario'] == 'chat' and not d['settings']['step'] > 1


def offered(d):
    return d['settings']['rate'] * d['chat']['pairs']


def fixed_figures(d):
    lat, cpu = d['message_latency'], d['server_cpu']
    return ('**%s deliveries/s, p99 %s ms** (p50 %s, p99.9 %s ms); server %s µs%s per delivery, '
            'bench %s µs; lost %d' % (
                fmt(d['chat']['delivered_per_s']), fmt(lat['p99_ms']), fmt(lat['p50_ms']),
                fmt(lat['p99_9_ms']), fmt(cpu['us_per_delivery']),
                by_process(cpu['us_per_delivery_by_pid']), fmt(d['bench_self']['us_per_delivery']),
                d['chat']['lost']))


def single(work, out_dir):
    lines = ['| run | scenario | figures | clean |', '|---|---|---|---|']
    plots = []
    for name in SCENARIOS:
        p = os.path.join(work, name + '.json')
        if not os.path.exists(p):
            continue
        with open(p) as f:
            lines.append(row(name, json.load(f)))
        svg = os.path.join(work, name + '.svg')
        if os.path.exists(svg):
            dst_dir = os.path.join(out_dir, 'bench')
            os.makedirs(dst_dir, exist_ok=True)
            shutil.copy(svg, os.path.join(dst_dir, name + '.svg'))
            plots.append('[%s](bench/%s.svg)' % (name, name))
    if plots:
        lines += ['', 'Plots (rate and latency over time): ' + ', '.join(plots) + '.']
    guard = os.path.join(work, 'guard.md')
    if os.path.exists(guard):
        with open(guard) as f:
            lines += ['', '#### Against the previous run (regression guard)', '', f.read().strip()]
    return lines


def ratio_cell(v, base, text):
    if v is None or v < 0:
        return 'n/a'
    return text if base is None or base <= 0 else '%s (%.2fx)' % (text, v / base)


def fixed_table(work, name, servers):
    """Side by side, in compare's layout (ratios to the first server), from
    each server's own run of a fixed-rate scenario."""
    runs = []
    for srv in servers:
        p = os.path.join(work, '%s-%s.json' % (name, srv))
        if os.path.exists(p):
            with open(p) as f:
                runs.append((srv, json.load(f)))
    if not runs:
        return []
    rows = [
        ('offered msgs/s', lambda d: offered(d), None),
        ('delivered/s', lambda d: d['chat']['delivered_per_s'], None),
        ('delivery p50 ms', lambda d: d['message_latency']['p50_ms'], None),
        ('delivery p99 ms', lambda d: d['message_latency']['p99_ms'], None),
        ('delivery p99.9 ms', lambda d: d['message_latency']['p99_9_ms'], None),
        ('server CPU µs/delivery', lambda d: d['server_cpu']['us_per_delivery'],
         lambda srv, d: by_process(d['server_cpu']['us_per_delivery_by_pid'])
         if srv == 'starling' else ''),
        ('bench CPU µs/delivery', lambda d: d['bench_self']['us_per_delivery'], None),
        ('lost', lambda d: d['chat']['lost'], None),
        ('errors', lambda d: d['errors'], None),
    ]
    lines = ['| figure (one run each) | ' + ' | '.join(s for s, _ in runs) + ' |',
             '|---|' + '---|' * len(runs)]
    for label, get, extra in rows:
        base = get(runs[0][1])
        cells = []
        for i, (srv, d) in enumerate(runs):
            v = get(d)
            text = fmt(v) + (extra(srv, d) if extra else '')
            cells.append(ratio_cell(v, base if i and label not in ('lost', 'errors') else None,
                                    text))
        lines.append('| %s | %s |' % (label, ' | '.join(cells)))
    return lines


def compare(work, servers):
    lines = []
    for name in SCENARIOS:
        p = os.path.join(work, name + '.md')
        if os.path.exists(p):
            with open(p) as f:
                lines += ['#### ' + name, f.read().strip(), '']
        else:
            table = fixed_table(work, name, servers)
            if table:
                lines += ['#### ' + name] + table + ['']
    return lines


def replace_section(path, marker, body):
    begin, end = '<!-- %s begin -->' % marker, '<!-- %s end -->' % marker
    text = open(path).read() if os.path.exists(path) else ''
    block = begin + '\n' + body.rstrip() + '\n' + end
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + '\n\n' + block + '\n'
    with open(path, 'w') as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('work')
    ap.add_argument('out')
    ap.add_argument('--servers', default='starling')
    a = ap.parse_args()
    servers = a.servers.split(',')
    many = len(servers) > 1
    when = datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC')
    head = ['Run %s on %s, commit %s, by `%s` (bench/suite.sh).' % (
        when, machine(), git_rev(), 'make bench-compare' if many else 'make bench')]
    body = compare(a.work, servers) if many else single(a.work, os.path.dirname(os.path.abspath(a.out)))
    with open(os.path.join(a.work, 'commands.txt')) as f:
        cmds = f.read().strip()
    text = '\n'.join(head + [''] + body + ['', 'Commands, in order:', '', '```', cmds, '```'])
    replace_section(a.out, 'bench:compare' if many else 'bench:starling', text)


if __name__ == '__main__':
    main()
