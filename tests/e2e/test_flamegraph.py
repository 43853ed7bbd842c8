"""bench/tools/flamegraph.py (issue 12's flame graphs) on canned `perf script`
text: the folded stacks exactly, the SVG's frames and their sample counts,
and lines it cannot read skipped with a warning instead of a traceback.
No perf and no server: bench/flame.sh is what runs them for real."""
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'bench' / 'tools' / 'flamegraph.py'
SVG_NS = '{http://www.w3.org/2000/svg}'

# Leaf first, as perf prints them.  The headers cover a per-process recording
# (comm tid), a system-wide one (pid/tid and [cpu]) and a comm with spaces.
CM = """starling-cm 4242 1000.000100:    1001001 cpu-clock:pppH: 
\tffffffff81a0c0de _raw_spin_unlock_irqrestore+0x1e ([kernel.kallsyms])
\tffffffff81a0b000 io_submit_sqes+0x2f0 ([kernel.kallsyms])
\t           2f1a0 io_uring_submit_and_wait_timeout+0x40 (/usr/lib/x86_64-linux-gnu/liburing.so.2.3)
\t          41b2c3 worker_turn+0x1c (/work/bin/starling-cm)
\t          41a000 worker_main+0x99 (/work/bin/starling-cm)

"""
XML = """starling-cm 4242/4243 [001] 1000.001100:    1001001 cpu-clock:pppH: 
\t            8a10 xmlParseChunk+0x10 (/usr/lib/x86_64-linux-gnu/libxml2.so.2.9.14)
\t          41c000 xs_feed+0x200 (/work/bin/starling-cm)
\t          41a000 worker_main+0x12 (/work/bin/starling-cm)

"""
CRYPTO = """cm worker 1 4242/4244 [000] 1000.002100: 1001001 cpu-clock:pppH:
\t          1a2b3c aesni_gcm_encrypt+0x7 (/usr/lib/x86_64-linux-gnu/libcrypto.so.3)
\t            beef [unknown] (/usr/lib/x86_64-linux-gnu/libcrypto.so.3)
\t           9a1b2 operator new(unsigned long)+0x1c (/usr/lib/x86_64-linux-gnu/libstdc++.so.6)
\t           12345 a;b+0x1 (/work/bin/starling-cm)

"""
MALLOC = """starling-cm 4242 1000.003100: 1001001 cpu-clock:pppH: 
\t           33333 je_malloc_default+0x5 (/usr/lib/x86_64-linux-gnu/libjemalloc.so.2)
\t           44444 malloc+0x14 (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t          41a000 worker_main+0x1 (/work/bin/starling-cm)
"""

FOLDED = """\
cm worker 1;a:b;operator new(unsigned long);[unknown];aesni_gcm_encrypt 1
starling-cm;worker_main;malloc;je_malloc_default 1
starling-cm;worker_main;worker_turn;io_uring_submit_and_wait_timeout;io_submit_sqes_[k];_raw_spin_unlock_irqrestore_[k] 3
starling-cm;worker_main;xs_feed;xmlParseChunk 2
"""


def tool(args, stdin):
    return subprocess.run([sys.executable, str(TOOL)] + args, input=stdin, capture_output=True,
                          text=True, check=True, timeout=60)


def frames(svg_text):
    """(name, samples, fill, part) of every frame rectangle, from its tooltip."""
    root = ET.fromstring(svg_text)
    out = []
    for g in root.iter(SVG_NS + 'g'):
        title = g.find(SVG_NS + 'title').text
        rect = g.find(SVG_NS + 'rect')
        name, rest = title.rsplit(' (', 1)
        n = int(rest.split(' ')[0].replace(',', ''))
        assert int(rect.get('data-samples')) == n, title
        assert float(rect.get('width')) > 0, title
        out.append((name, n, rect.get('fill'), rect.get('data-part')))
    return out


def test_folded_exactly():
    perf = CM * 3 + XML * 2 + CRYPTO + MALLOC
    r = tool(['--folded'], perf)
    assert r.stdout == FOLDED
    assert r.stderr == ''


def test_folded_from_a_file(tmp_path):
    f = tmp_path / 'perf.txt'
    f.write_text(CM * 3 + XML * 2 + CRYPTO + MALLOC)
    assert tool(['--folded', str(f)], '').stdout == FOLDED


