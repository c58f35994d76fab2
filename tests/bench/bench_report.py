#!/usr/bin/env python3
"""bench_report.py - the report of bench_vs_kernel.sh.

Usage: bench_report.py RAW.csv META NOTES OUT.md RATIOS.dat

RAW.csv has one figure per line, "section,metric,stack,run,value,unit"
(no header); META holds key=value lines about the machine and the run;
NOTES free lines.  Writes the Markdown report (median, min-max of the runs,
ratio of the medians) and, for gnuplot, "label<TAB>ratio" lines where a
ratio above 1 means ustack does better than the kernel.
"""
import statistics
import sys
from collections import defaultdict


def main():
    raw, meta_path, notes_path, out_md, out_dat = sys.argv[1:6]
    vals = defaultdict(list)  # (metric, stack) -> [values]
    units = {}
    for line in open(raw):
        f = line.strip().split(",")
        if len(f) != 6:
            continue
        _, metric, stack, _, value, unit = f
        try:
            vals[(metric, stack)].append(float(value))
        except ValueError:
            continue
        units[metric] = unit
    meta = {}
    for line in open(meta_path):
        k, _, v = line.rstrip("\n").partition("=")
        meta[k] = v
    notes = [n.rstrip("\n") for n in open(notes_path) if n.strip()]
    runs = int(meta.get("runs", "1"))
    ratios = []

    def med(metric, stack):
        v = vals.get((metric, stack))
        return statistics.median(v) if v else None

    def fmt(x):
        if x is None:
            return "-"
        if x == int(x) and abs(x) < 1e6:
            return f"{int(x):,}"
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        if abs(x) >= 100:
            return f"{x:.0f}"
        if abs(x) >= 10:
            return f"{x:.1f}"
        return f"{x:.2f}" if abs(x) >= 0.1 or x == 0 else f"{x:.3f}"

    def cell(metric, stack):
        v = vals.get((metric, stack))
        if not v:
            return "n/a"
        s = fmt(statistics.median(v))
        if len(v) > 1:
            s += f" ({fmt(min(v))}–{fmt(max(v))})"
        if len(v) < runs:
            s += f" [{len(v)}/{runs} runs]"
        return s

    def ratio(a, b):
        if a is None or b is None or a == 0 or b == 0:
            return "-"
        return f"{a / b:.2f}"

    out = []
    w = out.append
    w("# ustack vs the Linux kernel")
    w("")
    w(f"**{meta.get('date')}** · {meta.get('nproc')} CPUs ({meta.get('cpu')}) · "
      f"kernel {meta.get('kernel')} · TCP congestion control {meta.get('cc', '?')} · "
      f"build {meta.get('build')} · commit {meta.get('commit')} · "
      f"load average {meta.get('load_start')} at the start, {meta.get('load_end')} at the end")
    if meta.get("note"):
        w("")
        w(f"Note: {meta['note']}")
    w("")
    w(f"Each figure: median of {runs} runs (min–max).  Ratio = ustack / kernel of the medians "
      f"(for latency and CPU cost lower is better, so a ratio above 1 means ustack is slower or "
      f"costlier).  MTU 1500 everywhere.  ustack: ustackd on a TAP device, the program under "
      f"libustack.so, its peer on the kernel side of the TAP.  kernel: the same programs over a "
      f"veth pair between two namespaces.  Command: `sudo tests/bench/bench_vs_kernel.sh BUILD_DIR`.")
    w("")

    dirs = {"fwd": "program under the shim sends", "rev": "-R: program under the shim receives"}

    # 1. bulk
    w(f"## 1. Bulk TCP throughput, iperf3, {meta.get('duration')} s per run (Gbit/s)")
    w("")
    w("| figure | ustack | kernel, veth offloads off | ratio | kernel, veth offloads on | ratio "
      "| retransmitted segments per run: ustack / kernel off |")
    w("| --- | --- | --- | --- | --- | --- | --- |")
    for p in (1, 4):
        for d in ("fwd", "rev"):
            m = f"p{p}_{d}_gbps"
            rt = f"p{p}_{d}_retrans"
            u = med(m, "ustack")
            w(f"| -P {p}, {dirs[d]} | {cell(m, 'ustack')} | {cell(m, 'kernel_off')} | "
              f"{ratio(u, med(m, 'kernel_off'))} | {cell(m, 'kernel_on')} | "
              f"{ratio(u, med(m, 'kernel_on'))} | {cell(rt, 'ustack')} / {cell(rt, 'kernel_off')} |")
            if u and med(m, "kernel_off"):
                ratios.append((f"iperf3 -P {p} {d}: Gbit/s vs kernel (offloads off)",
                               u / med(m, "kernel_off")))
    w("")
    w("The shim against ustackd's built-in services (no IPC: a kernel-side client, "
      "`bench_stream`, against chargen (ustackd sends) and discard (ustackd receives); goal ≥ 0.80):")
    w("")
    w("| direction | iperf3 -P 1 under the shim | ustackd built-in service | shim / built-in |")
    w("| --- | --- | --- | --- |")
    for d, svc in (("fwd", "chargen"), ("rev", "discard")):
        m = f"p1_{d}_gbps"
        u, b = med(m, "ustack"), med(m, "builtin")
        w(f"| {'ustack sends' if d == 'fwd' else 'ustack receives'} | {cell(m, 'ustack')} | "
          f"{svc}: {cell(m, 'builtin')} | {ratio(u, b)} |")
        if u and b:
            ratios.append((f"shim / built-in, {d} (goal 0.80)", u / b))
    w("")

    # 2. latency
    w(f"## 2. Request/response latency, {meta.get('lat_duration')} s per run (µs per round trip)")
    w("")
    w("`bench_rr`: send a message, wait for the whole echo, repeat; TCP_NODELAY.  ustack: the "
      "client under the shim, the echo server on the kernel side of the TAP.  kernel: over veth.  "
      "Next: a kernel-side client against ustackd's built-in echo (no IPC).  Last two: the "
      f"shim again with `ustackd --busy-poll {meta.get('busy_poll', '?')}` (off by default: "
      "ustackd keeps polling that many µs after each piece of work instead of sleeping).")
    w("")
    w("| figure | ustack | kernel | ratio | ustackd built-in echo | ustack, --busy-poll | ratio |")
    w("| --- | --- | --- | --- | --- | --- | --- |")
    for size, name in ((64, "64 B"), (16384, "16 KiB")):
        for pct in ("p50", "p99"):
            m = f"lat_{size}_{pct}"
            u, k = med(m, "ustack"), med(m, "kernel")
            bp = med(m, "ustack_bp")
            w(f"| {name} {pct} | {cell(m, 'ustack')} | {cell(m, 'kernel')} | {ratio(u, k)} | "
              f"{cell(m, 'builtin')} | {cell(m, 'ustack_bp')} | {ratio(bp, k)} |")
            if u and k:
                ratios.append((f"latency {name} {pct} (kernel/ustack)", k / u))
    h2, h3 = med("lat_1_p50", "hops2"), med("lat_1_p50", "hops3")
    if h2 and h3:
        w("")
        w("No stack at all (`bench_hops`): one byte passed over pipes between two processes (the "
          "kernel's shape: the client's stack runs in the client), and through a third in the "
          "middle (the shim's shape: ustackd between the program and its peer).  The ratio is "
          "what the extra hop alone costs on this machine: the floor for the shim's ratio above.")
        w("")
        w("| figure | 3 processes | 2 processes | ratio |")
        w("| --- | --- | --- | --- |")
        for pct in ("p50", "p99"):
            m = f"lat_1_{pct}"
            w(f"| 1 B {pct} | {cell(m, 'hops3')} | {cell(m, 'hops2')} | "
              f"{ratio(med(m, 'hops3'), med(m, 'hops2'))} |")
    if any(med(f"lat_{z}_p50", "ustack_pin") for z in (64, 16384)):
        w("")
        w("Pinned (both stacks the same way): the client on CPU 0 with its stack (`ustackd --cpu 0`; "
          "the kernel's stack runs in the client's context), the echo server on CPU 1.")
        w("")
        w("| figure | ustack, pinned | kernel, pinned | ratio |")
        w("| --- | --- | --- | --- |")
        for size, name in ((64, "64 B"), (16384, "16 KiB")):
            for pct in ("p50", "p99"):
                m = f"lat_{size}_{pct}"
                u, k = med(m, "ustack_pin"), med(m, "kernel_pin")
                w(f"| {name} {pct} | {cell(m, 'ustack_pin')} | {cell(m, 'kernel_pin')} | {ratio(u, k)} |")
    hung = {}
    for z in (1, 64, 16384):
        for s in ("ustack", "builtin", "kernel", "ustack_bp", "ustack_pin", "kernel_pin", "hops2",
                  "hops3"):
            n = len(vals.get((f"lat_{z}_hung", s), []))
            if n:
                hung[f"{s} {z} B"] = n
    if hung:
        w("")
        w("Runs that failed (client hung, killed): " +
          ", ".join(f"{k}: {v} of {runs}" for k, v in hung.items()))
    w("")

    # 3. connection rate
    w(f"## 3. Connection rate: nginx, wrk -t 2 -c 32 -H 'Connection: close', 1 KiB file, "
      f"{meta.get('duration')} s per run")
    w("")
    w("| figure | ustack (nginx under the shim) | kernel (nginx over veth) | ratio |")
    w("| --- | --- | --- | --- |")
    u, k = med("conn_rps", "ustack"), med("conn_rps", "kernel")
    w(f"| requests/s | {cell('conn_rps', 'ustack')} | {cell('conn_rps', 'kernel')} | {ratio(u, k)} |")
    if u and k:
        ratios.append(("connections/s (nginx, Connection: close)", u / k))
    w(f"| socket errors + non-2xx per run | {cell('conn_errors', 'ustack')} | "
      f"{cell('conn_errors', 'kernel')} | |")
    w("")

    # 4. scale
    w(f"## 4. Scale: N connections from a kernel-side client to ustackd's built-in echo "
      f"(a fresh ustackd per level)")
    w("")
    w(f"RSS = ustackd's VmRSS after connecting; per connection = (RSS_N − RSS_0) / connected; "
      f"idle CPU = ustackd's utime+stime over {meta.get('scale_idle')} s with every connection "
      f"idle; echo = {meta.get('scale_echo')} s of 16 KiB round trips on all of them at once.")
    w("")
    w("| N | connected | open after idle | connect time (ms) | ustackd RSS_0 (MiB) | RSS_N (MiB) | "
      "KiB per idle connection | idle CPU (ms) | echo Gbit/s | RSS after echo (MiB) |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    levels = sorted({int(m[1:].split("_")[0]) for (m, s) in vals if m.startswith("n") and
                     m.endswith("_connected")})
    for n in levels:
        c = [f"n{n}_{x}" for x in ("connected", "alive", "connect_ms", "rss0", "rss",
                                    "kib_per_conn", "idle_cpu", "echo_gbps", "rss_echo")]
        w(f"| {n} | " + " | ".join(cell(m, "ustack") for m in c) + " |")
    w("")

    # 5. cost
    w("## 5. Cost: CPU seconds per GiB moved (from the bulk runs)")
    w("")
    w("process = ustackd + the iperf3 under the shim + the kernel-side iperf3 (ustack), or "
      "both iperf3s (kernel), from /proc/PID/stat and iperf3's getrusage figures; the kernel's "
      "softirq work mostly runs in these processes' system time, but not all of it.  machine = "
      "busy time of all CPUs from /proc/stat over the run: it includes every softirq, and also "
      "whatever else the machine was doing (see the load average above).")
    w("")
    w("| figure | ustack | kernel, offloads off | ratio | kernel, offloads on | ratio |")
    w("| --- | --- | --- | --- | --- | --- |")
    for p in (1, 4):
        for d in ("fwd", "rev"):
            for kind in ("proc", "machine"):
                m = f"p{p}_{d}_{kind}_cpu"
                u = med(m, "ustack")
                w(f"| -P {p} {d}, {kind} | {cell(m, 'ustack')} | {cell(m, 'kernel_off')} | "
                  f"{ratio(u, med(m, 'kernel_off'))} | {cell(m, 'kernel_on')} | "
                  f"{ratio(u, med(m, 'kernel_on'))} |")
                if kind == "machine" and p == 1 and u and med(m, "kernel_off"):
                    ratios.append((f"CPU/GiB -P 1 {d}, machine (kernel off/ustack)",
                                   med(m, "kernel_off") / u))
    for d, svc in (("fwd", "chargen"), ("rev", "discard")):
        w(f"| ustackd alone, -P 1 {d} under the shim / built-in {svc} | "
          f"{cell(f'p1_{d}_ustackd_cpu', 'ustack')} / {cell(f'p1_{d}_ustackd_cpu', 'builtin')} | | | | |")
    w("")

    w("## Notes")
    w("")
    w("- ustackd runs with its default `--offload on`: a virtio-net header on the TAP, the "
      "kernel completing our TCP checksums and cutting our TSO frames (up to 64 KiB), and "
      "handing us GSO frames.  'kernel, offloads off' (veth with tso/gso/gro/checksumming off) "
      "is the reference the issue names; 'offloads on' is what the kernel does by default.")
    w("- Latency uses bench_rr.c (a blocking send/whole-echo loop with TCP_NODELAY), the same "
      "program on both stacks.")
    w("- Raw per-run figures: latest.csv (section,metric,stack,run,value,unit).")
    if meta.get("failed"):
        w(f"- Sections with failures: {meta['failed']}.")
    for n in notes:
        w(f"- {n}")
    w("")
    open(out_md, "w").write("\n".join(out))
    with open(out_dat, "w") as f:
        for label, r in ratios:
            f.write(f"{label}\t{r:.3f}\n")


if __name__ == "__main__":
    main()
