// IPv6Header: fixed fields, the extension-header walk (hop-by-hop, routing, destination options, fragment,
// AH), fragment offsets, the chain limit, and errors.
import NimbusWire
import Testing

/// A 40-byte IPv6 header, 2001:db8::1 -> 2001:db8::2, hop limit 64.
private func fixedHeader(nextHeader: UInt8, payloadLength: Int, firstWord: UInt32 = 0x60AB_CDEF) -> [UInt8] {
    var h = [UInt8](repeating: 0, count: 40)
    h[0] = UInt8(firstWord >> 24); h[1] = UInt8(firstWord >> 16 & 0xFF)
    h[2] = UInt8(firstWord >> 8 & 0xFF); h[3] = UInt8(firstWord & 0xFF)
    h[4] = UInt8(payloadLength >> 8); h[5] = UInt8(payloadLength & 0xFF)
    h[6] = nextHeader
    h[7] = 64
    h.replaceSubrange(8..<24, with: hex("2001 0db8 0000 0000 0000 0000 0000 0001"))
    h.replaceSubrange(24..<40, with: hex("2001 0db8 0000 0000 0000 0000 0000 0002"))
    return h
}

private let udp12 = hex("04 d2 16 2e 00 0c 00 00 de ad be ef")

/// hop-by-hop (PadN) -> fragment (offset 100 units, M=1, id 0x12345678) -> UDP.
private let hbhFragment = fixedHeader(nextHeader: 0, payloadLength: 8 + 8 + 12)
    + hex("2c 00 01 04 00 00 00 00")    // hop-by-hop: next 44, length 0 (8 bytes), PadN(4)
    + hex("11 00 03 21 12 34 56 78")    // fragment: next 17, offset 100 << 3 | M
    + udp12

@Test func ipv6HopByHopAndFragmentChain() throws {
    try withPacket(hbhFragment + [0xAA, 0xBB]) { raw in      // two bytes beyond the payload length
        let ip = try IPv6Header(raw)
        #expect(ip.bytes.count == 68, "trimmed to 40 + payload length")
        #expect(ip.trafficClass == 0x0A)
        #expect(ip.payloadLength == 28)
        #expect(ip.nextHeader == 0)
        #expect(ip.hopLimit == 64)
        #expect(ip.source == IPv6Address("2001:db8::1"))
        #expect(ip.destination == IPv6Address("2001:db8::2"))
        #expect(ip.upperProtocol == IPProtocol.udp)
        #expect(ip.upperOffset == 56)
        #expect(ip.fragmentHeaderOffset == 48)
        #expect(ip.fragmentOffset == 800)
        #expect(ip.isNonFirstFragment)
        #expect(ip.upperPayload.array == udp12)
        ip.setHopLimit(1)
        #expect(ip.hopLimit == 1)
    }
}

@Test func ipv6FirstFragmentAndNoExtensions() throws {
    // Fragment offset 0 with M=1: a first fragment, whose upper header is present.
    var first = hbhFragment
    first[50] = 0x00; first[51] = 0x01
    try withPacket(first) { raw in
        let ip = try IPv6Header(raw)
        #expect(ip.fragmentOffset == 0)
        #expect(!ip.isNonFirstFragment)
        #expect(ip.fragmentHeaderOffset == 48)
    }
    // Largest offset: 8191 units.
    var last = hbhFragment
    last[50] = 0xFF; last[51] = 0xF8
    try withPacket(last) { raw in
        let ip = try IPv6Header(raw)
        #expect(ip.fragmentOffset == 8191 * 8)
    }
    // Plain TCP, no extension headers: traffic class 0xff, flow label ignored.
    try withPacket(fixedHeader(nextHeader: 6, payloadLength: 0, firstWord: 0x6FF1_2345)) { raw in
        let ip = try IPv6Header(raw)
        #expect(ip.trafficClass == 0xFF)
        #expect(ip.upperProtocol == IPProtocol.tcp)
        #expect(ip.upperOffset == 40)
        #expect(ip.fragmentHeaderOffset == nil)
        #expect(ip.fragmentOffset == nil)
        #expect(!ip.isNonFirstFragment)
        #expect(ip.upperPayload.count == 0)
    }
}

