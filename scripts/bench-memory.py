"""Helpers of scripts/bench-memory, by subcommand:
  measure SIDE ROUND PID ADDR N KIND...  holds N connections of each KIND against the server at
      ADDR and prints the growth of the RSS of PID and its descendants per connection, in KiB;
  upstream                               a throwaway HTTP upstream for the proxies: every request
      gets the 401 + challenge the library server gives (Connection: close); prints its port;
  summary FILE                           medians and spreads of the `result` lines in FILE."""

import asyncio
import base64
import os
import ssl
import statistics
import sys
import time

LIMIT = 65536  # bytes of a request or response head
DEADLINE = 60  # seconds for any one read


def descendants(pid):
    """PID and every process below it (nginx's and Apache's workers)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass  # exited meanwhile
    return found


def rss_kib(pid):
    """Summed VmRSS of PID and its descendants, in KiB."""
    total = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


async def response(reader):
    """Reads one HTTP response (head and Content-Length body); returns the head."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await asyncio.wait_for(reader.readexactly(min(length, LIMIT)), DEADLINE)
    return head


async def open_kind(kind, host, port, tls):
    if kind == "idle-tcp":
        return await asyncio.wait_for(asyncio.open_connection(host, port), DEADLINE)
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=tls, server_hostname="localhost", limit=LIMIT),
        DEADLINE)
    auth = b""
    if kind == "pending-ntlm":
        import spnego

        ctx = spnego.client("alice", "userpw", hostname="localhost", protocol="ntlm")
        auth = b"Authorization: NTLM " + base64.b64encode(ctx.step()) + b"\r\n"
    writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n" + auth + b"\r\n")
    await writer.drain()
    head = await response(reader)
    status = head.split(b" ", 2)[1]
    if status != b"401" or (kind == "pending-ntlm" and b"NTLM " not in head):
        raise RuntimeError(f"{kind}: unexpected answer {head[:200]!r}")
    return reader, writer


async def measure(side, rnd, pid, addr, n, kinds):
    host, port = addr.rsplit(":", 1)
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    held = []
    # One of each first, so that lazily set-up state (TLS session cache, NTLM tables, nginx's
    # and Apache's first-request allocations) is in the baseline, not in the first batch.
    for kind in kinds:
        held.append(await open_kind(kind, host, port, tls))
    for (_, writer), kind in zip(held, kinds):
        if kind != "idle-tcp":
            tls_object = writer.get_extra_info("ssl_object")
            print(f"memory {side} round {rnd}: {tls_object.version()} {tls_object.cipher()[0]}",
                  flush=True)
            break
    await asyncio.sleep(1)
    results = []
    base = start = rss_kib(pid)
    print(f"result {side} {rnd} baseline {base}", flush=True)
    gate = asyncio.Semaphore(64)

    async def one(kind):
        async with gate:
            return await open_kind(kind, host, port, tls)

    for kind in kinds:
        began = time.monotonic()
        held.extend(await asyncio.gather(*(one(kind) for _ in range(n))))
        took = time.monotonic() - began
        await asyncio.sleep(2)
        now = rss_kib(pid)
        per = (now - base) / n
        results.append((kind, per))
        print(f"memory {side} round {rnd} {kind}: {now - base} KiB over {n} = {per:.1f} KiB "
              f"per connection (RSS {base} -> {now} KiB; opened in {took:.1f} s)", flush=True)
        print(f"result {side} {rnd} {kind} {per:.2f}", flush=True)
        base = now
    print(f"memory {side} round {rnd} held: {len(held)} connections, RSS {start} -> {base} KiB",
          flush=True)
    for _, writer in held:
        writer.close()


async def upstream():
    answer = (b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\n"
              b"WWW-Authenticate: NTLM\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    async def handle(reader, writer):
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)
            writer.write(answer)
            await asyncio.wait_for(writer.drain(), DEADLINE)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=LIMIT, backlog=1024)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def summary(path):
    values = {}
    order = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 5 or parts[0] != "result":
                continue
            _, side, _, kind, value = parts
            if (side, kind) not in values:
                order.append((side, kind))
            values.setdefault((side, kind), []).append(float(value))
    for side, kind in order:
        v = values[(side, kind)]
        unit = "KiB at rest (before the batches)" if kind == "baseline" else "KiB per connection"
        print(f"median {side} {kind}: {statistics.median(v):.1f} {unit} "
              f"(min {min(v):.1f}, max {max(v):.1f}, {len(v)} rounds)")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "measure":
        side, rnd, pid, addr, n = args[0], int(args[1]), int(args[2]), args[3], int(args[4])
        asyncio.run(measure(side, rnd, pid, addr, n, args[5:]))
    elif cmd == "upstream":
        asyncio.run(upstream())
    elif cmd == "summary":
        summary(args[0])
    else:
        sys.exit(__doc__)


main()
