// IPv4Header: exact fields of a header with options (IHL 6), fragment fields, trimming of Ethernet padding,
// every error, the writer, and the IPv4Repr round trip.
import NimbusWire
import Testing

// IHL 6 (one option word: Router Alert 94 04 00 00), total length 36, id 0x1c46, MF set, fragment offset
// 185 (1480 bytes), TTL 64, UDP, checksum 0x94c3, 10.0.0.1 -> 10.0.0.2, then a 12-byte UDP datagram.
private let withOptions = hex("""
    46 00 00 24 | 1c 46 20 b9 | 40 11 94 c3 | 0a 00 00 01 | 0a 00 00 02 | 94 04 00 00
    04 d2 16 2e 00 0c 00 00 de ad be ef
    """)

@Test func ipv4WithOptionsFields() throws {
    try withPacket(withOptions + [0, 0, 0, 0, 0, 0]) { raw in     // 6 bytes of Ethernet padding
        let ip = try IPv4Header(raw)
        #expect(ip.bytes.count == 36, "trimmed to the total length")
        #expect(ip.headerLength == 24)
        #expect(ip.tos == 0)
        #expect(ip.totalLength == 36)
        #expect(ip.identification == 0x1C46)
        #expect(!ip.dontFragment)
        #expect(ip.moreFragments)
        #expect(ip.fragmentOffset == 1480)
        #expect(ip.isFragment)
        #expect(ip.ttl == 64)
        #expect(ip.protocol == IPProtocol.udp)
        #expect(ip.checksum == 0x94C3)
        #expect(ip.isHeaderChecksumValid)
        #expect(ip.source == IPv4Address(10, 0, 0, 1))
        #expect(ip.destination == IPv4Address(10, 0, 0, 2))
        #expect(ip.options.count == 4)
        #expect(ip.options.array == [0x94, 0x04, 0x00, 0x00])
        #expect(ip.payload.count == 12)
        #expect(ip.payload.array == hex("04 d2 16 2e 00 0c 00 00 de ad be ef"))
        let udp = try UDPHeader(ip.payload)
        #expect(udp.sourcePort == 1234 && udp.destinationPort == 5678)
    }
}

@Test func ipv4FragmentFlagCombinations() throws {
    func header(flagsAndOffset: UInt16) -> [UInt8] {
        var h = hex("45 00 00 14 00 01 00 00 40 06 00 00 c0 00 02 01 c6 33 64 07")
        h[6] = UInt8(flagsAndOffset >> 8)
        h[7] = UInt8(flagsAndOffset & 0xFF)
        return h
    }
    try withPacket(header(flagsAndOffset: 0x4000)) { raw in        // DF only: not a fragment
        let ip = try IPv4Header(raw)
        #expect(ip.dontFragment && !ip.moreFragments)
        #expect(ip.fragmentOffset == 0)
        #expect(!ip.isFragment)
        #expect(ip.options.count == 0)
        #expect(ip.payload.count == 0)
        #expect(!ip.isHeaderChecksumValid, "checksum left zero")
        ip.updateChecksum()
        #expect(ip.isHeaderChecksumValid)
    }
    try withPacket(header(flagsAndOffset: 0x2000)) { raw in        // first fragment: MF, offset 0
        let ip = try IPv4Header(raw)
        #expect(ip.moreFragments && ip.isFragment && ip.fragmentOffset == 0)
    }
    try withPacket(header(flagsAndOffset: 0x1FFF)) { raw in        // last fragment at the maximum offset
        let ip = try IPv4Header(raw)
        #expect(!ip.moreFragments && ip.isFragment)
        #expect(ip.fragmentOffset == 0x1FFF * 8)
    }
    try withPacket(header(flagsAndOffset: 0x8000)) { raw in        // reserved bit alone: not a fragment
        let ip = try IPv4Header(raw)
        #expect(!ip.isFragment && !ip.dontFragment && !ip.moreFragments)
    }
}

