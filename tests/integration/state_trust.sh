#!/usr/bin/env bash
# Trust in the state directory (issue: exactly-once under every fault):
#  - one owner: a second daemon or --once on the same state_dir exits 1 naming the holder's
#    pid; a lock file left by kill -9 does not block; read-only commands take no lock;
#  - a target whose state cannot be opened fails alone and --once exits 1 promptly; the
#    daemon opens it again at a later tick once it can;
#  - a damaged journal record: skipped (the rest kept), moved aside, reported by /readyz,
#    /status, /metrics and `cpgo state` (which writes nothing) until `cpgo state --ack`;
#  - a damaged pushes.json holds publishing (exit 1 in --once, nothing written);
#  - limits lowered between restarts drop nothing already accepted;
#  - a state directory written by cpgo 0.1 (tests/fixtures/state-v1) is upgraded in place,
#    nothing lost or doubled;
#  - trust: a world-writable state_dir is refused; a symlink planted inside is not followed.
. "$(dirname "$0")/lib.sh"
FIX="$CPGO_SRC/tests/fixtures/state-v1"
P="$FIX/p.pb.gz"
S=$(samples_in "$P") # 734
start_fleet "$T" --profile "$P" --count 3 --mix normal=2,hang=1 --delay-ms 100 || finish
NORMAL=$(awk '$2=="normal"{print $1}' "$T/ports")
HANG=$(awk '$2=="hang"{print $1}' "$T/ports")
mkcfg() { # mkcfg FILE STATE [extra top-level yaml] [ports...]
  local f=$1 st=$2 extra=$3; shift 3
  {
    echo "state_dir: $st"
    echo "shutdown_timeout: 3s"
    [ -n "$extra" ] && echo "$extra"
    echo "backends:"
    for port in "$@"; do
      echo "- url: http://127.0.0.1:$port/debug/pprof/profile?seconds=1"
      echo "  name: b-$port"
      echo "  schedule: '@every 3s'"
      echo "  timeout: 2s"
      echo "  open_pull_request: {repository: 'https://github.com/acme/app', target_file: default.pgo, target_branch: main}"
    done
  } >"$f"
}
# the state id of github.com/acme/app@main:default.pgo (id 82e60781b6e9b82e) under
# `--output`, which keeps its pending apart from the forge target's (cpgo check-config
# prints both)
TID=17be70410c3a32f8
FTID=82e60781b6e9b82e
OUTF=github.com/acme/app/main/default.pgo

# ---- 1. one owner per state directory ------------------------------------------------
mkcfg "$T/c1.yaml" "$T/s1" "" $NORMAL
"$CPGO" run -c "$T/c1.yaml" --output "$T/o1" 2>"$T/a.log" &
A=$!
wait_for "[ -s '$T/s1/lock' ]" 10 || fail "the first daemon did not take the lock"
start=$(date +%s)
"$CPGO" run -c "$T/c1.yaml" --output "$T/o1" 2>"$T/b.log"
rc=$?
check "second daemon refused with exit 1 (got $rc)" [ "$rc" -eq 1 ]
check "refusal names the directory and the holder's pid" \
  grep -q "state directory $T/s1 is in use by another cpgo (pid $A)" "$T/b.log"
check "refusal says each shard needs a state_dir" grep -q "shard needs a state_dir of its own" "$T/b.log"
check "refused at once" [ $(( $(date +%s) - start )) -lt 5 ]
"$CPGO" run --once -c "$T/c1.yaml" --output "$T/o1" 2>"$T/b2.log"
check "--once takes the same lock (exit 1)" [ $? -eq 1 ]
"$CPGO" state -c "$T/c1.yaml" >"$T/state1.out" 2>&1
check "cpgo state runs beside the daemon (no lock)" grep -q "target github.com/acme/app@main:default.pgo" "$T/state1.out"
"$CPGO" check-config -c "$T/c1.yaml" >/dev/null 2>&1
check "check-config runs beside the daemon" [ $? -eq 0 ]
kill -KILL "$A"
wait "$A" 2>/dev/null
check "the lock file stays after kill -9" [ -e "$T/s1/lock" ]
"$CPGO" run --once -c "$T/c1.yaml" --output "$T/o1" 2>"$T/c.log"
check "a lock file left by kill -9 does not block a restart" [ $? -eq 0 ]

