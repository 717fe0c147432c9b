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


def throughput(r):
    print("| test | revmq | Mosquitto | ratio | lost, sum of rounds: revmq / Mosquitto "
          "| latency p50 revmq / Mosquitto |")
    print("|---|---|---|---|---|---|")
    for key, e in r["throughput"].items():
        qos, pair = key.split("_")
        k = pair.split("to")[0]
        p50 = [med([x["p50_us"] for x in e["runs"][kind]]) for kind in ("revmq", "mosquitto")]
        p50s = [f"{x / 1000:.1f} ms" if x is not None else "n/a" for x in p50]
        print(f"| QoS {qos[3:]}, {k} → {k} | {n(e['revmq_recv_per_sec'])} | "
              f"{n(e['mosquitto_recv_per_sec'])} | **{n(e['ratio'], '.1f')}** | "
              f"{n(e['revmq_lost'])} / {n(e['mosquitto_lost'])} | {p50s[0]} / {p50s[1]} |")


def goodput(r):
    print("| test | goodput revmq | (pub-rate) | goodput Mosquitto | (pub-rate) | ratio "
          "| overload revmq (lost) | overload Mosquitto (lost) |")
    print("|---|---|---|---|---|---|---|---|")
    for key, e in r["goodput"].items():
        qos, pair = key.split("_")
        k = pair.split("to")[0]
        t = r.get("throughput", {}).get(key)
        over = [f"{n(t[f'{kind}_recv_per_sec'])} ({n(t[f'{kind}_lost'])})" if t else "n/a"
                for kind in ("revmq", "mosquitto")]
        print(f"| QoS {qos[3:]}, {k} → {k} | {n(e['revmq_goodput'])} | "
              f"{n(e['revmq_goodput_pub_rate'])} | {n(e['mosquitto_goodput'])} | "
              f"{n(e['mosquitto_goodput_pub_rate'])} | **{n(e['ratio'], '.1f')}** | "
              f"{over[0]} | {over[1]} |")
        for kind in ("revmq", "mosquitto"):
            print(f"<!-- {key} {kind} steps: " + "; ".join(
                f"{x['pub_rate']}/s -> {x['received_per_sec']:.0f}/s lost={x['lost']}"
                for x in e[f"{kind}_steps"]) + " -->")


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
          f"kernel {m['kernel']}; settings {r['settings']}\n")
    for name, fn in (("handshake", handshake), ("throughput", throughput), ("goodput", goodput),
                     ("flood", flood), ("memory", memory), ("refresh", refresh)):
        if name in r:
            print(f"### {name}\n")
            fn(r)
            print()
    if r.get("failures"):
        print("FAILED:", r["failures"])


if __name__ == "__main__":
    main()
