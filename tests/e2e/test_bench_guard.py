"""The bench suite's regression guard (bench/guard.py, issue 12) on synthetic
figures: what it flags, what it keeps, and that it never fails the run.  The
suite's own --quick run (test_bench.py) checks the guard end to end."""
import importlib.util
import json
import subprocess

import pytest

from conftest import REPO

GUARD = REPO / 'bench' / 'guard.py'


@pytest.fixture(scope='module')
def guard():
    spec = importlib.util.spec_from_file_location('guard', GUARD)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def verdicts(guard, before, measured):
    baseline = {'current': {name: {'date': 'd', 'commit': 'c', 'figures': figs}
                            for name, figs in before.items()}}
    return {(r[0], r[1]): r[5] for r in guard.compare(baseline, measured)}


CPU = 'server CPU µs/delivery'


def test_cpu_25_percent_worse_is_flagged(guard):
    v = verdicts(guard, {'chat-small': {'server_us_per_delivery': 40.0}},
                 {'chat-small': {'server_us_per_delivery': 50.0}})
    assert v[('chat-small', CPU)] == 'REGRESSION'


def test_cpu_15_percent_worse_is_not(guard):
    v = verdicts(guard, {'chat-small': {'server_us_per_delivery': 40.0}},
                 {'chat-small': {'server_us_per_delivery': 46.0}})
    assert v[('chat-small', CPU)] == ''


def test_cpu_falling_is_not_a_regression(guard):
    v = verdicts(guard, {'presence': {'server_us_per_delivery': 5.0}},
                 {'presence': {'server_us_per_delivery': 2.0}})
    assert v[('presence', CPU)] == ''


def test_memory_and_login_cost_rising_are_flagged(guard):
    v = verdicts(guard, {'idle': {'server_kib_per_session': 15.8},
                         'login-scram': {'server_ms_per_login': 0.72}},
                 {'idle': {'server_kib_per_session': 20.0},
                  'login-scram': {'server_ms_per_login': 0.80}})
    assert v[('idle', 'server KiB/idle session')] == 'REGRESSION'   # +27 %
    assert v[('login-scram', 'server CPU ms/login')] == ''          # +11 %


def test_rate_falling_25_percent_is_flagged(guard):
    """Lower is worse for a rate, higher for latency."""
    before = {'chat-5k-small': {'delivered_per_s': 5000.0, 'p99_ms': 1.0,
                                'server_us_per_delivery': 20.0}}
    v = verdicts(guard, before, {'chat-5k-small': {'delivered_per_s': 3750.0, 'p99_ms': 1.3,
                                                   'server_us_per_delivery': 20.0}})
    assert v[('chat-5k-small', 'delivered/s')] == 'REGRESSION'
    assert v[('chat-5k-small', 'p99 latency ms')] == 'REGRESSION'
    assert v[('chat-5k-small', CPU)] == ''
    v = verdicts(guard, before, {'chat-5k-small': {'delivered_per_s': 6500.0, 'p99_ms': 0.5,
                                                   'server_us_per_delivery': 20.0}})
    assert v[('chat-5k-small', 'delivered/s')] == ''
    assert v[('chat-5k-small', 'p99 latency ms')] == ''


def test_missing_previous_figure_is_new(guard):
    v = verdicts(guard, {'chat-small': {'server_us_per_delivery': 40.0}},
                 {'chat-small': {'server_us_per_delivery': 90.0},
                  'chat-5k-big': {'server_us_per_delivery': 20.0}})
    assert v[('chat-5k-big', CPU)] == 'new'
    assert v[('chat-small', CPU)] == 'REGRESSION'
    assert verdicts(guard, {}, {'idle': {'server_kib_per_session': 1.0}}) == {
        ('idle', 'server KiB/idle session'): 'new'}