# ---- 2. a target whose state cannot be opened ------------------------------------------
mkdir -p "$T/s2/targets"
echo "not a directory" >"$T/s2/targets/$TID"
mkcfg "$T/c2.yaml" "$T/s2" "" $NORMAL
start=$(date +%s)
timeout 60 "$CPGO" run --once -c "$T/c2.yaml" --output "$T/o2" 2>"$T/d.log"
rc=$?
took=$(( $(date +%s) - start ))
check "--once exits 1 when a target's state cannot be opened (got $rc)" [ "$rc" -eq 1 ]
check "... promptly (${took}s)" [ "$took" -lt 15 ]
check "... with a clear error naming the target state" grep -q "cannot open target state.*$TID" "$T/d.log"
"$CPGO" run -c "$T/c2.yaml" --output "$T/o2" 2>"$T/e.log" &
D=$!
wait_for "grep -q 'cannot open target state' '$T/e.log'" 10
rm -f "$T/s2/targets/$TID"
wait_for "[ -s '$T/o2/$OUTF' ]" 20
check "the daemon opens the state again at a later tick and publishes" [ -s "$T/o2/$OUTF" ]
kill -TERM "$D"
wait "$D"

# ---- 3. damage to an accepted journal record --------------------------------------------
rm -rf "$T/s3" "$T/o3"
cp -r "$FIX/state" "$T/s3"
# as if an --output run of this version had written it: its state id
mv "$T/s3/targets/$FTID" "$T/s3/targets/$TID"
cp -r "$FIX/out" "$T/o3"
chmod -R go-w "$T/s3"
# journal.log holds two records after the snapshot: damage a byte in the first one's body
python3 - "$T/s3/targets/$TID/journal.log" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[36 + 200] ^= 0x5A
open(p, "wb").write(b)
PY
AP=$(free_port)
mkcfg "$T/c3.yaml" "$T/s3" "listen: 127.0.0.1:$AP" $HANG
before=$(cd "$T/s3" && find . -type f -printf '%p %s\n' | sort; cat targets/*/* | md5sum)
"$CPGO" state -c "$T/c3.yaml" >"$T/state3.out" 2>/dev/null
rc=$?
after=$(cd "$T/s3" && find . -type f -printf '%p %s\n' | sort; cat targets/*/* | md5sum)
check "cpgo state exits 1 when a target has problems (got $rc)" [ "$rc" -eq 1 ]
check "cpgo state names the damaged record" grep -q "damaged journal record (sequence 7) at byte offset 0" "$T/state3.out"
check "cpgo state counts what is still pending (4 + 1)" grep -q "pending scrapes: 5" "$T/state3.out"
check "cpgo state writes nothing" [ "$before" = "$after" ]
"$CPGO" run -c "$T/c3.yaml" --output "$T/o3" 2>"$T/f.log" &
D=$!
wait_for "curl -s http://127.0.0.1:$AP/status | grep -q state_problem" 15
code=$(curl -s -o "$T/readyz" -w '%{http_code}' "http://127.0.0.1:$AP/readyz")
check "/readyz is 503 while a state problem is unacknowledged (got $code)" [ "$code" = 503 ]
check "/readyz says why" grep -q "state problems" "$T/readyz"
curl -s "http://127.0.0.1:$AP/status" >"$T/status.json"
check "/status shows the problem" grep -q '"state_problem": *"[^"]*damaged journal record' "$T/status.json"
curl -s "http://127.0.0.1:$AP/metrics" >"$T/metrics"
check "metric counts the skipped record" grep -q '^cpgo_state_corrupt_records_total{target="github.com/acme/app@main:default.pgo"} 1' "$T/metrics"
check "metric shows the problem" grep -q '^cpgo_state_problems{target="github.com/acme/app@main:default.pgo"} [1-9]' "$T/metrics"
check "the error is logged with target, sequence and offset" \
  grep -q 'level=error msg="damaged journal record skipped" state=.*seq=7 offset=0' "$T/f.log"
