#!/usr/bin/env python3
"""pgo_raw.py - the pgo_*.sh tests' exact oracle on sample values, read through Go's own
pprof (`go tool pprof -raw`), so no cpgo code judges cpgo.

A sample's key is its stack as Go prints it: per location, every line's function name and
file:line (addresses and columns left out: cpgo's trimming zeroes them, and the tests feed
it files trimmed alike). Values are all of a sample's values, in the file's order.

  pgo_raw.py expect PUB [--rename NAME]... SPEC...
      SPEC is NUM/DEN:FILE (or FILE for 1/1). The expected profile is the sum over SPECs of
      every sample of FILE with each value scaled by NUM/DEN and rounded to the nearest
      integer, halves away from zero (cpgo_merge_add_scaled, the README's rule), a sample
      whose scaled values are all zero dropped; keys summed; all-zero sums dropped.
      ~NUM/DEN:FILE is decay (cpgo_scale.decay_seed): a scaled sample whose first value
      (samples/count, what the compiler reads) rounds to zero is dropped whole, and a count
      the nearest integer would leave unchanged may go down by one (cpgo's seeded dither):
      the published count may be that much lower, and the sample may be gone when its count
      can reach zero; everything else exact.
      ?NUM/DEN:FILE is a weight (cpgo_scale.weight_seed): each sample's first value is
      rounded down or up (unbiased, seeded), the others to the nearest; a sample is dropped
      only when every value is zero.
      Functions named by --rename are expected as "DO NOT INLINE: NAME". Exit 0 when PUB
      holds exactly that (same keys, same values), else 1 with the first differences.
  pgo_raw.py total FILE        the sum of the first value (samples/count)
  pgo_raw.py rows FILE         the number of distinct sample keys
  pgo_raw.py names FILE        every function name, one per line
  pgo_raw.py edges FILE [OLD=NEW]...
      `go tool preprofile -i FILE`'s edges, one per line, sorted: caller TAB callee TAB
      call-site offset TAB weight; a function named OLD printed as NEW
  pgo_raw.py hot FILE          the hot edges (cmd/compile's 99% CDF cut over preprofile's
      list, as hotNodesFromCDF does), caller TAB callee TAB offset, sorted
  pgo_raw.py hotdiff REF CAND TEXT   (REF "-": no file)
      TEXT (a pull request body or commit message) lists, under **Added** and **Removed**,
      exactly the hot edges of CAND not hot in REF and of REF not hot in CAND (at most 20
      rows each, then "and N more."); exit 1 with the differences if not
  pgo_raw.py leaves IN OUT
      writes IN with every sample's stack cut to its leaf location, and every location to
      its leaf-most line (no inlined caller): no call edge is left
  pgo_raw.py rename IN OUT OLD=NEW...
      writes IN with every string OLD of its string table replaced by NEW (a real profile
      whose function OLD is now called NEW: frames Go rarely samples, like runtime.gopark)
"""
import gzip
import re
import subprocess
import sys
from fractions import Fraction

LOC = re.compile(r"^\s*(\d+): (0x[0-9a-f]+)(?: M=\d+)?(?: (.*))?$")
SAMPLE = re.compile(r"^\s*((?:-?\d+\s+)*-?\d+): ((?:\d+ ?)*)$")


def frame(text):
    # "NAME FILE:LINE:COL s=START" and "(SYSTEM NAME)" when it differs from NAME (NAME may
    # hold spaces: "DO NOT INLINE: f"; the system name is not the compiler's)
    text = re.sub(r" s=-?\d+(\(.*\))?$", "", text.strip())
    name, _, where = text.rpartition(" ")
    where = re.sub(r":\d+$", "", where)  # the column
    return name, where


def read(path):
    raw = subprocess.run(["go", "tool", "pprof", "-raw", path], check=True,
                         capture_output=True, text=True).stdout
    section, samples, locs, cur = None, [], {}, None
    for ln in raw.splitlines():
        if ln.startswith("Samples:"):
            section = "s"
            continue
        if ln.startswith("Locations"):
            section = "l"
            continue
        if ln.startswith("Mappings"):
            section = None
            continue
        if section == "s":
            m = SAMPLE.match(ln)
            if m:
                samples.append(([int(v) for v in m.group(1).split()],
                                [int(i) for i in m.group(2).split()]))
        elif section == "l":
            m = LOC.match(ln)
            if m:
                cur = int(m.group(1))
                locs[cur] = [frame(m.group(3))] if m.group(3) else [("@" + m.group(2), "")]
            elif ln.strip() and cur is not None:
                locs[cur].append(frame(ln))
    return [(vals, tuple(tuple(locs[i]) for i in ids)) for vals, ids in samples]