@Test func ipv6RoutingDestinationAndAuthenticationHeaders() throws {
    // routing (length 2: 24 bytes) -> destination options (8) -> AH (payload len 4: (4+2)*4 = 24) -> ICMPv6.
    let routing = hex("3c 02 00 00 00 00 00 00") + [UInt8](repeating: 0, count: 16)
    let destOpts = hex("33 00 01 04 00 00 00 00")
    let ah = hex("3a 04 00 00") + [UInt8](repeating: 0x11, count: 20)
    let icmp = hex("80 00 00 00 00 01 00 01")
    let p = fixedHeader(nextHeader: 43, payloadLength: routing.count + destOpts.count + ah.count + icmp.count)
        + routing + destOpts + ah + icmp
    try withPacket(p) { raw in
        let ip = try IPv6Header(raw)
        #expect(ip.upperProtocol == IPProtocol.icmpv6)
        #expect(ip.upperOffset == 40 + 24 + 8 + 24)
        #expect(ip.fragmentHeaderOffset == nil)
        let m = try ICMPv6Header(ip.upperPayload)
        #expect(m.type == ICMPv6Header.echoRequest && !m.isError)
    }
    // No Next Header (59) and ESP (50) end the walk.
    try withPacket(fixedHeader(nextHeader: 60, payloadLength: 8) + hex("3b 00 01 04 00 00 00 00")) { raw in
        let ip = try IPv6Header(raw)
        #expect(ip.upperProtocol == 59 && ip.upperOffset == 48)
    }
    try withPacket(fixedHeader(nextHeader: 50, payloadLength: 4) + [1, 2, 3, 4]) { raw in
        let ip = try IPv6Header(raw)
        #expect(ip.upperProtocol == 50 && ip.upperOffset == 40)
    }
}

/// `count` destination-options headers (8 bytes each) then a UDP datagram.
private func chain(_ count: Int) -> [UInt8] {
    var ext: [UInt8] = []
    for i in 0..<count { ext += [i == count - 1 ? 17 : 60, 0, 1, 4, 0, 0, 0, 0] }
    return fixedHeader(nextHeader: count == 0 ? 17 : 60, payloadLength: ext.count + udp12.count) + ext + udp12
}

@Test func ipv6ExtensionChainLimit() throws {
    #expect(IPv6Header.maximumExtensionHeaders == 8)
    try withPacket(chain(8)) { raw in
        let ip = try IPv6Header(raw)
        #expect(ip.upperProtocol == IPProtocol.udp)
        #expect(ip.upperOffset == 40 + 64)
        #expect(ip.upperPayload.array == udp12)
    }
    #expect(wireError(chain(9)) { _ = try IPv6Header($0) } == .badOptions)
    #expect(wireError(chain(20)) { _ = try IPv6Header($0) } == .badOptions)
    #expect(wireError(chain(0)) { _ = try IPv6Header($0) } == nil)
}

@Test func ipv6Errors() {
    func parse(_ b: [UInt8]) -> WireError? { wireError(b) { _ = try IPv6Header($0) } }
    #expect(parse(Array(hbhFragment.prefix(39))) == .truncated)
    #expect(parse([]) == .truncated)
    var v4 = hbhFragment; v4[0] = 0x4A
    #expect(parse(v4) == .badVersion)
    // Payload length beyond the bytes.
    #expect(parse(Array(hbhFragment.dropLast())) == .truncated)
    // Two fragment headers.
    let twoFragments = fixedHeader(nextHeader: 44, payloadLength: 16 + 12)
        + hex("2c 00 00 00 00 00 00 01") + hex("11 00 00 00 00 00 00 01") + udp12
    #expect(parse(twoFragments) == .badOptions)
    // An extension header that does not fit in the payload length (fixed part, then declared length).
    #expect(parse(fixedHeader(nextHeader: 0, payloadLength: 4) + [17, 0, 0, 0]) == .truncated)
    #expect(parse(fixedHeader(nextHeader: 0, payloadLength: 8) + hex("11 01 00 00 00 00 00 00")) == .truncated)
    #expect(parse(fixedHeader(nextHeader: 44, payloadLength: 7) + hex("11 00 00 00 00 00 00")) == .truncated)
    #expect(parse(fixedHeader(nextHeader: 51, payloadLength: 8) + hex("11 01 00 00 00 00 00 00")) == .truncated,
            "AH length 1 means 12 bytes")
    // The payload length limits the walk even when more bytes follow.
    #expect(parse(fixedHeader(nextHeader: 0, payloadLength: 0) + hex("11 00 00 00 00 00 00 00")) == .truncated)
}
