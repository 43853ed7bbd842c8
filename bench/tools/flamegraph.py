#!/usr/bin/env python3
"""flamegraph.py: `perf script` text in, folded stacks or an SVG flame graph out.

usage: flamegraph.py [--folded] [--title TEXT] [--min-percent P] [FILE]
  FILE           perf script output (default: stdin)
  --folded       write "root;...;leaf COUNT" lines instead of the SVG
  --title TEXT   the SVG's title line
  --min-percent  frames narrower than this share of all samples are left out
                 of the SVG (default 0.1); the folded output keeps everything

Each sample becomes one stack, root first: the thread's name (perf's comm),
then its frames from the outermost caller to the leaf.  Offsets (`+0x1c`) are
stripped so that samples at different instructions of one function fold
together; kernel frames end in `_[k]`, as Brendan Gregg's stackcollapse-perf
marks them, so a kernel and a user function of one name stay apart.  Lines
that fit neither a sample header nor a frame are counted and skipped: a perf
with a different output format should give a warning, not a traceback.
"""
import argparse
import re
import sys
import zlib
from xml.sax.saxutils import escape, quoteattr

# "comm tid [cpu] time: period event:" and its variants: perf shows
# "pid/tid" with -F pid,tid and the CPU only for system-wide recordings.
# The comm may hold spaces, so it is everything before the first number
# that is followed by the rest of the header.
HEADER = re.compile(r'^(\S.*?)\s+(\d+)(?:/(\d+))?\s+(?:\[(\d+)\]\s+)?(\d+\.\d+):\s*(?:(\d+)\s+)?(\S+?):?(?:\s+(.*))?$')
FRAME = re.compile(r'^\s+([0-9a-fA-F]+)\s+(.*?)(?:\s+\((.*)\))?\s*$')
OFFSET = re.compile(r'\+0x[0-9a-fA-F]+$')
KERNEL_START = 0xffff800000000000

PARTS = {
    # part: (legend, base RGB)
    'kernel': ('kernel', (230, 140, 50)),
    'starling': ('starling-*', (80, 160, 220)),
    'crypto': ('libcrypto/libssl', (170, 110, 210)),
    'xml': ('libxml2', (70, 190, 150)),
    'libc': ('libc/jemalloc', (220, 80, 80)),
    'other': ('other', (170, 170, 160)),
    'comm': ('thread', (200, 200, 200)),
}


def part_of(addr, dso):
    base = dso.rsplit('/', 1)[-1]
    if addr >= KERNEL_START or dso.startswith('[kernel') or dso.endswith('kallsyms]'):
        return 'kernel'
    if base.startswith('starling-'):
        return 'starling'
    if base.startswith(('libcrypto', 'libssl')):
        return 'crypto'
    if base.startswith('libxml2'):
        return 'xml'
    if base.startswith(('libc.so', 'libc-', 'libjemalloc', 'libpthread', 'ld-linux')):
        return 'libc'
    return 'other'


def frame_of(m):
    """(name, part) of a FRAME match."""
    addr = int(m.group(1), 16)
    sym = m.group(2).strip() or '[unknown]'
    dso = (m.group(3) or '').strip()
    if sym != '[unknown]':
        sym = OFFSET.sub('', sym)
    part = part_of(addr, dso)
    if part == 'kernel':
        sym += '_[k]'
    return sym, part


def parse(lines):
    """Samples as lists of (name, part), root first; and the number of lines skipped."""
    samples, bad = [], 0
    comm, frames = None, []

    def flush():
        if comm is not None:
            samples.append([(comm, 'comm')] + frames[::-1])

    for raw in lines:
        line = raw.rstrip('\n')
        if not line.strip():
            flush()
            comm, frames = None, []
            continue
        if line.startswith('#'):
            continue
        if line[0].isspace():
            m = FRAME.match(line)
            if m and comm is not None:
                frames.append(frame_of(m))
            else:
                bad += 1
            continue
        flush()
        comm, frames = None, []
        m = HEADER.match(line)
        if not m:
            bad += 1
            continue
        comm = m.group(1)
        # Recorded without -g, perf prints the sampled IP on the header line.
        rest = m.group(8)
        if rest:
            f = FRAME.match(' ' + rest)
            if f:
                frames.append(frame_of(f))
    flush()
    return samples, bad


def name_of(frame):
    # ';' separates frames in the folded form; a C++ symbol may hold one.
    return frame[0].replace(';', ':')


def fold(samples):
    """{'root;...;leaf': count}."""
    counts = {}
    for s in samples:
        key = ';'.join(name_of(f) for f in s)
        counts[key] = counts.get(key, 0) + 1
    return counts


class Node:
    __slots__ = ('name', 'part', 'count', 'children')

    def __init__(self, name, part):
        self.name, self.part, self.count, self.children = name, part, 0, {}