def rnd(x):
    # nearest integer, halves away from zero, exactly
    q = abs(x)
    n = q.numerator // q.denominator
    if q - n >= Fraction(1, 2):
        n += 1
    return n if x >= 0 else -n


SLACK = {}  # key -> how far its first value may be below the expectation (decay's dither)


def keymap(samples, scale=Fraction(1), rename=(), decay=False, weight=False):
    out = {}
    for orig, key in samples:
        vals = [rnd(v * scale) for v in orig]
        up = False
        if weight and orig and (orig[0] * scale).denominator != 1:
            x = orig[0] * scale  # may be rounded down or up: expect up, allow one less
            vals[0] = x.numerator // x.denominator + 1
            up = True
        if not any(vals) or (decay and not vals[0]):
            continue
        frozen = decay and scale < 1 and orig[0] > 0 and vals[0] == orig[0]
        if rename:
            key = tuple(tuple(("DO NOT INLINE: " + n if n in rename else n, w) for n, w in loc)
                        for loc in key)
        acc = out.setdefault(key, [0] * len(vals))
        for i, v in enumerate(vals):
            acc[i] += v
        if up:  # the weight's rounding may have gone down: one count less
            SLACK.setdefault(key, []).append([1] + [0] * (len(vals) - 1))
        if frozen:  # what the dither may take away: one count, or the whole sample at 1
            SLACK.setdefault(key, []).append(
                [vals[0]] + vals[1:] if vals[0] == 1 else [1] + [0] * (len(vals) - 1))
    return {k: v for k, v in out.items() if any(v)}


def show(key):
    return " <- ".join(n for loc in key for n, _ in loc)


def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def put_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        out.append(c | (0x80 if v else 0))
        if not v:
            return bytes(out)


