#!/usr/bin/env bash
# deps.sh - install what ustack's build, demo and tests need (Debian 12).
#
# Idempotent: checks each package with dpkg and installs only what is
# missing (one `apt-get update` first, non-interactive).  Prints nothing
# when everything is already there.  Needs root only when it must install.
set -euo pipefail

PKGS=(
	# build
	build-essential gcc clang meson ninja-build pkg-config
	libbsd-dev    # sys/queue.h, sys/tree.h, strlcpy, arc4random
	check         # unit-test framework
	llvm libclang-rt-dev  # sanitizer runtimes and symbolizer for the ASan/UBSan build
	# integration tests and demo
	iproute2 iputils-ping iputils-arping socat netcat-openbsd
	python3 python3-scapy tcpdump tshark nftables util-linux procps coreutils
	curl wget nginx-light wrk iperf3 dnsmasq-base  # stock programs run under libustack.so
	sockperf gnuplot-nox ethtool  # tests/bench/bench_vs_kernel.sh (ethtool: veth offloads)
)

installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

missing=()
for p in "${PKGS[@]}"; do
	installed "$p" || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

echo "deps.sh: installing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages and not root; run: sudo $0" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for p in "${missing[@]}"; do
	installed "$p" || {
		echo "deps.sh: $p did not install" >&2
		exit 1
	}
done
echo "deps.sh: done"
