#!/usr/bin/env bash
# shim_dns.sh - name resolution under libustack.so goes through the stack.
# A kernel-side dnsmasq listens only on 10.77.0.1 and the namespace gets its
# own resolv.conf and hosts (/etc/netns/NS/, bind-mounted by ip netns exec,
# removed at exit; the host's files are never touched).  Checks: curl
# fetches http://web.test:8080/FILE byte-exact; python's getaddrinfo,
# gethostbyname_ex and getnameinfo (PTR) answer; res_query, res_search,
# res_querydomain, res_send and gethostbyaddr answer; the queries crossed the
# stack (udp_tx/udp_rx grew, dnsmasq saw them from 10.77.0.2); a hosts-file
# name resolves without DNS traffic; an unknown name fails fast (curl exit
# 6); search list and a dead first nameserver are handled.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh" "$@"
# shellcheck source=shim_lib.sh
source "$(dirname "$0")/shim_lib.sh"
shim_setup
need_cmd curl cmp ss timeout
command -v dnsmasq >/dev/null 2>&1 ||
	skip "dnsmasq is not installed (apt-get install -y dnsmasq-base)"

NSDIR=/etc/netns/$NS
NSDIR_MADE=""
dns_cleanup() {
	local rc=$?
	set +e
	[ -n "$NSDIR_MADE" ] && rm -rf "$NSDIR"
	(exit "$rc")
	cleanup
}
trap dns_cleanup EXIT

[ -e "$NSDIR" ] && fail "$NSDIR already exists"
mkdir -p "$NSDIR"
NSDIR_MADE=1
printf 'nameserver %s\noptions timeout:2 attempts:2\n' "$HOST_IP" >"$NSDIR/resolv.conf"
printf '127.0.0.1 localhost\n%s kernel-side.example kside # the far side\n' "$HOST_IP" \
	>"$NSDIR/hosts"
ns grep -q "^nameserver $HOST_IP" /etc/resolv.conf ||
	fail "ip netns exec did not bind-mount $NSDIR/resolv.conf"

start_daemon

# dnsmasq: only on the kernel side of the TAP, authoritative for .test.
# (ip netns exec directly, not the ns function: $! must be dnsmasq itself)
ip netns exec "$NS" dnsmasq --no-daemon --no-resolv --no-hosts --user=root \
	--listen-address="$HOST_IP" --bind-interfaces --port 53 \
	--local=/test/ --address=/web.test/"$HOST_IP" \
	--ptr-record=2.0.77.10.in-addr.arpa,stack-side.test \
	--host-record=mail.test,10.77.0.9 --txt-record=txt.test,"hello ustack" \
	--pid-file="$T_TMP/dnsmasq.pid" --log-queries --log-facility="$T_TMP/dnsmasq.log" \
	2>"$T_TMP/dnsmasq.err" &
PIDS+=($!)
for ((i = 0; i < 100; i++)); do
	ns ss -Hlun "sport = :53" | grep -q . && break
	sleep 0.1
done
ns ss -Hlun "sport = :53" | grep -q "$HOST_IP" ||
	fail "dnsmasq is not listening on $HOST_IP:53: $(cat "$T_TMP/dnsmasq.err")"
ok "dnsmasq listens on $HOST_IP:53 only"

mkdir "$T_TMP/www"
head -c $((3 * MiB)) /dev/urandom >"$T_TMP/www/file"
ip netns exec "$NS" "$PY" -m http.server --bind "$HOST_IP" --directory "$T_TMP/www" 8080 \
	>"$T_TMP/http.log" 2>&1 &
PIDS+=($!)
wait_kernel_listen 8080

queries() { grep -c "query\[.*\] $1 from $STACK_IP" "$T_TMP/dnsmasq.log" || true; }

# 1. curl by name: the A query crosses the stack, then the download.
tx0=$(ctr udp_tx)
rx0=$(ctr udp_rx)
shim timeout 30 curl -sS -o "$T_TMP/got" "http://web.test:8080/file" ||
	fail "curl http://web.test:8080/file under the shim failed"
cmp -s "$T_TMP/got" "$T_TMP/www/file" || fail "curl by name: the file differs"
ok "curl http://web.test:8080/file under the shim: 3 MiB byte-exact"
tx1=$(ctr udp_tx)
rx1=$(ctr udp_rx)
if [ "$tx1" -le "$tx0" ] || [ "$rx1" -le "$rx0" ]; then
	fail "udp_tx $tx0 -> $tx1, udp_rx $rx0 -> $rx1: the lookup did not cross the stack"