check "the damaged journal is moved aside, not deleted" \
  [ -n "$(ls "$T/s3/targets/$TID"/journal.log.corrupt-* 2>/dev/null)" ]
"$CPGO" state -c "$T/c3.yaml" --ack "$TID" >"$T/ack.out" 2>&1
check "--ack takes the lock: refused while the daemon runs" [ $? -eq 1 ]
kill -TERM "$D"
wait "$D"
"$CPGO" state -c "$T/c3.yaml" --ack "$TID" >"$T/ack.out" 2>&1
check "--ack after the daemon stopped (got: $(cat "$T/ack.out"))" grep -q "acknowledged" "$T/ack.out"
"$CPGO" run -c "$T/c3.yaml" --output "$T/o3" 2>"$T/g.log" &
D=$!
wait_for "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$AP/readyz | grep -q 200" 15
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AP/readyz")
check "/readyz is 200 after --ack (got $code)" [ "$code" = 200 ]
kill -TERM "$D"
wait "$D"
# what the damaged record did not hold is all published: 2 + 4 (snapshot) + 1 (journal)
"$CPGO" run --once -c "$T/c3.yaml" --output "$T/o3" 2>"$T/h.log"
got=$(samples_in "$T/o3/$OUTF")
check "the records around the damage are published: $got = $((7 * S))" [ "$got" -eq $((7 * S)) ]

# ---- 4. a damaged pushes.json holds publishing ------------------------------------------
rm -rf "$T/s4" "$T/o4"
cp -r "$FIX/state" "$T/s4"
# as if an --output run of this version had written it: its state id
mv "$T/s4/targets/$FTID" "$T/s4/targets/$TID"
cp -r "$FIX/out" "$T/o4"
chmod -R go-w "$T/s4"
echo '{"segments": [' >"$T/s4/targets/$TID/pushes.json"
mkcfg "$T/c4.yaml" "$T/s4" "" $HANG
"$CPGO" run --once -c "$T/c4.yaml" --output "$T/o4" 2>"$T/i.log"
check "--once exits 1 while publishing is held" [ $? -eq 1 ]
check "the log says publishing is held" grep -q "publishing held" "$T/i.log"
check "nothing was written to the output" cmp -s "$FIX/out/$OUTF" "$T/o4/$OUTF"
check "pushes.json moved aside" [ -n "$(ls "$T/s4/targets/$TID"/pushes.json.corrupt-* 2>/dev/null)" ]

# ---- 5. limits lowered between restarts: nothing accepted is dropped ---------------------
rm -rf "$T/s5" "$T/o5"
cp -r "$FIX/state" "$T/s5"
# as if an --output run of this version had written it: its state id
mv "$T/s5/targets/$FTID" "$T/s5/targets/$TID"
cp -r "$FIX/out" "$T/o5"
chmod -R go-w "$T/s5"
mkcfg "$T/c5.yaml" "$T/s5" "limits: {max_body_bytes: 1KiB, max_samples: 10}" $HANG
"$CPGO" run --once -c "$T/c5.yaml" --output "$T/o5" 2>"$T/j.log"
got=$(samples_in "$T/o5/$OUTF")
check "lowered limits: all 2 + 6 published ($got = $((8 * S)))" [ "$got" -eq $((8 * S)) ]

# ---- 6. a state directory written by cpgo 0.1, upgraded in place -------------------------
rm -rf "$T/s6" "$T/o6"
cp -r "$FIX/state" "$T/s6"
cp -r "$FIX/out" "$T/o6"
chmod -R go-w "$T/s6"
mkcfg "$T/c6.yaml" "$T/s6" "" $NORMAL
"$CPGO" run --once -c "$T/c6.yaml" --output "$T/o6" 2>"$T/k.log"
check "the upgrade run exits 0" [ $? -eq 0 ]
check "the upgrade is logged" grep -q "state directory upgraded in place" "$T/k.log"
check "format.json written" grep -q '"format":2' "$T/s6/format.json"
got=$(samples_in "$T/o6/$OUTF")
# the 6 pending scrapes 0.1 accepted stay where they were, the forge target's: an --output
# run keeps its own pending apart and never consumes what a forge run will propose
check "upgraded: 2 published + 2 new, exactly ($got = $((4 * S)))" [ "$got" -eq $((4 * S)) ]
check "the 6 pending of 0.1 are kept for the forge target" \
  sh -c "'$CPGO' state -c '$T/c6.yaml' | grep -q '$FTID.*6 pending\|pending.*6'"
