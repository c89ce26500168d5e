# Makefile: the front door. Drives CMake into build/ (and build-asan/, build-tsan/, build-fuzz/).
# `make demo` and `make test` are the two commands the README opens with.
JOBS    ?= 2
SEEDS   ?= 1000
CMAKE   ?= cmake
CTEST   ?= ctest
DEPS     = cmake/install-deps.sh

.PHONY: all deps build test test-fast test-asan test-tsan test-tls test-restart sim fuzz fuzz-build demo demo-stop bench mtr \
	valgrind clean install package test-haproxy test-partitions test-lifecycle test-sst-methods bench-wan

all: build

deps:
	@bash $(DEPS)

build/CMakeCache.txt:
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps build/CMakeCache.txt
	$(CMAKE) --build build -j$(JOBS)

# Everything CI runs: the normal build's full suite, unit tests under ASan+UBSan and TSan, and
# every fuzzer for a short while (make fuzz for longer runs).
# The clang fuzz tree is built first so that a compiler difference fails in minutes, not at the end.
test: build fuzz-build
	cd build && $(CTEST) --output-on-failure -j1 --timeout 1200
	$(MAKE) test-asan test-tsan
	$(MAKE) fuzz FUZZ_SECONDS=$${CI_FUZZ_SECONDS:-15}

# heavy: two MariaDB nodes and trireme-arbd through kills and a power loss; three nodes through
# a power loss, the one behind catching up by IST (tests/mariadb/arbitrator.sh, cluster_restart.sh)
test-restart: build
	bash tests/mariadb/arbitrator.sh $(CURDIR)/build/lib/libtrireme.so $(CURDIR)/build/bin/trireme-arbd
	bash tests/mariadb/cluster_restart.sh $(CURDIR)/build/lib/libtrireme.so

# heavy: 3 MariaDB nodes, each in a network namespace of its own, under a bank workload through
# one-way loss, a partial partition, a flapping link, random loss and netem (root, ip, nft, tc);
# on trireme, then on Galera 4 if installed (tests/mariadb/partitions.sh)
test-partitions: build
	bash tests/mariadb/partitions.sh $(CURDIR)/build/lib/libtrireme.so
	if [ -r /usr/lib/galera/libgalera_smm.so ]; then \
		bash tests/mariadb/partitions.sh /usr/lib/galera/libgalera_smm.so; fi

# heavy: 3 MariaDB nodes: a rolling restart under writes through every node (no SST, every
# acknowledged row, the longest commit gap at most LIFECYCLE_MAX_GAP_MS), the IST donor
# SIGKILLed mid-stream, the joiner SIGKILLed mid-apply, state transfer under churn (two nodes
# restarted at once, a restart during a join, a joiner restarted while its SST is pending, a
# donor whose SST script fails) (tests/mariadb/lifecycle.sh; LIFECYCLE_PARTS picks parts); then the
# rolling restart on Galera 4, if installed, for its commit gap (printed, not checked)
LIFECYCLE_MAX_GAP_MS ?= 1000
test-lifecycle: build
	MAX_GAP_MS=$(LIFECYCLE_MAX_GAP_MS) bash tests/mariadb/lifecycle.sh $(CURDIR)/build/lib/libtrireme.so
	if [ -r /usr/lib/galera/libgalera_smm.so ]; then \
		LIFECYCLE_PARTS=rolling bash tests/mariadb/lifecycle.sh /usr/lib/galera/libgalera_smm.so; fi

# heavy: a MariaDB node with data of its own joins by a full SST once per method (rsync,
# mariabackup, mysqldump, trireme): CHECKSUM TABLE equal, none of its old rows left; on trireme,
# then on Galera 4 if installed (tests/mariadb/sst_methods.sh; about a minute each)
test-sst-methods: build
	flock /tmp/trireme-heavy.lock bash tests/mariadb/sst_methods.sh $(CURDIR)/build/lib/libtrireme.so $(CURDIR)/build/bin/wsrep_sst_trireme
	if [ -r /usr/lib/galera/libgalera_smm.so ]; then \
		flock /tmp/trireme-heavy.lock bash tests/mariadb/sst_methods.sh /usr/lib/galera/libgalera_smm.so $(CURDIR)/build/bin/wsrep_sst_trireme; fi

test-fast: build
	cd build && $(CTEST) --output-on-failure -L unit

test-asan: deps
	$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTRIREME_SANITIZE=address
	$(CMAKE) --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		$(CTEST) --output-on-failure -L 'unit|kv|sim' --timeout 1200

