# unit.cmake - the systemd unit as installed, made from deploy/systemd/cpgo.service (the
# one unit the project keeps; deploy_recipe.sh checks it) at install time, when the
# installation's prefix is known:
#   * ExecStart runs this installation's binary (PREFIX/bin/cpgo), not /usr/local/bin/cpgo;
#   * flavor "package" (the .deb): the service runs as the system user `cpgo` that the
#     package's postinst creates, instead of a DynamicUser, so /var/lib/cpgo is a plain
#     directory owned by cpgo, which `apt-get purge` removes with the user.
# A source unit that no longer has the lines replaced here stops the install, rather than
# install a unit that runs another binary or user than intended.
#   * Documentation= names the man page and the installed systemd.md (DOCDIR);
#   cpgo_unit_write(SRC OUT EXEC DOCDIR FLAVOR)   FLAVOR: plain | package
function(cpgo_unit_write src out exec docdir flavor)
  file(READ "${src}" unit)
  string(REGEX MATCHALL "\nExecStart=/usr/local/bin/cpgo " found "${unit}")
  list(LENGTH found n)
  if(NOT n EQUAL 1)
    message(FATAL_ERROR "${src}: want one 'ExecStart=/usr/local/bin/cpgo ...' line, found ${n}")
  endif()
  string(REPLACE "\nExecStart=/usr/local/bin/cpgo " "\nExecStart=${exec} " unit "${unit}")
  if(NOT unit MATCHES "\nDocumentation=")
    string(REGEX REPLACE "\n(Description=[^\n]*\n)"
           "\n\\1Documentation=man:cpgo(1) file://${docdir}/systemd.md\n" unit "${unit}")
  endif()
  string(REPLACE "# Install steps: deploy/systemd/README.md." "# Install steps and why each setting: ${docdir}/systemd.md."
         unit "${unit}")
  set(head "# Installed from cpgo's deploy/systemd/cpgo.service; ExecStart is this installation's binary.\n")
  if(flavor STREQUAL "package")
    set(identity_re "# Identity and directories\\.[^\n]*\n(#[^\n]*\n)*DynamicUser=yes\n")
    if(NOT unit MATCHES "${identity_re}")
      message(FATAL_ERROR "${src}: the 'Identity and directories' paragraph ending in DynamicUser=yes is gone; cmake/unit.cmake replaces it for the package")
    endif()
    string(REGEX REPLACE "${identity_re}"
      "# Identity and directories. User cpgo: the system account the package's postinst\n# creates (no login, no shell) and `apt-get purge cpgo` removes. StateDirectory:\n# /var/lib/cpgo, owned by cpgo, kept across restarts and upgrades, removed by purge: set\n# `state_dir: /var/lib/cpgo` in the configuration. ConfigurationDirectory: /etc/cpgo\n# (/etc/cpgo/config.yaml is the package's conffile), read-only to the service.\nUser=cpgo\nGroup=cpgo\n"
      unit "${unit}")
    string(REPLACE "as a systemd service: a dynamic user," "as a systemd service: a system user,"
           unit "${unit}")
    set(head "# Installed by the cpgo Debian package from cpgo's deploy/systemd/cpgo.service, running as\n# the system user cpgo. Edit /etc/cpgo/config.yaml, then: systemctl enable --now cpgo.\n")
  elseif(NOT flavor STREQUAL "plain")
    message(FATAL_ERROR "cpgo_unit_write: flavor '${flavor}': want plain or package")
  endif()
  file(WRITE "${out}" "${head}${unit}")
endfunction()
