"""Encrypted DNS side by side: plain UDP, DoT and DoH served by one Straja (workers: 1) to
dnsperf, on cached names, in interleaved rounds; and what encrypted listeners and
upstreams cost at start-up (time to the first answer) and in RSS.

    .venv/bin/python bench/encrypted_bench.py --seconds 5 --rounds 3

Everything runs on loopback: a local Unbound (static zone, never iterates) is the upstream.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.dnsperf import DNSPERF  # noqa: E402

NAMES = [f"n{i:03d}.bench.test" for i in range(200)]


def free_port() -> int:
    """A port free for both TCP and UDP (a TCP-only probe can hand out a port whose UDP
    side another server holds, which would then answer for us)."""
    while True:
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def certificate(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("bench.test"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def start_unbound(directory: Path, port: int, tls: tuple[Path, Path] | None = None,
                  tls_port: int = 0) -> subprocess.Popen[bytes]:
    lines = ["server:", "  interface: 127.0.0.1", f"  port: {port}", "  do-daemonize: no",
             '  chroot: ""', '  username: ""', f'  directory: "{directory}"',
             "  use-syslog: no", "  do-ip6: no", "  num-threads: 1",
             '  module-config: "iterator"', '  local-zone: "." static',
             '  local-zone: "bench.test." static']
    lines += [f'  local-data: "{n}. 3600 IN A 192.0.2.1"' for n in NAMES]
    if tls is not None:
        lines += [f"  interface: 127.0.0.1@{tls_port}", f"  tls-port: {tls_port}",
                  f'  tls-service-pem: "{tls[0]}"', f'  tls-service-key: "{tls[1]}"']
    lines += ["remote-control:", "  control-enable: no"]
    conf = directory / "unbound.conf"
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([shutil.which("unbound") or "/usr/sbin/unbound", "-d", "-c",
                             str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_answer(port)
    return proc


def query_once(port: int, timeout: float = 0.2) -> bool:
    packet = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" \
             b"\x04n000\x05bench\x04test\x00\x00\x01\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, ("127.0.0.1", port))
        try:
            s.recv(512)
        except OSError:
            return False
    return True


def wait_answer(port: int, limit: float = 20.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if query_once(port, 0.05):
            return time.monotonic() - start
    raise RuntimeError(f"nothing answered on port {port}")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start_straja(directory: Path, config: dict[str, Any]) -> tuple[subprocess.Popen[bytes], float]:
    path = directory / "straja.yaml"
    path.write_text(yaml.safe_dump(config))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "admin", "serve", "--config", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    port = config["dns"]["listen"][0].rsplit(":", 1)[1]
    wait_answer(int(port))
    return proc, time.monotonic() - started


def dnsperf(mode: str, port: int, names: Path, seconds: float) -> float:
    cmd = [DNSPERF, "-s", "127.0.0.1", "-p", str(port), "-d", str(names), "-l", str(seconds),
           "-c", "4", "-q", "200", "-m", mode]
    if mode == "doh":
        cmd += ["-O", f"doh-uri=https://127.0.0.1:{port}/dns-query", "-O", "doh-method=POST"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    if os.environ.get("BENCH_VERBOSE"):
        print(out)
    for line in out.splitlines():
        if "Queries per second:" in line:
            return float(line.split()[-1])
    raise RuntimeError(f"dnsperf {mode} printed no rate:\n{out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="straja-encbench-"))
    cert, key = certificate(work)
    up_port, up_tls = free_port(), free_port()
    (work / "unbound").mkdir()
    unbound = start_unbound(work / "unbound", up_port, (cert, key), up_tls)
    names = work / "names.txt"
    names.write_text("".join(f"{n} A\n" for n in NAMES))
    procs: list[subprocess.Popen[bytes]] = [unbound]
    try:
        base: dict[str, Any] = {"upstreams": [f"127.0.0.1:{up_port}"],
                                "stop_page": {"enabled": False}, "log": {"level": "warning"},
                                "upstream_tls": {"ca_file": str(cert)}}
        print("start-up to the first answer and RSS after 2,000 queries (workers: 1)")
        print(f"{'configuration':36} {'start s':>8} {'RSS MiB':>8}")
        variants = {
            "plain DNS, plain upstream": {},
            "+ DoT and DoH listeners": {"dns": {"tls_listen": [f"127.0.0.1:{free_port()}"],
                                                "https_listen": [f"127.0.0.1:{free_port()}"],
                                                "tls_cert": str(cert), "tls_key": str(key)}},
            "DoT upstream": {"upstreams": [f"tls://127.0.0.1:{up_tls}#bench.test"]},
        }
        for label, extra in variants.items():
            directory = work / label.replace(" ", "_").replace("+", "p").replace(",", "")
            directory.mkdir()
            dns = {"listen": [f"127.0.0.1:{free_port()}"], **extra.get("dns", {})}
            config = {**base, **{k: v for k, v in extra.items() if k != "dns"}, "dns": dns,
                      "state_dir": str(directory / "state")}
            proc, took = start_straja(directory, config)
            port = int(dns["listen"][0].rsplit(":", 1)[1])
            for _ in range(2000):
                query_once(port)
            print(f"{label:36} {took:8.2f} {rss_kib(proc.pid) / 1024:8.1f}")
            proc.terminate()
            proc.wait(10)

        directory = work / "throughput"
        directory.mkdir()
        ports = {"udp": free_port(), "dot": free_port(), "doh": free_port()}
        config = {**base, "state_dir": str(directory / "state"),
                  "dns": {"listen": [f"127.0.0.1:{ports['udp']}"],
                          "tls_listen": [f"127.0.0.1:{ports['dot']}"],
                          "https_listen": [f"127.0.0.1:{ports['doh']}"],
                          "tls_cert": str(cert), "tls_key": str(key)}}
        proc, _ = start_straja(directory, config)
        procs.append(proc)
        dnsperf("udp", ports["udp"], names, 1)  # warm the cache
        results: dict[str, list[float]] = {mode: [] for mode in ports}
        for _ in range(args.rounds):
            for mode, port in ports.items():
                results[mode].append(dnsperf(mode, port, names, args.seconds))
        print(f"\nthroughput on {len(NAMES)} cached names, {args.rounds} interleaved rounds of "
              f"{args.seconds:g} s, dnsperf -c 4 -q 200 (median q/s)")
        udp = statistics.median(results["udp"])
        print(f"{'transport':10} {'q/s':>10} {'vs UDP':>8}")
        for mode, rates in results.items():
            median = statistics.median(rates)
            print(f"{mode:10} {median:10.0f} {median / udp:8.2f}")
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
