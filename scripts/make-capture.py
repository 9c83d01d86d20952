#!/usr/bin/env python3
"""Writes a synthetic Ethernet pcap for replay throughput runs, valid checksums:
- public-ip (default): N UDP packets from the internet to the instances of Topologies/public-ip.yaml
  (replay with --in internet=OUT.pcap);
- nat-private: N UDP packets from app-1 of Topologies/nat-private.yaml to internet hosts, over 512
  source ports, so every one goes through the NAT gateway (replay with --in app-1=OUT.pcap).

usage: scripts/make-capture.py OUT.pcap [N] [SIZE] [public-ip|nat-private]
"""
import struct, sys

def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    kind = sys.argv[4] if len(sys.argv) > 4 else "public-ip"
    router = bytes.fromhex("020000000001")
    upstream = bytes.fromhex("02000000fffe")
    client = bytes([198, 51, 100, 20])
    targets = [bytes([203, 0, 113, 10]), bytes([203, 0, 113, 11]), bytes([203, 0, 113, 70])]
    if kind == "nat-private":
        upstream = bytes.fromhex("02000a00010a")      # app-1's MAC (derived from 10.0.1.10)
        client = bytes([10, 0, 1, 10])
        targets = [bytes([198, 51, 100, 20]), bytes([198, 51, 100, 21]), bytes([192, 0, 2, 53])]
    elif kind != "public-ip":
        sys.exit("make-capture.py: kind must be public-ip or nat-private")
    payload_len = max(0, size - 14 - 20 - 8)
    # A few hundred distinct frames, repeated: the dataplane sees many flows, Python stays fast.
    templates = []
    for k in range(512):
        dst = targets[k % 3]
        sport, dport = 1024 + k, 80
        udp = struct.pack("!HHHH", sport, dport, 8 + payload_len, 0) + bytes(payload_len)
        ph = client + dst + struct.pack("!BBH", 0, 17, len(udp))
        c = csum(ph + udp) or 0xFFFF
        udp = udp[:6] + struct.pack("!H", c) + udp[8:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), k, 0x4000, 64, 17, 0, client, dst)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        templates.append(router + upstream + b"\x08\x00" + ip + udp)
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        t = 1_700_000_000 * 1_000_000
        chunks = []
        for i in range(n):
            frame = templates[i % len(templates)]
            ts = t + i
            chunks.append(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(frame), len(frame)) + frame)
            if len(chunks) == 65536:
                f.write(b"".join(chunks)); chunks = []
        f.write(b"".join(chunks))

if __name__ == "__main__":
    main()