@Test func ipv4Errors() {
    let base = hex("45 00 00 14 00 01 40 00 40 06 00 00 c0 00 02 01 c6 33 64 07")
    func parse(_ b: [UInt8]) -> WireError? { wireError(b) { _ = try IPv4Header($0) } }
    #expect(parse(base) == nil)
    #expect(parse(Array(base.prefix(19))) == .truncated)
    #expect(parse([]) == .truncated)
    var v6 = base; v6[0] = 0x65
    #expect(parse(v6) == .badVersion)
    var v0 = base; v0[0] = 0x05
    #expect(parse(v0) == .badVersion)
    var ihl4 = base; ihl4[0] = 0x44
    #expect(parse(ihl4) == .badLength)
    var ihl0 = base; ihl0[0] = 0x40
    #expect(parse(ihl0) == .badLength)
    var ihl15 = base; ihl15[0] = 0x4F; ihl15[3] = 60
    #expect(parse(ihl15) == .truncated, "60-byte header in 20 bytes")
    #expect(parse(ihl15 + [UInt8](repeating: 1, count: 40)) == nil)
    var totalBelowHeader = base; totalBelowHeader[3] = 19
    #expect(parse(totalBelowHeader) == .badLength)
    var ihl6Total20 = base + [1, 1, 1, 1]; ihl6Total20[0] = 0x46
    #expect(parse(ihl6Total20) == .badLength, "total length 20 < header length 24")
    var totalTooLong = base; totalTooLong[3] = 21
    #expect(parse(totalTooLong) == .truncated)
    #expect(parse(totalTooLong + [0]) == nil)
}

@Test func ipv4WriteProducesAValidHeader() throws {
    let bytes = withPacket([UInt8](repeating: 0xEE, count: 28)) { raw in
        IPv4Header.write(to: raw, totalLength: 28, identification: 0xBEEF, dontFragment: true, ttl: 17,
                         protocol: IPProtocol.icmp, source: IPv4Address(192, 0, 2, 1),
                         destination: IPv4Address(198, 51, 100, 2), tos: 0xB8)
        return raw.array
    }
    #expect(Array(bytes[0..<10]) == hex("45 b8 00 1c be ef 40 00 11 01"))
    #expect(Array(bytes[12..<20]) == hex("c0 00 02 01 c6 33 64 02"))
    #expect(Array(bytes[20...]) == [UInt8](repeating: 0xEE, count: 8), "payload untouched")
    var zeroed = Array(bytes[0..<20]); zeroed[10] = 0; zeroed[11] = 0
    #expect(UInt16(bytes[10]) << 8 | UInt16(bytes[11]) == naiveChecksum(zeroed))
    try withPacket(bytes) { raw in
        let ip = try IPv4Header(raw)
        #expect(ip.isHeaderChecksumValid)
        #expect(ip.tos == 0xB8 && ip.ttl == 17 && ip.identification == 0xBEEF && ip.dontFragment)
    }
}

@Test func ipv4ReprRoundTrip() throws {
    var g = SplitMix64(seed: 791)
    for _ in 0..<500 {
        let r = IPv4Repr(source: IPv4Address(value: UInt32.random(in: 0...UInt32.max, using: &g)),
                         destination: IPv4Address(value: UInt32.random(in: 0...UInt32.max, using: &g)),
                         protocol: UInt8.random(in: 0...255, using: &g), ttl: UInt8.random(in: 0...255, using: &g),
                         identification: UInt16.random(in: 0...0xFFFF, using: &g),
                         dontFragment: Bool.random(using: &g), payloadLength: Int.random(in: 0...1480, using: &g))
        try withPacket([UInt8](repeating: 0, count: 20 + r.payloadLength)) { raw in
            r.emit(to: raw)
            let ip = try IPv4Header(raw)
            #expect(IPv4Repr(ip) == r)
            #expect(ip.isHeaderChecksumValid)
            #expect(ip.headerLength == 20 && ip.totalLength == 20 + r.payloadLength)
            #expect(!ip.moreFragments && ip.fragmentOffset == 0)
        }
    }
    // The defaults.
    let d = IPv4Repr(source: ip10_1, destination: ip10_2, protocol: IPProtocol.tcp, payloadLength: 0)
    #expect(d.ttl == 64 && d.identification == 0 && !d.dontFragment)
    // A header with options: the payload length excludes them.
    try withPacket(hex("""
        46 00 00 24 1c 46 20 b9 40 11 94 c3 0a 00 00 01 0a 00 00 02 94 04 00 00
        04 d2 16 2e 00 0c 00 00 de ad be ef
        """)) { raw in
        let r = IPv4Repr(try IPv4Header(raw))
        #expect(r.payloadLength == 12)
        #expect(r.source == ip10_1 && r.destination == ip10_2 && r.protocol == 17 && r.ttl == 64)
        #expect(r.identification == 0x1C46 && !r.dontFragment)
    }
}