fi
[ "$(queries web.test)" -ge 1 ] || fail "dnsmasq saw no query for web.test from $STACK_IP"
ok "the lookup went through ustack (udp_tx $tx0 -> $tx1, udp_rx $rx0 -> $rx1; dnsmasq saw it from $STACK_IP)"

# 2. python: getaddrinfo, gethostbyname_ex (gethostbyname_r), getnameinfo.
out=$(shim timeout 30 "$PY" - <<'EOF'
import socket
ai = socket.getaddrinfo('web.test', 80)
assert ai, ai
assert {a[4] for a in ai} == {('10.77.0.1', 80)}, ai
assert all(a[0] == socket.AF_INET for a in ai), ai
assert {a[1] for a in ai} == {socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW}, ai
ai = socket.getaddrinfo('web.test', 'http', type=socket.SOCK_STREAM, flags=socket.AI_CANONNAME)
assert len(ai) == 1 and ai[0][3] == 'web.test' and ai[0][4] == ('10.77.0.1', 80), ai
assert socket.getaddrinfo(None, 7, flags=socket.AI_PASSIVE, type=socket.SOCK_DGRAM)[0][4] == ('0.0.0.0', 7)
assert socket.getaddrinfo('10.1.2.3', None, flags=socket.AI_NUMERICHOST)[0][4][0] == '10.1.2.3'
try:
    socket.getaddrinfo('web.test', 80, flags=socket.AI_NUMERICHOST)
    raise SystemExit('AI_NUMERICHOST looked a name up')
except socket.gaierror as e:
    assert e.errno == socket.EAI_NONAME, e
try:
    socket.getaddrinfo('web.test', 80, socket.AF_INET6)
    raise SystemExit('AF_INET6 gave a result')
except socket.gaierror as e:
    assert e.errno in (socket.EAI_FAMILY, socket.EAI_NONAME), e
try:
    socket.getaddrinfo('nope.test', 80)
    raise SystemExit('nope.test resolved')
except socket.gaierror as e:
    assert e.errno == socket.EAI_NONAME, e
assert socket.gethostbyname_ex('web.test') == ('web.test', [], ['10.77.0.1']), socket.gethostbyname_ex('web.test')
assert socket.gethostbyname('kside') == '10.77.0.1'
assert socket.getnameinfo(('10.77.0.1', 80), 0) == ('kernel-side.example', 'http')
assert socket.getnameinfo(('10.77.0.2', 53), socket.NI_NAMEREQD | socket.NI_DGRAM) == ('stack-side.test', 'domain')
assert socket.getnameinfo(('10.77.0.2', 8), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV) == ('10.77.0.2', '8')
print('python-ok', ai[0][4][0])
EOF
) || fail "python lookups under the shim failed: $out"
[ "$out" = "python-ok 10.77.0.1" ] || fail "python lookups: unexpected output: $out"
ok "python getaddrinfo/gethostbyname_ex/getnameinfo (hosts and PTR) under the shim"
[ "$(queries 2.0.77.10.in-addr.arpa)" -ge 1 ] || fail "dnsmasq saw no PTR query from $STACK_IP"

