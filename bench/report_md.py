#!/usr/bin/python3
"""bench/report_md.py RESULTS.json — the result tables of docs/benchmarks.md
(Markdown) from a results.json written by bench/compare.py, so a new run can
replace the numbers without retyping them. Medians over rounds, as compare.py
computes them; prose (what the numbers mean) stays hand-written."""
import json
import statistics
import sys


def n(x, spec=",.0f"):
    return "n/a" if x is None else format(x, spec)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def handshake(r):
    print("| CRL entries | handshakes/s revmq | Mosquitto | ratio | broker CPU µs/handshake revmq "
          "| Mosquitto | ratio | broker RSS after, MiB revmq | Mosquitto |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size, e in r["handshake"].items():
        name = "none" if size == "0" else n(int(size))
        rate_m = e.get("mosquitto_rate")
        print(f"| {name} | {n(e.get('revmq_rate'))} | "
              f"{n(rate_m, ',.1f') if rate_m is not None and rate_m < 100 else n(rate_m)} | "
              f"**{n(e.get('ratio_rate'), '.2f')}** | {n(e.get('revmq_cpu_us_per_hs'))} | "
              f"{n(e.get('mosquitto_cpu_us_per_hs'))} | **{n(e.get('ratio_cpu_per_hs'), '.3f')}** | "
              f"{n((e.get('revmq_rss_kb') or 0) / 1024)} | {n((e.get('mosquitto_rss_kb') or 0) / 1024)} |")
        for kind in ("revmq", "mosquitto"):
            runs = e.get("runs", {}).get(kind, [])
            print(f"<!-- {size} {kind} rounds: " + "; ".join(
                f"{x['rate']:.0f}/s {x['broker_cpu_us_per_hs'] or 0:.0f}us failed={x['failed']} "
                f"errors={x['errors']}" for x in runs) + " -->")
    c = r.get("ceiling")
    if c:
        print(f"\nceiling: sign {c['ecdsa_p256_sign_us']:.1f} us, verify {c['ecdsa_p256_verify_us']:.1f} us, "
              f"X25519 {c['x25519_us']:.1f} us -> t_hs {c['server_crypto_us_per_handshake']:.0f} us, "
              f"{c['ceiling_handshakes_per_sec_per_core']:,.0f} handshakes/s per core")


NAMES = {"revmq": "revmq", "mosquitto": "Mosquitto", "nanomq": "NanoMQ"}


def peers(r):
    return r.get("settings", {}).get("peers") or ["revmq", "mosquitto"]


def test_name(key):
    """'tcp_qos0_1to1' -> 'TCP, QoS 0, 1 → 1' (older results have no transport: mTLS)."""
    parts = key.split("_")
    transport = parts[0] if len(parts) == 3 else "mtls"
    qos, pair = parts[-2], parts[-1]
    k = pair.split("to")[0]
    return f"{'TCP' if transport == 'tcp' else 'mTLS 1.3'}, QoS {qos[3:]}, {k} → {k}"


def rate_or_failed(e, p, key):
    """The median rate, or 'failed (errors)' when a run of that broker ended on a client error."""
    errs = e.get(f"{p}_errors") or []
    if errs:
        kinds = sorted({k for d in errs for k in d})
        return f"{n(e.get(f'{p}_{key}'))}, failed runs: {', '.join(kinds)}"
    return n(e.get(f"{p}_{key}"))


def throughput(r):
    ps = peers(r)
    others = [p for p in ps if p != "revmq"]
    print("| test | " + " | ".join(NAMES[p] for p in ps) + " | "
          + " | ".join(f"revmq / {NAMES[p]}" for p in others)
          + " | lost, sum of rounds: " + " / ".join(NAMES[p] for p in ps)
          + " | latency p50 " + " / ".join(NAMES[p] for p in ps) + " |")
    print("|---" * (1 + len(ps) + len(others) + 2) + "|")
    for key, e in r["throughput"].items():
        p50 = [med([x["p50_us"] for x in e["runs"].get(kind, [])]) for kind in ps]
        p50s = [f"{x / 1000:.1f} ms" if x is not None else "n/a" for x in p50]
        rats = [e.get(f"ratio_{p}", e.get("ratio") if p == "mosquitto" else None) for p in others]
        print(f"| {test_name(key)} | " + " | ".join(rate_or_failed(e, p, "recv_per_sec") for p in ps)
              + " | " + " | ".join(f"**{n(x, '.1f')}**" for x in rats) + " | "
              + " / ".join(n(e.get(f"{p}_lost")) for p in ps) + " | " + " / ".join(p50s) + " |")
        for kind in ps:
            print(f"<!-- {key} {kind} rounds: " + "; ".join(
                f"{x['received_per_sec']:.0f}/s lost={x['lost']} dups={x.get('duplicates')} "
                f"reordered={x.get('reordered')} errors={x.get('errors')}"
                for x in e["runs"].get(kind, [])) + " -->")
    reo = {p: sum(e.get(f"{p}_reordered") or 0 for e in r["throughput"].values()) for p in ps}
    print("\nDelivered out of order (summed over every test and round): "
          + ", ".join(f"{NAMES[p]} {n(reo[p])}" for p in ps))


def goodput(r):
    ps = peers(r)
    others = [p for p in ps if p != "revmq"]
    print("| test | " + " | ".join(f"goodput {NAMES[p]} (at --pub-rate)" for p in ps) + " | "
          + " | ".join(f"revmq / {NAMES[p]}" for p in others) + " | "
          + " | ".join(f"overload {NAMES[p]} (lost)" for p in ps) + " |")
    print("|---" * (1 + 2 * len(ps) + len(others)) + "|")
    for key, e in r["goodput"].items():
        t = r.get("throughput", {}).get(key)
        over = [f"{rate_or_failed(t, kind, 'recv_per_sec')} ({n(t.get(f'{kind}_lost'))})" if t
                else "n/a" for kind in ps]
        rats = [e.get(f"ratio_{p}", e.get("ratio") if p == "mosquitto" else None) for p in others]
        print(f"| {test_name(key)} | " + " | ".join(
            f"{n(e.get(f'{p}_goodput'))} ({n(e.get(f'{p}_goodput_pub_rate'))})" for p in ps)
              + " | " + " | ".join(f"**{n(x, '.1f')}**" for x in rats) + " | "
              + " | ".join(over) + " |")
        for kind in ps:
            print(f"<!-- {key} {kind} steps: " + "; ".join(
                f"{x['pub_rate']}/s -> {x['received_per_sec']:.0f}/s lost={x['lost']}"
                for x in e.get(f"{kind}_steps", [])) + " -->")


def persist(r):
    names = ["revmq-memory", "revmq-store", "revmq-store-nodelay", "mosquitto-persist"]
    print("| QoS 1, persistent subscriber sessions (TCP, 64 B) | revmq in memory | revmq store "
          "| revmq store, flush_delay 0 | Mosquitto persistence | store / memory "
          "| Mosquitto / revmq memory "
          "| lost, sum of rounds: memory / store / store 0 / Mosquitto |")
    print("|---|---|---|---|---|---|---|---|")
    for key, e in r["persist"].items():
        if not key.startswith("qos"):
            continue
        k = key.split("_")[1].split("to")[0]
        print(f"| {k} → {k} | " + " | ".join(n(e.get(f"{x}_recv_per_sec")) for x in names)
              + f" | **{n(e.get('revmq-store_vs_memory'), '.2f')}** | "
              f"{n(e.get('mosquitto-persist_vs_memory'), '.2f')} | "
              + " / ".join(n(e.get(f"{x}_lost")) for x in names) + " |")
        for x in names:
            print(f"<!-- {key} {x} rounds: " + "; ".join(
                f"{y['received_per_sec']:.0f}/s lost={y['lost']} dups={y.get('duplicates')} "
                f"errors={y.get('errors')}" for y in e["runs"].get(x, [])) + " -->")


def restart(r):
    e = r["restart"]
    print(f"{e['messages']:,} QoS 1 messages of 64 bytes queued for one offline persistent "
          "subscriber, then a graceful stop and a start\n")
    print("| broker | filled at msgs/s | acked | stop s | files on disk MB | exec → first CONNACK s "
          "| read back after restart | in s | RSS after start MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in ("revmq-store", "mosquitto-persist"):
        x = e.get(name)
        if not x:
            continue
        print(f"| {name} | {n(x.get('publish_per_sec'))} | {n(x.get('acked'))} | "
              f"{n(x.get('stop_seconds'), '.2f')} | {n((x.get('store_bytes') or 0) / 1e6, '.0f')} | "
              f"**{n(x.get('restart_to_connack_seconds'), '.2f')}** | "
              f"{n(x.get('received_after_restart'))} | {n(x.get('drain_seconds'), '.1f')} | "
              f"{n((x.get('rss_after_start_kb') or 0) / 1024)} |")
        if x.get("store_loaded_line"):
            print(f"<!-- {name}: {x['store_loaded_line']} -->")


def flood(r):
    print("| broker | median ms | max ms | no CONNACK within 5 s | idle median ms |")
    print("|---|---|---|---|---|")
    for kind, e in r["flood"].items():
        print(f"| {kind} | {n(e['flood_ms_median'], '.1f')} | {n(e['flood_ms_max'], ',.1f')} | "
              f"{e['flood_failed']} | {n(e['idle_ms_median'], '.2f')} |")


def memory(r):
    print("| transport | revmq | Mosquitto | ratio |")
    print("|---|---|---|---|")
    for key, what in (("memory", "mutual TLS 1.3"), ("memory_tcp", "plain TCP (for comparison)")):
        if key in r:
            e = r[key]
            print(f"| {what} | {n(e['revmq_bytes_per_conn'] / 1024, '.1f')} KiB | "
                  f"{n(e['mosquitto_bytes_per_conn'] / 1024, '.1f')} KiB | **{n(e['ratio'], '.2f')}** |")


def refresh(r):
    e = r["refresh"]
    print(f"CRL: {e['entries']:,} entries, {e['crl_bytes'] / 1e6:.1f} MB DER\n")
    print("| measurement | value |")
    print("|---|---|")
    print(f"| refresh (fetch + signature check + parse + index + save), idle broker | "
          f"**{e['refresh_seconds']:.2f} s** |")
    print(f"| same, while handling handshakes | {e['refresh_seconds_under_load']:.2f} s |")
    print(f"| peak memory during the refresh (VmHWM − RSS before) | **+{e['peak_extra_kb'] / 1024:.0f} MiB** "
          f"(over {e['rss_before_kb'] / 1024:.0f} MiB) |")
    print(f"| start of revmq to the first CRL in force (same CRL) | {e['start_to_first_crl_seconds']:.2f} s |")
    d = e.get("handshake_rate_during_refresh")
    i = e.get("handshake_rate_idle")
    drop = f" ({(d / i - 1) * 100:+.0f}%)" if d and i else ""
    print(f"| handshakes/s without refresh / during the refresh | {n(i)} / **{n(d)}**{drop} |")


def main():
    r = json.load(open(sys.argv[1]))
    m = r["machine"]
    print(f"machine: nproc {m['nproc']}, {m['cpu']}, {m['openssl']}, {m['mosquitto']}, "
          f"NanoMQ {m.get('nanomq') or 'not measured'}, kernel {m['kernel']}; "
          f"settings {r['settings']}\n")
    for name, fn in (("handshake", handshake), ("throughput", throughput), ("goodput", goodput),
                     ("flood", flood), ("memory", memory), ("refresh", refresh),
                     ("persist", persist), ("restart", restart)):
        if name in r:
            print(f"### {name}\n")
            fn(r)
            print()
    if r.get("failures"):
        print("FAILED:", r["failures"])


if __name__ == "__main__":
    main()