def tree(samples):
    """The call tree under 'all'.  Siblings are told apart by name and part
    (kernel, libc...): without frame pointers perf's unwinding often ends in
    an [unknown] frame of whatever library the stack held, and one merged
    [unknown] would wear the colour of whichever library came first."""
    root = Node('all', 'comm')
    for s in samples:
        root.count += 1
        node = root
        for f in s:
            name = name_of(f)
            child = node.children.get((name, f[1]))
            if child is None:
                child = node.children[(name, f[1])] = Node(name, f[1])
            node = child
            node.count += 1
    return root


def colour(part, name):
    # A shade per name, stable across runs, so that neighbours of one part
    # can be told apart and the same function looks the same in two graphs.
    r, g, b = PARTS[part][1]
    d = zlib.crc32(name.encode()) % 41 - 20
    return 'rgb(%d,%d,%d)' % tuple(max(0, min(255, c + d)) for c in (r, g, b))


XML_BAD = re.compile('[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')


def text(s):
    return escape(XML_BAD.sub('?', s))


def svg(samples, title, min_percent=0.1, width=1200):
    root = tree(samples)
    total = root.count
    fh, pad_top, pad_bottom, side = 16, 48, 28, 10
    min_samples = total * min_percent / 100.0
    kept = []  # (depth, x in samples, node)

    def walk(node, depth, x):
        if node.count < min_samples and depth > 0:
            return
        kept.append((depth, x, node))
        for child in sorted(node.children.values(), key=lambda c: (c.name, c.part)):
            walk(child, depth + 1, x)
            x += child.count

    if total:
        walk(root, 0, 0)
    depth = max((d for d, _, _ in kept), default=0) + 1
    height = pad_top + depth * fh + pad_bottom
    scale = (width - 2 * side) / total if total else 0
    out = ['<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%d" height="%d" '
           'viewBox="0 0 %d %d" font-family="Verdana, sans-serif" font-size="11">'
           % (width, height, width, height),
           '<rect x="0" y="0" width="%d" height="%d" fill="#f8f8f4"/>' % (width, height),
           '<text x="%d" y="22" text-anchor="middle" font-size="15">%s</text>' % (width // 2, text(title)),
           '<text x="%d" y="40" text-anchor="middle" fill="#555">%s samples; width is the share of '
           'samples, the leaf frame at the top was on the CPU; frames under %.2g%% left out</text>'
           % (width // 2, '{:,}'.format(total), min_percent)]
    lx = side
    for part in ('kernel', 'starling', 'crypto', 'xml', 'libc', 'other'):
        label, rgb = PARTS[part]
        out.append('<rect x="%d" y="%d" width="12" height="12" fill="rgb(%d,%d,%d)"/>'
                   '<text x="%d" y="%d">%s</text>' % (lx, height - 18, *rgb, lx + 16, height - 8, text(label)))
        lx += 30 + 7 * len(label)
    for d, x, node in kept:
        w = node.count * scale
        px = side + x * scale
        py = pad_top + (depth - 1 - d) * fh
        name = node.name
        tip = '%s (%s sample%s, %.2f%%)' % (name, '{:,}'.format(node.count), '' if node.count == 1 else 's',
                                          100.0 * node.count / total)
        out.append('<g><title>%s</title><rect x="%.2f" y="%d" width="%.2f" height="%d" '
                   'fill="%s" rx="2" data-samples="%d" data-part="%s"/>'
                   % (text(tip), px, py, max(w - 0.5, 0.1), fh - 1, colour(node.part, name), node.count,
                      node.part))
        chars = int((w - 6) / 6.5)
        if chars >= 3:
            label = name if len(name) <= chars else name[:chars - 2] + '..'
            out.append('<text x="%.2f" y="%d">%s</text>' % (px + 3, py + fh - 4, text(label)))
        out.append('</g>')
    out.append('</svg>')
    return '\n'.join(out) + '\n'


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('file', nargs='?')
    ap.add_argument('--folded', action='store_true')
    ap.add_argument('--title', default='Flame graph')
    ap.add_argument('--min-percent', type=float, default=0.1)
    args = ap.parse_args(argv)
    if args.file:
        with open(args.file, encoding='utf-8', errors='replace') as f:
            samples, bad = parse(f)
    else:
        samples, bad = parse(open(sys.stdin.fileno(), encoding='utf-8', errors='replace', closefd=False))
    if bad:
        print('flamegraph.py: skipped %d line(s) that are neither a sample header nor a frame' % bad,
              file=sys.stderr)
    if args.folded:
        counts = fold(samples)
        sys.stdout.write(''.join('%s %d\n' % (k, counts[k]) for k in sorted(counts)))
    else:
        sys.stdout.write(svg(samples, args.title, args.min_percent))
    return 0


if __name__ == '__main__':
    sys.exit(main())