def fields(data):
    # (field number, wire type, the field's bytes, where its payload starts in them)
    i = 0
    while i < len(data):
        start = i
        key, i = varint(data, i)
        wire, pay = key & 7, i
        if wire == 0:
            _, i = varint(data, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n, pay = varint(data, i)
            i = pay + n
        else:
            raise SystemExit(f"wire type {wire} at {start}")
        yield key >> 3, wire, data[start:i], pay - start


def leaves(src, dst):
    # Profile.sample is field 2; Sample.location_id is field 1 (packed or not), leaf first;
    # Profile.location is field 4; Location.line is field 4, the innermost (inlined) first
    data = open(src, "rb").read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    out = bytearray()
    for num, wire, raw, pay in fields(data):
        if num == 4 and wire == 2:  # a Location: only its first (leaf-most) line, no inlining
            loc, seen = bytearray(), False
            for lnum, _, lraw, _ in fields(raw[pay:]):
                if lnum != 4 or not seen:
                    loc += lraw
                seen = seen or lnum == 4
            out += put_varint(4 << 3 | 2) + put_varint(len(loc)) + loc
            continue
        if num != 2 or wire != 2:
            out += raw
            continue
        sample, seen = bytearray(), False
        for snum, _, sraw, spay in fields(raw[pay:]):
            if snum != 1:
                sample += sraw
            elif not seen:  # packed or not, the payload starts with the leaf's id
                seen = True
                sample += put_varint(1 << 3) + put_varint(varint(sraw, spay)[0])
        out += put_varint(2 << 3 | 2) + put_varint(len(sample)) + sample
    open(dst, "wb").write(gzip.compress(bytes(out), mtime=0))


def rename_strings(src, dst, pairs):
    # Profile.string_table is field 6 of the top-level message: only those entries change
    data = open(src, "rb").read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    out, i = bytearray(), 0
    while i < len(data):
        start = i
        key, i = varint(data, i)
        wire = key & 7
        if wire == 0:
            _, i = varint(data, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n, j = varint(data, i)
            i = j + n
            if key >> 3 == 6 and data[j:i].decode() in pairs:
                new = pairs[data[j:i].decode()].encode()
                out += put_varint(key) + put_varint(len(new)) + new
                continue
        else:
            raise SystemExit(f"{src}: wire type {wire} at {start}")
        out += data[start:i]
    open(dst, "wb").write(gzip.compress(bytes(out), mtime=0))


def edges(path, pairs):
    out = subprocess.run(["go", "tool", "preprofile", "-i", path], check=True,
                         capture_output=True, text=True).stdout.splitlines()
    if not out or out[0] != "GO PREPROFILE V1" or (len(out) - 1) % 3:
        raise SystemExit(f"{path}: unexpected preprofile output")
    rows = []
    for i in range(1, len(out), 3):
        caller, callee = (pairs.get(n, n) for n in out[i:i + 2])
        rows.append("\t".join([caller, callee] + out[i + 2].split()))
    return sorted(rows)


def hot(path):
    out = subprocess.run(["go", "tool", "preprofile", "-i", path], check=True,
                         capture_output=True, text=True).stdout.splitlines()
    es = [(out[i], out[i + 1], out[i + 2].split()) for i in range(1, len(out), 3)]
    total = sum(int(w) for _, _, (_, w) in es)
    cum, n = 0, len(es)
    for i, (_, _, (_, w)) in enumerate(es):
        cum += int(w)
        if total and float(cum) / float(total) * 100 > 99:
            n = i + 1
            break
    return {(a, b, off) for a, b, (off, _) in es[:n]}


def listed(text, section):
    # the rows of one section of prbody.c's edges_section
    rows, more, on = set(), 0, False
    for ln in text.splitlines():
        if ln.startswith("**"):
            on = ln.startswith(f"**{section}**")
            continue
        if not on:
            continue
        m = re.match(r"^\| `(.*)` \u2192 `(.*)` \| \+(\d+) \|", ln)
        if m:
            rows.add(m.groups())
        m = re.match(r"^and (\d+) more\.$", ln)
        if m:
            more = int(m.group(1))
        if ln.startswith("#"):
            on = False
    return rows, more


def main(argv):
    cmd = argv[1]
    if cmd == "hot":
        print("\n".join(sorted("\t".join(e) for e in hot(argv[2]))))
        return 0
    if cmd == "hotdiff":
        # REF "-": no file on the target branch (every hot edge of CAND is added)
        ref = set() if argv[2] == "-" else hot(argv[2])
        cand, text = hot(argv[3]), open(argv[4], encoding="utf-8").read()
        bad = []
        for section, want in (("Added", cand - ref), ("Removed", ref - cand)):
            rows, more = listed(text, section)
            if len(want) <= 20 and (rows != want or more):
                bad.append(f"{section}: listed {sorted(rows)[:4]}, want {sorted(want)[:4]}")
            elif len(want) > 20 and (not rows <= want or len(rows) != 20 or more != len(want) - 20):
                bad.append(f"{section}: {len(rows)} rows + {more} more, want {len(want)}")
        print(f"hot edges added {len(cand - ref)}, removed {len(ref - cand)}")
        for b in bad:
            print(b)
        return 1 if bad else 0
    if cmd == "edges":
        print("\n".join(edges(argv[2], dict(a.split("=", 1) for a in argv[3:]))))
        return 0
    if cmd == "leaves":
        leaves(argv[2], argv[3])
        return 0
    if cmd == "rename":
        rename_strings(argv[2], argv[3], dict(a.split("=", 1) for a in argv[4:]))
        return 0
    if cmd == "total":
        print(sum(v[0] for v, _ in read(argv[2])))
        return 0
    if cmd == "rows":
        print(len(keymap(read(argv[2]))))
        return 0
    if cmd == "names":
        print("\n".join(sorted({n for _, k in read(argv[2]) for loc in k for n, _ in loc})))
        return 0
    if cmd != "expect":
        print("usage: pgo_raw.py expect|total|rows|names ...", file=sys.stderr)
        return 2
    pub, rest, rename = argv[2], argv[3:], set()
    specs = []
    while rest:
        a = rest.pop(0)
        if a == "--rename":
            rename.add(rest.pop(0))
            continue
        m = re.match(r"^([~?]?)(\d+)/(\d+):(.*)$", a)
        specs.append((Fraction(int(m.group(2)), int(m.group(3))), m.group(4), m.group(1))
                     if m else (Fraction(1), a, ""))
    want = {}
    for scale, path, mode in specs:
        for k, v in keymap(read(path), scale, rename, mode == "~", mode == "?").items():
            acc = want.setdefault(k, [0] * len(v))
            for i, x in enumerate(v):
                acc[i] += x
    want = {k: v for k, v in want.items() if any(v)}
    got = keymap(read(pub))

    def agrees(k):
        w, g = want.get(k), got.get(k)
        if w == g:
            return True
        takes = SLACK.get(k, [])[:12]
        if not takes or w is None:
            return False
        # every choice of the dither: each frozen contribution kept or taken away
        for mask in range(1, 1 << len(takes)):
            v = list(w)
            for i, t in enumerate(takes):
                if mask >> i & 1:
                    v = [a - b for a, b in zip(v, t)]
            if (g is None and not any(v)) or v == g:
                return True
        return False

    bad = [(k, want.get(k), got.get(k)) for k in set(want) | set(got) if not agrees(k)]
    if not bad:
        return 0
    print(f"{len(bad)} of {len(want)} expected samples differ; first ones (want, got):")
    for k, w, g in sorted(bad, key=lambda b: show(b[0]))[:8]:
        print(f"  {w} {g}  {show(k)[:160]}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
