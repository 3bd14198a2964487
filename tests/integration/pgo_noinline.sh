#!/usr/bin/env bash
# pgo.no_inline (issue 12) end to end, judged by the Go compiler: a real CPU profile of
# tests/go/pgoinline, whose hot loop calls main.hotCallee (too big to inline without a
# profile, inlined at that hot call site with one), published by `cpgo run --once --output`
# twice in one run: with `no_inline: []` and with `no_inline: ['main.hotCallee']`.
# - `go tool preprofile` of the second has no edge to or from main.hotCallee, only
#   `DO NOT INLINE: main.hotCallee`, and every edge is the first's with that name replaced
#   (weights, call-site offsets, the other edges: unchanged);
# - the compiler (`go tool compile -pgoprofile -m=2`, what `go build -pgo` runs for the
#   package) inlines the call with the first file and not with the second;
# - the defaults (no pgo: key): a real profile whose functions are named runtime.gopark and
#   gRPC's loopyWriter.processData (renamed in its string table: the CPU profiler seldom
#   samples gopark itself) is published with both renamed and every edge otherwise equal.
. "$(dirname "$0")/lib.sh"
need_go
GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE) GOPATH=$(go env GOPATH)
export GOCACHE GOMODCACHE GOPATH HOME="$T"
RAW="$CPGO_SRC/tests/integration/pgo_raw.py"
GOPARK=runtime.gopark
LOOPY='google.golang.org/grpc/internal/transport.(*loopyWriter).processData'
SRC="$CPGO_SRC/tests/go/pgoinline/main.go"

(cd "$CPGO_SRC/tests/go" && GOFLAGS=-mod=mod go build -o "$T/pgoinline" ./pgoinline &&
  GOFLAGS=-mod=mod go list -export -deps \
    -f '{{if .Export}}packagefile {{.ImportPath}}={{.Export}}{{end}}' ./pgoinline >"$T/importcfg") \
  2>"$T/build.err" || { fail "cannot build tests/go/pgoinline: $(tail -3 "$T/build.err")"; finish; }
# a real profile with enough samples on the hot edge (a loaded machine samples less)
for attempt in 1 2 3; do
  "$T/pgoinline" -o "$T/in.pprof" -ms $((1500 * attempt)) -park 1
  python3 "$RAW" edges "$T/in.pprof" >"$T/in.edges"
  grep -q $'^main.hotCaller\tmain.hotCallee\t' "$T/in.edges" && break
done
check "the recorded profile has the hot edge main.hotCaller -> main.hotCallee" \
  grep -q $'^main.hotCaller\tmain.hotCallee\t' "$T/in.edges"
python3 "$RAW" rename "$T/in.pprof" "$T/defaults.pprof" "main.hotCaller=$GOPARK" \
  "runtime.casgstatus=$LOOPY"

mkdir -p "$T/f1" "$T/f2"
start_fleet "$T/f1" --profile "$T/in.pprof" --count 2 --delay-ms 100 || finish
P1=$FLEET_PID
mapfile -t PORTS < <(awk '{print $1}' "$T/f1/ports")
start_fleet "$T/f2" --profile "$T/defaults.pprof" --delay-ms 100 || finish
P2=$FLEET_PID
trap 'kill $P1 $P2 2>/dev/null' EXIT
cat >"$T/c.yaml" <<EOF
state_dir: $T/state
defaults:
  schedule: '@every 1h'
  timeout: 20s
backends:
- url: http://127.0.0.1:${PORTS[0]}/debug/pprof/profile?seconds=1
  name: plain
  open_pull_request: {repository: 'https://github.com/acme/app', target_file: plain.pgo, target_branch: main}
  pgo: {no_inline: []}
- url: http://127.0.0.1:${PORTS[1]}/debug/pprof/profile?seconds=1
  name: noinline
  open_pull_request: {repository: 'https://github.com/acme/app', target_file: noinline.pgo, target_branch: main}
  pgo: {no_inline: ['main.hotCallee']}
- url: http://127.0.0.1:$(awk '{print $1; exit}' "$T/f2/ports")/debug/pprof/profile?seconds=1
  name: defaults
  open_pull_request: {repository: 'https://github.com/acme/app', target_file: defaults.pgo, target_branch: main}
