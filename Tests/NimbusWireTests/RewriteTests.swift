// IPv4Rewrite: every incremental update it makes equals a full recomputation over the rewritten bytes,
// for each protocol, side, with and without a port, and inside ICMP errors; the UDP zero-checksum rule.
import NimbusWire
import Testing

private let a = IPv4Address("10.0.1.10")!
private let b = IPv4Address("198.51.100.20")!
private let pub = IPv4Address("203.0.113.7")!

/// The datagram with its IP and L4 checksums computed from scratch by the naive reference.
private func recomputed(_ ip: [UInt8]) -> [UInt8] {
    var out = ip
    let hl = Int(out[0] & 0x0F) * 4
    out[10] = 0; out[11] = 0
    let h = ~UInt16(truncatingIfNeeded: naiveSum(Array(out[0..<hl])))
    out[10] = UInt8(h >> 8); out[11] = UInt8(h & 0xFF)
    let proto = out[9]
    let l4 = hl
    let length = out.count - hl
    // A datagram quoted short of its L4 checksum: the IP header is all there is to recompute.
    guard length >= (proto == IPProtocol.tcp ? 20 : 8) else { return out }
    func pseudo() -> UInt32 {
        naiveSum(Array(out[12..<20])) + UInt32(proto) + UInt32(length)
    }
    switch proto {
    case IPProtocol.tcp:
        out[l4 + 16] = 0; out[l4 + 17] = 0
        let c = ~UInt16(truncatingIfNeeded: foldSum(naiveSum(Array(out[l4...])) + pseudo()))
        out[l4 + 16] = UInt8(c >> 8); out[l4 + 17] = UInt8(c & 0xFF)
    case IPProtocol.udp:
        if out[l4 + 6] == 0 && out[l4 + 7] == 0 { break }
        out[l4 + 6] = 0; out[l4 + 7] = 0
        var c = ~UInt16(truncatingIfNeeded: foldSum(naiveSum(Array(out[l4...])) + pseudo()))
        if c == 0 { c = 0xFFFF }
        out[l4 + 6] = UInt8(c >> 8); out[l4 + 7] = UInt8(c & 0xFF)
    case IPProtocol.icmp:
        out[l4 + 2] = 0; out[l4 + 3] = 0
        let c = ~UInt16(truncatingIfNeeded: naiveSum(Array(out[l4...])))
        out[l4 + 2] = UInt8(c >> 8); out[l4 + 3] = UInt8(c & 0xFF)
    default:
        break
    }
    return out
}

private func foldSum(_ s: UInt32) -> UInt32 {
    var s = s
    while s > 0xFFFF { s = (s & 0xFFFF) + (s >> 16) }
    return s
}

private func rewritten(_ ip: [UInt8], _ side: IPEndpointSide, to address: IPv4Address, port: UInt16?,
                       fragment: Bool = false) -> [UInt8] {
    var out = ip
    out.withUnsafeMutableBytes { buf in
        let view = try! IPv4Header(RawBytes(buf))
        IPv4Rewrite.rewrite(side, of: view, transport: fragment ? nil : view.payload, protocol: view.protocol,
                            to: address, port: port)
    }
    return out
}

private let tcp = FrameBuilder.ipv4(source: a, destination: b, protocol: IPProtocol.tcp, ttl: 63, identification: 7,
                                    payload: FrameBuilder.tcp(source: a, destination: b, sourcePort: 40000, destinationPort: 443,
                                                              flags: TCPHeader.syn | TCPHeader.ack, sequence: 0xDEAD_BEEF,
                                                              payload: Array(0..<77)))
private let udp = FrameBuilder.ipv4(source: a, destination: b, protocol: IPProtocol.udp, payload:
    FrameBuilder.udp(source: a, destination: b, sourcePort: 5353, destinationPort: 53, payload: Array(3..<50)))
private let echo = FrameBuilder.ipv4(source: a, destination: b, protocol: IPProtocol.icmp, payload:
    FrameBuilder.icmp(type: ICMPHeader.echoRequest, identifier: 0x1234, sequence: 9, payload: Array(0..<32)))