def test_svg_frames_and_counts():
    # 2,000 samples: the cm's 1,997 under worker_main, one crypto sample and
    # one malloc sample; each of the last two is 0.05 %, under the 0.1 % cut.
    perf = CM * 1000 + XML * 997 + CRYPTO + MALLOC + XML
    r = tool(['--title', 'cm <at> 50 pairs & more'], perf)
    root = ET.fromstring(r.stdout)
    assert root.tag == SVG_NS + 'svg'
    assert any(t.text == 'cm <at> 50 pairs & more' for t in root.iter(SVG_NS + 'text'))
    got = sorted((name, n) for name, n, _, _ in frames(r.stdout))
    assert got == sorted([
        ('all', 2000),
        ('starling-cm', 1999),
        ('worker_main', 1999),
        ('worker_turn', 1000),
        ('io_uring_submit_and_wait_timeout', 1000),
        ('io_submit_sqes_[k]', 1000),
        ('_raw_spin_unlock_irqrestore_[k]', 1000),
        ('xs_feed', 998),
        ('xmlParseChunk', 998),
    ]), got
    # Widths are proportional to samples: worker_turn is 1000/2000 of 'all'.
    widths = {}
    for g in root.iter(SVG_NS + 'g'):
        widths[g.find(SVG_NS + 'title').text.rsplit(' (', 1)[0]] = float(g.find(SVG_NS + 'rect').get('width'))
    assert abs(widths['worker_turn'] / widths['all'] - 0.5) < 0.01, widths


def test_svg_colours_by_part():
    r = tool(['--min-percent', '0'], CM + XML + CRYPTO + MALLOC)
    got = frames(r.stdout)
    fill = {name: f for name, _, f, _ in got}
    assert {name: part for name, _, _, part in got} == {
        'all': 'comm', 'starling-cm': 'comm', 'cm worker 1': 'comm',
        'worker_main': 'starling', 'worker_turn': 'starling', 'xs_feed': 'starling', 'a:b': 'starling',
        'io_uring_submit_and_wait_timeout': 'other', 'operator new(unsigned long)': 'other',
        'io_submit_sqes_[k]': 'kernel', '_raw_spin_unlock_irqrestore_[k]': 'kernel',
        'xmlParseChunk': 'xml', '[unknown]': 'crypto', 'aesni_gcm_encrypt': 'crypto',
        'malloc': 'libc', 'je_malloc_default': 'libc'}

    def hue(name):
        # The base colours differ in which channel leads; the per-name shade
        # moves all three channels together and keeps that order.
        rgb = [int(c) for c in fill[name][4:-1].split(',')]
        return tuple(sorted(range(3), key=lambda i: rgb[i]))

    assert hue('io_submit_sqes_[k]') == hue('_raw_spin_unlock_irqrestore_[k]')  # kernel
    assert hue('worker_main') == hue('xs_feed')                                 # starling-*
    assert hue('malloc') == hue('je_malloc_default')                           # libc/jemalloc
    parts = ['io_submit_sqes_[k]', 'worker_main', 'aesni_gcm_encrypt', 'xmlParseChunk', 'malloc']
    assert len({hue(p) for p in parts}) == len(parts), fill


def test_malformed_lines_are_skipped():
    junk = ("this is not perf output\n"
            "\tdeadbeef frame_before_any_header (/lib/x.so)\n\n"
            "starling-cm 4242 1000.0: 1001001 cpu-clock:\n"
            "\tnot-hex-at-all\n"
            "\t41a000 worker_main+0x1 (/work/bin/starling-cm)\n\n"
            "starling-cm 4242\n\n"
            "\x00\x01\x02 binary\n")
    r = tool(['--folded'], CM + junk + XML)
    assert 'skipped 5 line' in r.stderr, r.stderr
    assert r.stdout == (
        'starling-cm;worker_main 1\n'
        'starling-cm;worker_main;worker_turn;io_uring_submit_and_wait_timeout;'
        'io_submit_sqes_[k];_raw_spin_unlock_irqrestore_[k] 1\n'
        'starling-cm;worker_main;xs_feed;xmlParseChunk 1\n')
    ET.fromstring(tool([], CM + junk + XML).stdout)
    r = tool([], '')
    assert ET.fromstring(r.stdout).tag == SVG_NS + 'svg'


def test_unknown_frames_of_different_libraries_stay_apart():
    # Without frame pointers perf's walk often ends in an [unknown] of some
    # library; one merged frame would be drawn in the first library's colour.
    ssl = "starling-cm 4242 1000.1: 1001001 cpu-clock:\n\t1 [unknown] (/usr/lib/x86_64-linux-gnu/libssl.so.3)\n\n"
    uring = "starling-cm 4242 1000.2: 1001001 cpu-clock:\n\t2 [unknown] (/usr/lib/x86_64-linux-gnu/liburing.so.2)\n\n"
    got = frames(tool([], ssl + uring * 3).stdout)
    assert sorted((name, n, part) for name, n, _, part in got) == [
        ('[unknown]', 1, 'crypto'), ('[unknown]', 3, 'other'), ('all', 4, 'comm'), ('starling-cm', 4, 'comm')]
    assert tool(['--folded'], ssl + uring * 3).stdout == 'starling-cm;[unknown] 4\n'
