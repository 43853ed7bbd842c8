#!/usr/bin/python3
"""The bench suite's regression guard (issue 12): compare a run's headline
figures with the previous run's and keep both.

usage: bench/guard.py WORKDIR BASELINE.json [--no-update]

Reads WORKDIR/<scenario>.json (a `make bench` run), prints a table of figure,
previous, now and change on stderr, writes it as markdown to WORKDIR/guard.md
(bench/results.py puts that into the results section), and records the new
figures in BASELINE.json: for each scenario measured, what was `current`
becomes `previous`.  Scenarios this run did not measure (--only) keep theirs.

A figure more than THRESHOLD worse than before is marked REGRESSION.  The exit
status stays 0 all the same: the bench machine is noisy, so the guard makes a
change visible rather than failing the run on it."""
import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results import git_rev  # noqa: E402 (bench/results.py, beside this file)

THRESHOLD = 0.20


def _kib_per_session(d):
    return d['idle']['kib_per_conn']


def _ms_per_login(d):
    return d['server_cpu']['ms_per_login']


def _us_per_delivery(d):
    return d['server_cpu']['us_per_delivery']


def _p99_ms(d):
    return d['message_latency']['p99_ms']


def _delivered_per_s(d):
    return d['chat']['delivered_per_s']


# scenario -> [(key, label, which way is worse, extractor)]
_CPU = ('server_us_per_delivery', 'server CPU µs/delivery', 'higher', _us_per_delivery)
_LOGIN = ('server_ms_per_login', 'server CPU ms/login', 'higher', _ms_per_login)
_FIXED = [_CPU, ('p99_ms', 'p99 latency ms', 'higher', _p99_ms),
          # the offered rate is fixed, so fewer deliveries a second means
          # the server fell behind it
          ('delivered_per_s', 'delivered/s', 'lower', _delivered_per_s)]
FIGURES = {
    'idle': [('server_kib_per_session', 'server KiB/idle session', 'higher', _kib_per_session)],
    'login-scram': [_LOGIN],
    'login-plain': [_LOGIN],
    'login-sasl2': [_LOGIN],
    'chat-small': [_CPU],
    'chat-big': [_CPU],
    'presence': [_CPU],
    'chat-5k-small': _FIXED,
    'chat-5k-big': _FIXED,
}


def figures_of(name, data):
    """{key: value} of one scenario's result; unmeasured figures (-1, or
    missing from the JSON) are left out, so they never count as a change."""
    out = {}
    for key, _label, _worse, get in FIGURES.get(name, []):
        try:
            v = get(data)
        except (KeyError, TypeError):
            continue
        if isinstance(v, (int, float)) and v >= 0:
            out[key] = v
    return out


def judge(prev, now, worse):
    """(change as a fraction or None, verdict): verdict is 'new' without a
    previous figure, 'REGRESSION' when the figure moved more than THRESHOLD
    the bad way, '' otherwise."""
    if prev is None:
        return None, 'new'
    if now is None:
        return None, 'not measured'
    if prev == 0:
        change = 0.0 if now == 0 else float('inf')
    else:
        change = (now - prev) / prev
    bad = change if worse == 'higher' else -change
    return change, 'REGRESSION' if bad > THRESHOLD else ''


def compare(baseline, measured):
    """Rows (scenario, label, previous, now, change, verdict, previous run)
    for every figure measured now, in the suite's order."""
    current = baseline.get('current', {})
    rows = []
    for name, figs in FIGURES.items():
        if name not in measured:
            continue
        before = current.get(name, {})
        when = ' '.join(x for x in (before.get('commit'), before.get('date')) if x)
        for key, label, worse, _get in figs:
            prev = before.get('figures', {}).get(key)
            now = measured[name].get(key)
            if prev is None and now is None:
                continue
            change, verdict = judge(prev, now, worse)
            rows.append((name, label, prev, now, change, verdict, when))
    return rows


def update(baseline, measured, date, commit):
    """The baseline after this run: each measured scenario's figures become
    current, the ones they replace previous."""
    cur = dict(baseline.get('current', {}))
    prev = dict(baseline.get('previous', {}))
    for name, figs in measured.items():
        if not figs:
            continue
        if name in cur:
            prev[name] = cur[name]
        cur[name] = {'date': date, 'commit': commit, 'figures': figs}
    out = {k: v for k, v in baseline.items() if k not in ('current', 'previous')}
    out['current'], out['previous'] = cur, prev
    return out


def _num(v):
    if v is None:
        return '-'
    return '%.3g' % v if abs(v) < 1000 else '{:,.0f}'.format(v)


def _pct(change):
    if change is None:
        return '-'
    if change == float('inf'):
        return '+inf'
    return '%+.1f %%' % (change * 100)


def markdown(rows):
    lines = ['| figure | previous | now | change | |', '|---|---|---|---|---|']
    for name, label, prev, now, change, verdict, when in rows:
        mark = '**REGRESSION**' if verdict == 'REGRESSION' else verdict
        lines.append('| %s: %s | %s | %s | %s | %s |' % (
            name, label, _num(prev) + (' (%s)' % when if when and prev is not None else ''),
            _num(now), _pct(change), mark))
    return '\n'.join(lines)


def text(rows):
    width = max([len('%s: %s' % r[:2]) for r in rows] + [6])
    out = ['%-*s %12s %12s %10s' % (width, 'figure', 'previous', 'now', 'change')]
    for name, label, prev, now, change, verdict, _when in rows:
        line = '%-*s %12s %12s %10s  %s' % (width, '%s: %s' % (name, label), _num(prev),
                                            _num(now), _pct(change), verdict)
        out.append(line.rstrip())
    return '\n'.join(out)


def measured_in(work):
    measured = {}
    for name in FIGURES:
        p = os.path.join(work, name + '.json')
        if os.path.exists(p):
            with open(p) as f:
                measured[name] = figures_of(name, json.load(f))
    return measured


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('work')
    ap.add_argument('baseline')
    ap.add_argument('--no-update', action='store_true',
                    help='compare only; leave BASELINE as it is')
    a = ap.parse_args()
    baseline = {}
    if os.path.exists(a.baseline):
        with open(a.baseline) as f:
            baseline = json.load(f)
    measured = measured_in(a.work)
    rows = compare(baseline, measured)
    worse = sum(r[5] == 'REGRESSION' for r in rows)
    print('regression guard against %s (more than %d %% worse is a REGRESSION):'
          % (a.baseline, THRESHOLD * 100), file=sys.stderr)
    print(text(rows), file=sys.stderr)
    summary = ('%d figure(s) more than %d %% worse than the previous run.' % (worse, THRESHOLD * 100)
               if worse else 'No figure more than %d %% worse than the previous run.'
               % (THRESHOLD * 100))
    print(summary, file=sys.stderr)
    with open(os.path.join(a.work, 'guard.md'), 'w') as f:
        f.write('Figures of this run against the previous run\'s in `%s` (bench/guard.py); '
                'more than %d %% worse is marked REGRESSION.\n\n' % (a.baseline, THRESHOLD * 100)
                + markdown(rows) + '\n\n' + summary + '\n')
    if not a.no_update:
        date = datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC')
        new = update(baseline, measured, date, git_rev())
        tmp = a.baseline + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(new, f, indent=2, sort_keys=False, ensure_ascii=False)
            f.write('\n')
        os.replace(tmp, a.baseline)


if __name__ == '__main__':
    main()