"$CPGO" run --once -c "$T/c6.yaml" --output "$T/o6" 2>"$T/k2.log"
got=$(samples_in "$T/o6/$OUTF")
check "and the next run adds only its own 2 ($got = $((6 * S)))" [ "$got" -eq $((6 * S)) ]
echo '{"format": 3}' >"$T/s6/format.json"
"$CPGO" run --once -c "$T/c6.yaml" --output "$T/o6" 2>"$T/k3.log"
check "a newer format is refused (exit 1)" [ $? -eq 1 ]
check "... saying so" grep -q "written by a newer cpgo" "$T/k3.log"

# ---- 7. trust: world-writable state_dir, symlinks planted inside ---------------------------
mkdir -p "$T/s7"
chmod 0777 "$T/s7"
mkcfg "$T/c7.yaml" "$T/s7" "" $NORMAL
"$CPGO" run --once -c "$T/c7.yaml" --output "$T/o7" 2>"$T/l.log"
check "a world-writable state_dir is refused (exit 1)" [ $? -eq 1 ]
check "... saying why" grep -q "world-writable" "$T/l.log"
rm -rf "$T/s8"
"$CPGO" run --once -c <(sed "s|$T/s7|$T/new/deep/s8|" "$T/c7.yaml") --output "$T/o8" 2>"$T/m.log"
check "a new state_dir is created private (0700)" [ "$(stat -c %a "$T/new/deep/s8")" = 700 ]
echo victim >"$T/victim"
rm -f "$T/new/deep/s8/targets/$TID/published.json"
ln -s "$T/victim" "$T/new/deep/s8/targets/$TID/published.json"
"$CPGO" run --once -c <(sed "s|$T/s7|$T/new/deep/s8|" "$T/c7.yaml") --output "$T/o8" 2>"$T/n.log"
check "a symlink planted in a target's directory is not written through" [ "$(cat "$T/victim")" = victim ]

# ---- 8. a read-only filesystem (root: a bind mount made read-only) ----------------------
if [ "$(id -u)" = 0 ] && mkdir -p "$T/s9" && "$CPGO" run --once -c <(sed "s|$T/s7|$T/s9|" "$T/c7.yaml") \
    --output "$T/o9" 2>/dev/null && mount --bind "$T/s9/targets/$TID" "$T/s9/targets/$TID" 2>/dev/null; then
  if mount -o remount,bind,ro "$T/s9/targets/$TID" 2>/dev/null; then
    start=$(date +%s)
    timeout 60 "$CPGO" run --once -c <(sed "s|$T/s7|$T/s9|" "$T/c7.yaml") --output "$T/o9" 2>"$T/o.log"
    rc=$?
    check "read-only target state: --once exits 1 (got $rc)" [ "$rc" -eq 1 ]
    check "... promptly" [ $(( $(date +%s) - start )) -lt 20 ]
    check "... saying the file system is read-only" grep -qi "read-only file system" "$T/o.log"
  fi
  umount "$T/s9/targets/$TID"
else
  echo "note: cannot make a read-only bind mount here; section 8 skipped"
fi

# ---- 9. a token file others can write is refused, before anything starts ------------------
echo "ghp_tokenfilesecret0123456789" >"$T/token"
for mode in 0666 0620; do
  chmod "$mode" "$T/token"
  sed -e "s|$T/s7|$T/s10|" -e "s|^backends:|github: {token_file: $T/token}\nbackends:|" "$T/c7.yaml" >"$T/c10.yaml"
  "$CPGO" run --once -c "$T/c10.yaml" 2>"$T/p.log"
  rc=$?
  check "token_file mode $mode refused (exit 1, got $rc)" [ "$rc" -eq 1 ]
  check "... saying why" grep -q "github.token_file $T/token is writable by" "$T/p.log"
  check "... without showing the token" bash -c "! grep -q tokenfilesecret '$T/p.log'"
done

stop_fleet
finish
