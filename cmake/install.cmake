# install.cmake - installing and packaging, included at the end of CMakeLists.txt.
# `cmake --install build [--prefix P]` (P defaults to /usr/local): P/bin/cpgo, the systemd
# unit P/lib/systemd/system/cpgo.service (a DynamicUser, running P/bin/cpgo; systemd reads
# /usr/local/lib/systemd/system too), the documentation and sample configurations in
# P/share/doc/cpgo, the man page. Nothing outside P: the configuration in /etc/cpgo is the operator's
# (deploy/systemd/README.md). `cpack -G DEB` (scripts/package) adds what only the Debian
# package has: /etc/cpgo/config.yaml as a conffile, the unit running as the system user
# `cpgo` its postinst creates (deploy/debian/), and Debian's copyright and changelog.
# Components: Runtime (both), unit (cmake --install only), deb (the package only).
include(GNUInstallDirs)
# Installing (cmake --install, cpack) installs what was built and builds nothing: cpack
# from the test suite (tests/integration/package_deb.sh) must not rebuild binaries other
# tests are running. scripts/package builds first.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
# directories 0755 whatever the umask (lintian: non-standard-dir-perm)
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
    GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
install(TARGETS cpgo RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Runtime)
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT Runtime)
file(GLOB CPGO_DOCS ${CMAKE_CURRENT_SOURCE_DIR}/docs/*.md)
install(FILES ${CPGO_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs COMPONENT Runtime)
install(DIRECTORY docs/perf DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs COMPONENT Runtime
        FILES_MATCHING PATTERN "*.png")
install(FILES config.sample.yaml DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT Runtime)
install(DIRECTORY examples/config/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/config
        COMPONENT Runtime)
# the man page and Debian's changelog, compressed at configure time: gzip -9n (no name, no
# time stamp) gives the same bytes every time (lintian wants both compressed)
find_program(GZIP gzip REQUIRED)
function(cpgo_gzip src out)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${src})
  execute_process(COMMAND ${GZIP} -9nc ${src} OUTPUT_FILE ${out} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "gzip ${src} failed")
  endif()
endfunction()
set(CPGO_MAN ${CMAKE_CURRENT_BINARY_DIR}/CMakeFiles/cpgo.1.gz)
cpgo_gzip(${CMAKE_CURRENT_SOURCE_DIR}/docs/cpgo.1 ${CPGO_MAN})
install(FILES ${CPGO_MAN} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT Runtime)

# The Dockerfile's build context leaves deploy/ out (.dockerignore): such a tree installs
# the above only, and has no package.
if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/deploy/systemd/cpgo.service
   OR NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/deploy/debian/changelog)
  message(STATUS "deploy/ is missing: cmake --install installs no unit, and there is no package")
  return()
endif()
install(FILES deploy/systemd/config.yaml DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        RENAME config.systemd.yaml COMPONENT Runtime)
install(FILES deploy/systemd/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR}
        RENAME systemd.md COMPONENT Runtime)
set(CPGO_DEB_CHANGELOG ${CMAKE_CURRENT_BINARY_DIR}/CMakeFiles/changelog.Debian.gz)
cpgo_gzip(${CMAKE_CURRENT_SOURCE_DIR}/deploy/debian/changelog ${CPGO_DEB_CHANGELOG})
# The unit is written at install time (cmake/unit.cmake), when the prefix, and so the
# binary's path, is known: `--prefix` given to cmake --install, /usr in the package.
set(CPGO_UNIT_SRC ${CMAKE_CURRENT_SOURCE_DIR}/deploy/systemd/cpgo.service)
set(CPGO_UNIT_TMP ${CMAKE_CURRENT_BINARY_DIR}/CMakeFiles/cpgo-unit)
install(CODE "
  include(\"${CMAKE_CURRENT_SOURCE_DIR}/cmake/unit.cmake\")
  cpgo_unit_write(\"${CPGO_UNIT_SRC}\" \"${CPGO_UNIT_TMP}/plain/cpgo.service\"
                  \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/cpgo\"
                  \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}\" plain)
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\" TYPE FILE
       FILES \"${CPGO_UNIT_TMP}/plain/cpgo.service\")" COMPONENT unit)

# The Debian package. Debian 12 looks for units in /lib/systemd/system (usr-merge moves
# them to /usr/lib in later releases); /etc/cpgo is absolute, so the package is staged with
# DESTDIR (CPACK_SET_DESTDIR) and never touches this machine's /etc.
set(CPGO_DEB_UNITDIR /lib/systemd/system CACHE STRING "where the .deb puts cpgo.service")
install(CODE "
  include(\"${CMAKE_CURRENT_SOURCE_DIR}/cmake/unit.cmake\")
  cpgo_unit_write(\"${CPGO_UNIT_SRC}\" \"${CPGO_UNIT_TMP}/package/cpgo.service\"
                  \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/cpgo\"
                  \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}\" package)
  file(INSTALL DESTINATION \"${CPGO_DEB_UNITDIR}\" TYPE FILE
       FILES \"${CPGO_UNIT_TMP}/package/cpgo.service\")" COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES deploy/systemd/config.yaml DESTINATION /etc/cpgo COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES deploy/debian/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT deb
        EXCLUDE_FROM_ALL)
install(FILES deploy/debian/lintian-overrides DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides
        RENAME cpgo COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${CPGO_DEB_CHANGELOG} DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT deb
        EXCLUDE_FROM_ALL)

set(CPACK_PACKAGE_NAME cpgo)
set(CPACK_PACKAGE_VENDOR "cpgo maintainers")
set(CPACK_PACKAGE_CONTACT "cpgo maintainers <maintainers@users.noreply.r-seed-5cdcd660.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "continuous profile-guided optimization for Go fleets")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_STRIP_FILES ON)
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
# One package made of two components: what cmake --install installs (Runtime), and the
# Debian-only files (deb); not the DynamicUser unit of a plain install.
set(CPACK_COMPONENTS_ALL Runtime deb)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_DEBIAN_PACKAGE_NAME cpgo)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# the shared libraries' packages from dpkg-shlibdeps; adduser for postinst
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
# not libraries, so dpkg-shlibdeps cannot see them: the CA certificates for HTTPS (scrapes,
# forges) and the zone database for CRON_TZ (as scripts/runtime-packages lists them)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "ca-certificates, tzdata")
# the extended description; CPack puts CPACK_PACKAGE_DESCRIPTION_SUMMARY above it
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "cpgo scrapes CPU profiles from Go services (net/http/pprof) on a schedule,
merges them exactly as pprof does, trims them for the Go compiler's PGO and
publishes them as default.pgo files: into a directory, or as pull requests
to GitHub, GitLab or Gitea. Every accepted scrape is counted exactly once,
across restarts and crashes.
.
The package runs cpgo as a systemd service (cpgo.service, not enabled) under
the system user cpgo, with its state in /var/lib/cpgo and its configuration
in /etc/cpgo/config.yaml.")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_SOURCE_DIR}/deploy/debian/conffiles
    ${CMAKE_CURRENT_SOURCE_DIR}/deploy/debian/postinst
    ${CMAKE_CURRENT_SOURCE_DIR}/deploy/debian/prerm
    ${CMAKE_CURRENT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
