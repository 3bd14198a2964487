#!/usr/bin/env bash
# `cmake --install` puts cpgo where people look for it, under the prefix and nowhere else:
# PREFIX/bin/cpgo, PREFIX/lib/systemd/system/cpgo.service (the DynamicUser unit of
# deploy/systemd, its ExecStart the installed binary), PREFIX/share/man/man1/cpgo.1.gz,
# and in PREFIX/share/doc/cpgo the README, docs/*.md, the systemd notes and the sample
# configurations; nothing in /etc (the configuration is the operator's), none of the Debian
# package's files, and the build's binary untouched. The installed unit passes
# `systemd-analyze verify` where it exists. The .deb: package_deb.sh.
. "$(dirname "$0")/lib.sh"
: "${CPGO_SRC:?run through ctest}"
B=$(dirname "$CPGO")
sum_before=$(sha256sum "$CPGO" | cut -d' ' -f1)

# DESTDIR shows everything the install writes, also outside the prefix
P=/opt/cpgo-test
DESTDIR="$T/dest" cmake --install "$B" --prefix "$P" >"$T/install.log" 2>&1
rc=$?
check "cmake --install succeeds (exit $rc: $(tail -3 "$T/install.log"))" [ "$rc" -eq 0 ]
(cd "$T/dest" && find . ! -type d | sed 's#^\.##' | sort) >"$T/files"
check "everything installed is under the prefix ($(grep -v "^$P/" "$T/files" | head -3))" \
  sh -c "! grep -v '^$P/' '$T/files' >/dev/null"
for f in bin/cpgo lib/systemd/system/cpgo.service share/man/man1/cpgo.1.gz \
  share/doc/cpgo/README.md share/doc/cpgo/docs/CONFIG.md share/doc/cpgo/docs/ARCHITECTURE.md \
  share/doc/cpgo/systemd.md share/doc/cpgo/examples/config.sample.yaml \
  share/doc/cpgo/examples/config.systemd.yaml share/doc/cpgo/examples/config/github.yaml; do
  check "installs $P/$f" grep -qx "$P/$f" "$T/files"
done
for f in share/doc/cpgo/copyright share/doc/cpgo/changelog.Debian.gz share/lintian/overrides/cpgo; do
  check "a plain install has no $f (the package's)" sh -c "! grep -qx '$P/$f' '$T/files'"
done
R=$T/dest$P
check "the installed cpgo is executable" [ -x "$R/bin/cpgo" ]
check "the installed cpgo runs (--version as the build's)" \
  [ "$("$R/bin/cpgo" --version 2>&1)" = "$("$CPGO" --version)" ]
U=$R/lib/systemd/system/cpgo.service
check "the unit runs the installed binary" grep -qx "ExecStart=$P/bin/cpgo run -c /etc/cpgo/config.yaml" "$U"
check "the unit keeps deploy/systemd's DynamicUser" grep -qx 'DynamicUser=yes' "$U"
check "the unit names its documentation" grep -qx "Documentation=man:cpgo(1) file://$P/share/doc/cpgo/systemd.md" "$U"
# the unit is deploy/systemd's apart from the lines the install rewrites
diff <(grep -v '^#' "$CPGO_SRC/deploy/systemd/cpgo.service") <(grep -v '^#' "$U") >"$T/unit.diff"
check "the unit differs from deploy/systemd's only in ExecStart and Documentation ($(head -c 300 "$T/unit.diff"))" \
  sh -c "! grep '^[<>]' '$T/unit.diff' | grep -vE '^[<>] (ExecStart|Documentation)=' >/dev/null"
check "the man page is gzip" sh -c "gzip -t '$R/share/man/man1/cpgo.1.gz'"
check "the build's cpgo is untouched" [ "$(sha256sum "$CPGO" | cut -d' ' -f1)" = "$sum_before" ]

if command -v systemd-analyze >/dev/null 2>&1; then
  # verify needs the binary at ExecStart's path: point it at the staged one
  mkdir -p "$T/verify"
  sed "s#^ExecStart=$P/bin/cpgo#ExecStart=$R/bin/cpgo#" "$U" >"$T/verify/cpgo.service"
  MANPATH="$R/share/man:" systemd-analyze verify "$T/verify/cpgo.service" >"$T/verify/out" 2>&1
  rc=$?
  check "systemd-analyze verify the installed unit (exit $rc: $(grep -m3 cpgo "$T/verify/out"))" [ "$rc" -eq 0 ]
  check "systemd-analyze verify has nothing to say about it" sh -c "! grep -q 'cpgo.service' '$T/verify/out'"
else
  echo "NOTE: systemd-analyze is not installed: the installed unit is not verified"
fi
finish