# 2b. The resolver(3) calls and gethostbyaddr (python ctypes and CPython's
#     socket.gethostbyaddr, which is gethostbyaddr_r): raw replies for A and
#     TXT, NXDOMAIN and NODATA as h_errno, the search list (LOCALDOMAIN),
#     res_mkquery + res_send, the pre-2.34 __res_query name, PTR via the stack.
out=$(shim env LOCALDOMAIN=test timeout 60 "$PY" - <<'EOF'
import ctypes, socket, struct
libc = ctypes.CDLL(None)
libc.__h_errno_location.restype = ctypes.POINTER(ctypes.c_int)
herr = lambda: libc.__h_errno_location()[0]
buf = ctypes.create_string_buffer(4096)

def answer(fn, *args):
    n = fn(*args, buf, 4096)
    assert n > 12, (fn, args, n, herr())
    m = buf.raw[:n]
    assert m[3] & 0x0f == 0 and struct.unpack('>H', m[6:8])[0] >= 1, m
    return m

m = answer(libc.res_query, b"web.test", 1, 1)
assert m[-4:] == socket.inet_aton('10.77.0.1'), m
m = answer(libc.__res_query, b"mail.test", 1, 1)
assert m[-4:] == socket.inet_aton('10.77.0.9'), m
m = answer(libc.res_query, b"txt.test", 1, 16)
assert b"hello ustack" in m, m
m = answer(libc.res_search, b"mail", 1, 1)
assert m[-4:] == socket.inet_aton('10.77.0.9'), m
m = answer(libc.res_querydomain, b"web", b"test", 1, 1)
assert m[-4:] == socket.inet_aton('10.77.0.1'), m
r = libc.res_query(b"nope.test", 1, 1, buf, 4096)
assert r == -1 and herr() == 1, ("nxdomain", r, herr())   # HOST_NOT_FOUND
r = libc.res_query(b"mail.test", 1, 16, buf, 4096)
assert r == -1 and herr() == 4, ("nodata", r, herr(), buf.raw[:40])  # NO_DATA
q = ctypes.create_string_buffer(512)
ql = libc.res_mkquery(0, b"mail.test", 1, 1, None, 0, None, q, 512)
assert ql > 12, ql
n = libc.res_send(q, ql, buf, 4096)
assert n > 12 and buf.raw[:2] == q.raw[:2] and buf.raw[n - 4:n] == socket.inet_aton('10.77.0.9'), n
assert socket.gethostbyaddr('10.77.0.9')[0] == 'mail.test', socket.gethostbyaddr('10.77.0.9')
assert socket.gethostbyaddr('10.77.0.1')[0] == 'kernel-side.example'
try:
    socket.gethostbyaddr('10.77.0.200')
    raise SystemExit('10.77.0.200 has a name')
except socket.herror:
    pass
print('res-ok')
EOF
) || fail "res_query/res_search/res_send/gethostbyaddr under the shim failed: $out"
[ "$out" = "res-ok" ] || fail "resolver calls: unexpected output: $out"
for q in txt.test mail.test 9.0.77.10.in-addr.arpa; do
	[ "$(queries "$q")" -ge 1 ] || fail "dnsmasq saw no query for $q from $STACK_IP"
done
[ "$(queries 1.0.77.10.in-addr.arpa)" -eq 0 ] || fail "gethostbyaddr(10.77.0.1) asked DNS despite /etc/hosts"
ok "res_query (A, TXT, __res_query), res_search, res_querydomain, res_send, NXDOMAIN/NODATA h_errno, gethostbyaddr (hosts, PTR) through the stack"

# 3. A name from the namespace's hosts file: no DNS traffic at all.
tx0=$(ctr udp_tx)
shim timeout 30 curl -sS -o "$T_TMP/got2" "http://kside:8080/file" ||
	fail "curl http://kside:8080/file (hosts file) under the shim failed"
cmp -s "$T_TMP/got2" "$T_TMP/www/file" || fail "curl by hosts-file name: the file differs"
tx1=$(ctr udp_tx)
[ "$tx1" -eq "$tx0" ] || fail "a hosts-file lookup sent $((tx1 - tx0)) UDP datagrams"
[ "$(queries kside)" -eq 0 ] || fail "dnsmasq was asked for kside"
ok "hosts-file name resolved without DNS traffic (udp_tx stayed $tx0)"

# 4. An unknown name: curl's "Could not resolve host", quickly.
t0=$(now_ns)
rc=0
shim timeout 30 curl -sS -o /dev/null "http://nope.test:8080/" 2>"$T_TMP/curl.err" || rc=$?
ms=$((($(now_ns) - t0) / 1000000))
[ "$rc" -eq 6 ] || fail "curl for an unknown name exited $rc (expected 6): $(cat "$T_TMP/curl.err")"
grep -q "Could not resolve host" "$T_TMP/curl.err" || fail "curl said: $(cat "$T_TMP/curl.err")"
[ "$ms" -lt 3000 ] || fail "the unknown name took $ms ms"
ok "unknown name: curl exit 6 \"Could not resolve host\" in $ms ms"

# 5. A dead first nameserver (nobody at .3: its ARP goes unanswered), the
#    search list, timeout:1 attempts:1.
printf 'nameserver 10.77.0.3\nnameserver %s\nsearch example test\noptions timeout:1 attempts:1\n' \
	"$HOST_IP" >"$NSDIR/resolv.conf"
t0=$(now_ns)
shim timeout 30 curl -sS -o "$T_TMP/got3" "http://web:8080/file" ||
	fail "curl http://web:8080/file (search list, dead first server) failed"
ms=$((($(now_ns) - t0) / 1000000))
cmp -s "$T_TMP/got3" "$T_TMP/www/file" || fail "curl via the search list: the file differs"
[ "$(queries web.test)" -ge 2 ] || fail "dnsmasq did not see web.test again"
ok "search list and a dead first nameserver: web -> web.test in $ms ms"

wait_ipc_socks 0 10
ok "every IPC socket released"
[ "$(ipc_ctr bad_msgs)" -eq 0 ] || fail "ipc_bad_msgs is not 0"
assert_alive
stop_daemon