@Test(arguments: [IPEndpointSide.source, .destination])
func everyIncrementalUpdateEqualsAFullRecomputation(side: IPEndpointSide) {
    for (packet, port) in [(tcp, UInt16?(1024)), (tcp, nil), (udp, 61000), (udp, nil), (echo, 0xBEEF), (echo, nil)] {
        let out = rewritten(packet, side, to: pub, port: port)
        let addressAt = side == .source ? 12 : 16
        #expect(IPv4Address(value: UInt32(out[addressAt]) << 24 | UInt32(out[addressAt + 1]) << 16
                            | UInt32(out[addressAt + 2]) << 8 | UInt32(out[addressAt + 3])) == pub)
        if let port {
            let at = 20 + (packet[9] == IPProtocol.icmp ? 4 : (side == .source ? 0 : 2))
            #expect(UInt16(out[at]) << 8 | UInt16(out[at + 1]) == port)
        }
        #expect(out == recomputed(out), "protocol \(packet[9]) port \(String(describing: port))")
        // Nothing else moved: the ICMP identifier is the same on both sides, so a rewrite touches only
        // the address, that port field and the checksums.
        let changed = Set(zip(packet, out).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset))
        let allowed: Set<Int> = [10, 11, addressAt, addressAt + 1, addressAt + 2, addressAt + 3, 20, 21, 22, 23, 24, 25, 26, 27, 36, 37]
        #expect(changed.isSubset(of: allowed))
    }
}

@Test func aUDPChecksumOfZeroStaysZero() {
    var none = udp
    none[26] = 0; none[27] = 0
    let out = rewritten(none, .source, to: pub, port: 1111)
    #expect(out[26] == 0 && out[27] == 0)
    #expect(out[20] == 0x04 && out[21] == 0x57)
    #expect(Array(out[0..<20]) == Array(recomputed(out)[0..<20]))
}

@Test func aLaterFragmentChangesOnlyItsAddress() {
    let out = rewritten(tcp, .destination, to: pub, port: 9, fragment: true)
    #expect(Array(out[20...]) == Array(tcp[20...]))
    #expect(Array(out[0..<20]) == Array(recomputed(out)[0..<20]))
}

@Test func insideAnICMPErrorTheQuotedDatagramIsRewrittenWithItsChecksums() {
    for (inner, port) in [(tcp, UInt16(2000)), (udp, 2001), (echo, 2002)] {
        // An error quoting the whole inner datagram, and one quoting its header and 8 bytes.
        for quoted in [inner, Array(inner[0..<28])] {
            var icmp = FrameBuilder.icmp(type: ICMPHeader.destinationUnreachable, code: 3, payload: quoted)
            let ok = icmp.withUnsafeMutableBytes { buf in
                IPv4Rewrite.rewriteQuoted(.source, icmpMessage: RawBytes(buf), to: pub, port: port)
            }
            #expect(ok)
            icmp.withUnsafeMutableBytes { ICMPHeader(unchecked: RawBytes($0)).updateChecksum() }
            #expect(naiveSum(icmp) == 0xFFFF)
            let q = Array(icmp[8...])
            #expect(Array(q[12..<16]) == [203, 0, 113, 7])
            let at = 20 + (inner[9] == IPProtocol.icmp ? 4 : 0)
            #expect(UInt16(q[at]) << 8 | UInt16(q[at + 1]) == port)
            #expect(Array(q[0..<20]) == Array(recomputed(q)[0..<20]))
            // A whole quoted TCP or UDP datagram's own checksum is right again.
            if quoted.count == inner.count { #expect(q == recomputed(q)) }
        }
    }
    var short = FrameBuilder.icmp(type: ICMPHeader.timeExceeded, payload: Array(tcp[0..<24]))
    let ok = short.withUnsafeMutableBytes { IPv4Rewrite.rewriteQuoted(.source, icmpMessage: RawBytes($0), to: pub, port: 1) }
    #expect(!ok)
}

@Test func transportChecksumsRecomputeInFull() {
    for packet in [tcp, udp] {
        var broken = packet
        let at = packet[9] == IPProtocol.tcp ? 36 : 26
        broken[at] ^= 0x5A
        broken.withUnsafeMutableBytes { buf in
            let ip = try! IPv4Header(RawBytes(buf))
            #expect(!IPv4Rewrite.isTransportChecksumValid(ip))
            IPv4Rewrite.recomputeTransportChecksum(ip)
            #expect(IPv4Rewrite.isTransportChecksumValid(ip))
        }
        #expect(broken == packet)
    }
}