test-tsan: deps
	$(CMAKE) -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DTRIREME_SANITIZE=thread
	$(CMAKE) --build build-tsan -j$(JOBS)
	# Galera's own library is not TSan-instrumented and reports its own lock-order inversions.
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1 $(CTEST) --output-on-failure -L 'unit|kv' \
		-E galera --timeout 1200

# Heavy: TLS on gcomm with MariaDB (3 nodes, sysbench, a foreign certificate refused), on trireme and
# on Galera 4 with the same PKI, then MariaDB's own SSL tests of the galera suites on trireme.
MTR_TLS_TESTS ?= galera.galera_ssl galera.galera_ssl_cipher galera.galera_ssl_upgrade \
	galera.galera_var_notify_ssl_ipv6 galera_3nodes.galera_ssl_reload
test-tls: build
	bash $(DEPS) --with-tls
	bash tests/mariadb/tls_cluster.sh $(CURDIR)/build/lib/libtrireme.so
	if [ -r /usr/lib/galera/libgalera_smm.so ]; then \
		bash tests/mariadb/tls_cluster.sh /usr/lib/galera/libgalera_smm.so; fi
	../shared/bin/mtr-run $(CURDIR)/build/lib/libtrireme.so /tmp/trireme-mtr-tls $(MTR_TLS_TESTS)

valgrind: build
	bash tests/scripts/valgrind.sh build

sim: build
	build/bin/trireme-sim --seeds $(SEEDS)
	build/bin/trireme-nsim --seeds $(SEEDS)

fuzz-build: deps
	CC=clang $(CMAKE) -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRIREME_FUZZ=ON
	$(CMAKE) --build build-fuzz -j$(JOBS)

fuzz: fuzz-build
	bash tests/fuzz/run.sh build-fuzz/fuzz $${FUZZ_SECONDS:-60}

demo: build
	bash tests/scripts/demo.sh start

demo-stop:
	bash tests/scripts/demo.sh stop

bench: build
	bash tests/scripts/bench.sh

# Heavy, root (not in `make test` nor `make bench`): 3 MariaDB nodes in network namespaces joined
# by tests/bench/wan_link, every packet held WAN_DELAYS ms one way (default "10 50"), sysbench with
# WAN_CLIENTS clients (default "16 64") over the three nodes, WAN_SECONDS (60) each: commit
# latency p50/p99 and TPS, trireme against Galera 4 in the same sitting (tests/bench/wan_bench.sh)
bench-wan: build
	flock /tmp/trireme-heavy.lock bash tests/bench/wan_bench.sh $(CURDIR)/build/lib/libtrireme.so /usr/lib/galera/libgalera_smm.so

mtr: build
	bash $(DEPS) --with-mtr
	../shared/bin/mtr-run $(CURDIR)/build/lib/libtrireme.so /tmp/trireme-mtr $${MTR_TESTS:-galera}

# `make install [PREFIX=/usr/local] [DESTDIR=/tmp/stage]`: the provider, trireme-status and the
# other installable tools from build/ (packaging/install.cmake says where each goes).
install: build
	$(CMAKE) --install build $(if $(PREFIX),--prefix $(PREFIX))

# The Debian package, built in its own tree for prefix /usr: build-pkg/trireme_<version>_amd64.deb
# (`apt install ./build-pkg/trireme_*.deb`).
package: deps
	$(CMAKE) -S . -B build-pkg -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr
	$(CMAKE) --build build-pkg -j$(JOBS)
	cd build-pkg && cpack -G DEB
	@ls -l build-pkg/trireme_*.deb

# Heavy (not in `make test`): HAProxy with trireme-status --serve-check in front of 3 MariaDB
# nodes under sysbench while nodes are killed, desynced and restarted, on trireme and on Galera 4;
# then the .deb installed with apt, loaded by MariaDB, and removed.
test-haproxy: build package
	bash $(DEPS) --with-haproxy
	flock /tmp/trireme-heavy.lock bash tests/ops/haproxy.sh $(CURDIR)/build/lib/libtrireme.so $(CURDIR)/build/bin/trireme-status
	flock /tmp/trireme-heavy.lock bash tests/ops/haproxy.sh /usr/lib/galera/libgalera_smm.so $(CURDIR)/build/bin/trireme-status
	flock /tmp/trireme-heavy.lock bash tests/ops/deb_install.sh $(CURDIR)/build-pkg

clean:
	rm -rf build build-asan build-tsan build-fuzz build-pkg
