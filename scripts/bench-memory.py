"""Client side of scripts/bench-memory: holds N connections of each kind against the server at
ADDR and prints the growth of the server's RSS (process PID) per connection, in KiB."""

import asyncio
import base64
import ssl
import sys
import time

import spnego


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def response(reader):
    """Reads one HTTP response (head and Content-Length body); returns the head."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await asyncio.wait_for(reader.readexactly(length), 60)
    return head


async def open_kind(kind, host, port, tls):
    if kind == "idle-tcp":
        return await asyncio.open_connection(host, port)
    reader, writer = await asyncio.open_connection(host, port, ssl=tls, server_hostname="localhost")
    auth = b""
    if kind == "pending-ntlm":
        ctx = spnego.client("alice", "userpw", hostname="localhost", protocol="ntlm")
        auth = b"Authorization: NTLM " + base64.b64encode(ctx.step()) + b"\r\n"
    writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n" + auth + b"\r\n")
    await writer.drain()
    head = await response(reader)
    status = head.split(b" ", 2)[1]
    if status != b"401" or (kind == "pending-ntlm" and b"NTLM " not in head):
        raise RuntimeError(f"{kind}: unexpected answer {head[:200]!r}")
    return reader, writer


async def main():
    pid, addr, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    host, port = addr.rsplit(":", 1)
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    held = []
    # One of each first, so that lazily set-up state (TLS session cache, NTLM tables) is in the
    # baseline, not in the first batch.
    for kind in ("idle-tcp", "idle-tls", "pending-ntlm"):
        held.append(await open_kind(kind, host, port, tls))
    await asyncio.sleep(1)
    results = []
    base = start = rss_kib(pid)
    gate = asyncio.Semaphore(64)

    async def one(kind):
        async with gate:
            return await open_kind(kind, host, port, tls)

    for kind in ("idle-tcp", "idle-tls", "pending-ntlm"):
        began = time.monotonic()
        held.extend(await asyncio.gather(*(one(kind) for _ in range(n))))
        took = time.monotonic() - began
        await asyncio.sleep(2)
        now = rss_kib(pid)
        per = (now - base) / n
        results.append((kind, per))
        print(f"memory {kind}: {now - base} KiB over {n} = {per:.1f} KiB per connection "
              f"(RSS {base} -> {now} KiB; opened in {took:.1f} s)", flush=True)
        base = now
    flood = (results[0][1] + results[2][1]) * n
    print(f"memory held: {len(held)} connections, RSS {start} -> {base} KiB; the flood test's "
          f"{n} idle TCP + {n} pending NTLM = {flood:.0f} KiB ({flood / 1024:.1f} MiB)")
    for _, writer in held:
        writer.close()


asyncio.run(main())