def test_unmeasured_figures_are_left_out(guard):
    """-1 (no --pids, a PID gone) is no figure, never a 100 % improvement."""
    data = {'server_cpu': {'us_per_delivery': -1, 'ms_per_login': 0.5},
            'message_latency': {'p99_ms': 0.8}, 'chat': {'delivered_per_s': 5000}}
    assert guard.figures_of('chat-5k-big', data) == {'p99_ms': 0.8, 'delivered_per_s': 5000}
    assert guard.figures_of('login-plain', data) == {'server_ms_per_login': 0.5}


def test_update_keeps_the_previous_run(guard):
    base = {'comment': 'kept', 'current': {
        'idle': {'date': 'd0', 'commit': 'a', 'figures': {'server_kib_per_session': 15.8}},
        'presence': {'date': 'd0', 'commit': 'a', 'figures': {'server_us_per_delivery': 5.4}}},
        'previous': {}}
    new = guard.update(base, {'idle': {'server_kib_per_session': 16.0}}, 'd1', 'b')
    assert new['comment'] == 'kept'
    assert new['current']['idle'] == {'date': 'd1', 'commit': 'b',
                                      'figures': {'server_kib_per_session': 16.0}}
    assert new['previous']['idle']['figures'] == {'server_kib_per_session': 15.8}
    # a scenario this run did not measure (--only) keeps its figures
    assert new['current']['presence'] == base['current']['presence']
    assert 'presence' not in new['previous']


def _result(us, p99, rate):
    return {'settings': {'scenario': 'chat', 'step': 0},
            'server_cpu': {'us_per_delivery': us, 'ms_per_login': 0.7},
            'message_latency': {'p99_ms': p99}, 'chat': {'delivered_per_s': rate}}


def test_guard_run_marks_but_never_fails(tmp_path):
    """The tool itself: a regression is in the table and the markdown, the
    exit status is 0, and the baseline moves on (or stays, --no-update)."""
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'chat-5k-small.json').write_text(json.dumps(_result(30.0, 1.0, 5000.0)))
    (work / 'chat-5k-big.json').write_text(json.dumps(_result(20.0, 1.0, 5000.0)))
    baseline = tmp_path / 'baseline.json'
    seed = {'current': {'chat-5k-small': {'date': 'then', 'commit': 'abc1234', 'figures': {
        'server_us_per_delivery': 20.0, 'p99_ms': 1.0, 'delivered_per_s': 5000.0}}},
        'previous': {}}
    baseline.write_text(json.dumps(seed))

    r = subprocess.run(['/usr/bin/python3', str(GUARD), str(work), str(baseline), '--no-update'],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(baseline.read_text()) == seed

    r = subprocess.run(['/usr/bin/python3', str(GUARD), str(work), str(baseline)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    cpu = next(l for l in lines if l.startswith('chat-5k-small: server CPU'))
    assert '+50.0 %' in cpu and cpu.endswith('REGRESSION')
    assert next(l for l in lines if l.startswith('chat-5k-big: server CPU')).endswith('new')
    assert next(l for l in lines if l.startswith('chat-5k-small: p99')).endswith('+0.0 %')
    md = (work / 'guard.md').read_text()
    assert '| chat-5k-small: server CPU µs/delivery | 20 (abc1234 then) | 30 | +50.0 % | ' \
           '**REGRESSION** |' in md
    assert '1 figure(s) more than 20 % worse' in md
    after = json.loads(baseline.read_text())
    assert after['previous']['chat-5k-small'] == seed['current']['chat-5k-small']
    assert after['current']['chat-5k-small']['figures']['server_us_per_delivery'] == 30.0
    assert after['current']['chat-5k-big']['figures']['delivered_per_s'] == 5000.0


def test_committed_baseline_is_readable(guard):
    """bench/baseline.json names only figures the guard knows."""
    data = json.loads((REPO / 'bench' / 'baseline.json').read_text())
    for part in ('current', 'previous'):
        for name, entry in data[part].items():
            keys = {k for k, *_ in guard.FIGURES[name]}
            assert set(entry['figures']) <= keys, name
            assert entry['date'] and entry['commit']
