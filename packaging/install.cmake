# packaging/install.cmake: `make install` rules and the Debian package (`make package`, CPack).
# Included last by the top-level CMakeLists.txt, so every tool's target is known here; a target
# that does not exist yet (trireme-arbd, wsrep_sst_trireme) is simply not installed.
#
# The provider goes to ${libdir}/trireme/libtrireme.so (/usr/lib/x86_64-linux-gnu/trireme/ in the
# package): it is a plugin MariaDB dlopen()s by full path, not a library to link against, so it
# stays out of the linker's search path (no ldconfig, no -dev symlinks), in a private directory
# as Debian's policy asks for such files; multiarch-correct, unlike galera's /usr/lib/galera/.
include(GNUInstallDirs)

set(TRIREME_PROVIDER_DIR ${CMAKE_INSTALL_LIBDIR}/trireme)
install(TARGETS trireme LIBRARY DESTINATION ${TRIREME_PROVIDER_DIR})
foreach(tool trireme-status trireme-arbd)
  if(TARGET ${tool})
    install(TARGETS ${tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()
# MariaDB runs wsrep_sst_<method> from its own bin directory and PATH, where Debian keeps
# wsrep_sst_rsync: a built program or, failing that, a script of that name in tools/.
if(TARGET wsrep_sst_trireme)
  install(TARGETS wsrep_sst_trireme RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
elseif(EXISTS ${CMAKE_SOURCE_DIR}/tools/wsrep_sst_trireme/wsrep_sst_trireme)
  install(PROGRAMS ${CMAKE_SOURCE_DIR}/tools/wsrep_sst_trireme/wsrep_sst_trireme
          DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
# The arbitrator as a service, modelled on Debian's garb.service and /etc/default/garb (the same
# variable names, so an existing garb configuration carries over).
if(TARGET trireme-arbd)
  set(TRIREME_ARBD_BIN ${CMAKE_INSTALL_FULL_BINDIR}/trireme-arbd)
  set(TRIREME_ARBD_DEFAULT ${CMAKE_INSTALL_FULL_SYSCONFDIR}/default/trireme-arbd)
  set(TRIREME_ARBD_WRAPPER ${CMAKE_INSTALL_FULL_LIBEXECDIR}/trireme/trireme-arbd-systemd)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/trireme-arbd.service.in
                 ${CMAKE_BINARY_DIR}/packaging/trireme-arbd.service @ONLY)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/trireme-arbd-systemd.in
                 ${CMAKE_BINARY_DIR}/packaging/trireme-arbd-systemd @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/packaging/trireme-arbd.service
          DESTINATION ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
  install(PROGRAMS ${CMAKE_BINARY_DIR}/packaging/trireme-arbd-systemd
          DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/trireme)
  install(FILES ${CMAKE_CURRENT_LIST_DIR}/trireme-arbd.default
          DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/default RENAME trireme-arbd)
  file(WRITE ${CMAKE_BINARY_DIR}/packaging/conffiles "${TRIREME_ARBD_DEFAULT}\n")
  set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_BINARY_DIR}/packaging/conffiles)
endif()
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/docs/operations.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR} OPTIONAL)

# ---- Debian package: trireme_<version>_amd64.deb ----------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME trireme)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "trireme developers <trireme@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "synchronous multi-master replication provider for MariaDB (wsrep API v26)")
set(CPACK_PACKAGE_DESCRIPTION
    "trireme is a Galera-compatible wsrep provider: set wsrep_provider to\n\
${CMAKE_INSTALL_FULL_LIBDIR}/trireme/libtrireme.so in MariaDB's configuration.\n\
Also ships trireme-status, a cluster status tool and HAProxy health check.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/")
# Depends come from the binaries' own needs (dpkg-shlibdeps): libc, libgcrypt, libzstd,
# libmariadb.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "mariadb-server (>= 1:10.11), rsync")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "haproxy")
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_RESOURCE_FILE_LICENSE ${CMAKE_SOURCE_DIR}/LICENSE)
include(CPack)