EOF
"$CPGO" run -c "$T/c.yaml" --once --output "$T/out" >"$T/run.log" 2>&1
rc=$?
check "run --once --output exits 0 (rc $rc: $(grep -m1 level=error "$T/run.log"))" [ "$rc" -eq 0 ]
O="$T/out/github.com/acme/app/main"
for f in plain noinline defaults; do
  [ -s "$O/$f.pgo" ] || fail "$f.pgo was not published"
done

# 1. the compiler's edges: only the name changes
python3 "$RAW" edges "$O/plain.pgo" >"$T/plain.edges"
python3 "$RAW" edges "$O/noinline.pgo" >"$T/noinline.edges"
check "plain: the published edges are the recorded ones (trimming is lossless)" \
  cmp -s "$T/in.edges" "$T/plain.edges"
check "no_inline: no edge names main.hotCallee" \
  bash -c "! cut -f1,2 '$T/noinline.edges' | tr '\t' '\n' | grep -qx 'main.hotCallee'"
check "no_inline: the hot edge now ends in 'DO NOT INLINE: main.hotCallee'" \
  grep -q $'^main.hotCaller\tDO NOT INLINE: main.hotCallee\t' "$T/noinline.edges"
python3 "$RAW" edges "$O/plain.pgo" "main.hotCallee=DO NOT INLINE: main.hotCallee" >"$T/plain.renamed"
check "no_inline: every edge is unchanged but for that name ($(diff "$T/plain.renamed" "$T/noinline.edges" | head -4))" \
  cmp -s "$T/plain.renamed" "$T/noinline.edges"
check "no_inline: the samples are the plain file's, that function renamed" \
  python3 "$RAW" expect "$O/noinline.pgo" --rename main.hotCallee "$O/plain.pgo"

# 2. the compiler's decision: PGO inlines the hot call with the plain file, not renamed
inl() { # inl PROFILE: the compiler's -m=2 lines about hotCallee
  go tool compile -p main -importcfg "$T/importcfg" ${1:+-pgoprofile "$1"} -m=2 \
    -o "$T/x.o" "$SRC" 2>&1 | grep 'hotCallee' || true
}
inl "" >"$T/m.none"
inl "$O/plain.pgo" >"$T/m.plain"
inl "$O/noinline.pgo" >"$T/m.noinline"
check "without a profile the call is not inlined ($(head -2 "$T/m.none"))" \
  bash -c "grep -q 'cannot inline hotCallee' '$T/m.none' && ! grep -q 'inlining call to hotCallee' '$T/m.none'"
check "with the plain file PGO inlines it ($(head -2 "$T/m.plain"))" \
  grep -q 'inlining call to hotCallee' "$T/m.plain"
check "with the no_inline file it does not ($(grep inlining "$T/m.noinline" | head -2))" \
  bash -c "grep -q 'cannot inline hotCallee' '$T/m.noinline' && ! grep -q 'inlining call to hotCallee' '$T/m.noinline'"

# 3. the default list
python3 "$RAW" edges "$T/defaults.pprof" >"$T/d.in"
python3 "$RAW" edges "$T/defaults.pprof" "$GOPARK=DO NOT INLINE: $GOPARK" \
  "$LOOPY=DO NOT INLINE: $LOOPY" >"$T/d.want"
python3 "$RAW" edges "$O/defaults.pgo" >"$T/d.got"
check "defaults: the input has edges from $GOPARK and to $LOOPY" \
  bash -c "grep -q '^$GOPARK	' '$T/d.in' && grep -qF '	$LOOPY	' '$T/d.in'"
check "defaults: both renamed, every edge otherwise unchanged ($(diff "$T/d.want" "$T/d.got" | head -4))" \
  cmp -s "$T/d.want" "$T/d.got"
python3 "$RAW" names "$O/defaults.pgo" >"$T/d.names"
check "defaults: no function is still called $GOPARK or processData" \
  bash -c "! grep -qxF -e '$GOPARK' -e '$LOOPY' '$T/d.names'"
check "defaults: the renamed functions are there" \
  bash -c "grep -qxF 'DO NOT INLINE: $GOPARK' '$T/d.names' && grep -qxF 'DO NOT INLINE: $LOOPY' '$T/d.names'"
finish
