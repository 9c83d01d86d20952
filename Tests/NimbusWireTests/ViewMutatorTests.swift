// The views and mutators the stages use instead of raw offsets: IPv4Header(headerOf:), turnAround,
// setFragment; ICMPHeader.setType and write; UDPHeader.write; TransportPortsView; the unchecked
// initialisers of EthernetFrame, ARPPacket, TCPHeader and UDPHeader; IPVersion. Every checksum they
// patch or fill in is compared with a full recomputation by the naive reference.
import NimbusWire
import Testing

private let a = IPv4Address("10.0.1.10")!
private let b = IPv4Address("198.51.100.20")!

/// The bytes with the 16-bit checksum at `at` recomputed from scratch over `range` (plus `initial`).
private func withChecksum(_ bytes: [UInt8], at: Int, over range: Range<Int>, initial: UInt32 = 0) -> [UInt8] {
    var out = bytes
    out[at] = 0; out[at + 1] = 0
    let c = naiveChecksum(Array(out[range]), initial: initial)
    out[at] = UInt8(c >> 8); out[at + 1] = UInt8(c & 0xFF)
    return out
}

/// An IPv4 datagram with a 24-byte header (one 4-byte option) and a UDP datagram inside.
private func datagramWithOption(ttl: UInt8 = 17, identification: UInt16 = 0x1234) -> [UInt8] {
    let udp = FrameBuilder.udp(source: a, destination: b, sourcePort: 40000, destinationPort: 53,
                               payload: Array("query".utf8))
    var d = FrameBuilder.ipv4(source: a, destination: b, protocol: IPProtocol.udp, ttl: ttl,
                              identification: identification, dontFragment: false, payload: udp)
    d.insert(contentsOf: [0x94, 0x04, 0x00, 0x00], at: 20)   // router alert
    d[0] = 0x46
    let total = d.count
    d[2] = UInt8(total >> 8); d[3] = UInt8(total & 0xFF)
    return withChecksum(d, at: 10, over: 0..<24)
}

@Test func ipv4HeaderOfChecksOnlyTheHeader() throws {
    let whole = datagramWithOption()
    let cut = Array(whole.prefix(24 + 4))                  // the header and the two ports
    #expect(wireError(cut) { _ = try IPv4Header($0) } == .truncated)
    try withPacket(cut) { raw in
        let ip = try IPv4Header(headerOf: raw)
        #expect(ip.headerLength == 24)
        #expect(ip.totalLength == whole.count)
        #expect(ip.source == a && ip.destination == b && ip.protocol == IPProtocol.udp)
        #expect(ip.payload.count == 4)
        let ports = try TransportPortsView(ip.payload)
        #expect(ports.sourcePort == 40000 && ports.destinationPort == 53)
    }
    #expect(wireError(Array(whole.prefix(19))) { _ = try IPv4Header(headerOf: $0) } == .truncated)
    #expect(wireError(Array(whole.prefix(22))) { _ = try IPv4Header(headerOf: $0) } == .truncated)
    var v6 = whole; v6[0] = 0x66
    #expect(wireError(v6) { _ = try IPv4Header(headerOf: $0) } == .badVersion)
    var short = whole; short[0] = 0x44
    #expect(wireError(short) { _ = try IPv4Header(headerOf: $0) } == .badLength)
}

@Test func turnAroundSwapsTheAddressesAndRecomputesTheChecksum() throws {
    let d = datagramWithOption(ttl: 3)
    let out = try withPacket(d) { raw -> [UInt8] in
        let ip = try IPv4Header(raw)
        ip.turnAround(ttl: 64)
        #expect(ip.source == b && ip.destination == a && ip.ttl == 64)
        #expect(ip.isHeaderChecksumValid)
        return raw.array
    }
    var expected = d
    expected.replaceSubrange(12..<16, with: d[16..<20])
    expected.replaceSubrange(16..<20, with: d[12..<16])
    expected[8] = 64
    #expect(out == withChecksum(expected, at: 10, over: 0..<24))
}

@Test(arguments: [(false, false, 0), (false, true, 0), (false, true, 1480), (true, false, 65528), (false, false, 8)])
func setFragmentWritesLengthFlagsAndOffset(dontFragment: Bool, moreFragments: Bool, offset: Int) throws {
    var d = datagramWithOption()
    d[6] = 0xE0; d[7] = 0xFF                                // reserved, DF and MF set, offset garbage
    let total = d.count - 7
    let out = withPacket(d) { raw -> [UInt8] in
        let ip = IPv4Header(unchecked: raw)
        ip.setFragment(totalLength: total, dontFragment: dontFragment, moreFragments: moreFragments, offset: offset)
        #expect(ip.totalLength == total)
        #expect(ip.dontFragment == dontFragment && ip.moreFragments == moreFragments)
        #expect(ip.fragmentOffset == offset)
        #expect(ip.isHeaderChecksumValid)
        return raw.array
    }
    var expected = d
    expected[2] = UInt8(total >> 8); expected[3] = UInt8(total & 0xFF)
    let word = (dontFragment ? 0x4000 : 0) | (moreFragments ? 0x2000 : 0) | offset / 8
    expected[6] = UInt8(word >> 8); expected[7] = UInt8(word & 0xFF)
    #expect(out == withChecksum(expected, at: 10, over: 0..<24))
    #expect(out[6] & 0x80 == 0, "the reserved flag is cleared")
}

@Test func icmpSetTypeEqualsAFullRecomputation() {
    var rng = SplitMix64(seed: 0x1C3F)
    for n in 0..<300 {
        let payload = rng.bytes(n % 64)
        let request = FrameBuilder.icmp(type: ICMPHeader.echoRequest, identifier: UInt16(truncatingIfNeeded: rng.next()),
                                        sequence: UInt16(n), payload: payload)
        let out = withPacket(request) { raw -> [UInt8] in
            let icmp = ICMPHeader(unchecked: raw)
            icmp.setType(ICMPHeader.echoReply)
            #expect(icmp.type == ICMPHeader.echoReply && icmp.code == 0)
            #expect(icmp.isChecksumValid)
            return raw.array
        }
        var expected = request
        expected[0] = ICMPHeader.echoReply
        #expect(out == withChecksum(expected, at: 2, over: 0..<expected.count), "payload of \(n % 64) bytes")
    }
}

@Test func icmpWriteBuildsTheWholeMessage() throws {
    let quoted = datagramWithOption()
    var message = [UInt8](repeating: 0xAA, count: ICMPHeader.length + quoted.count)
    try quoted.withUnsafeBytes { q in
        let body = RawBytes(readOnly: q)
        try withPacket(message) { raw in
            ICMPHeader.write(to: raw, type: ICMPHeader.destinationUnreachable, code: 4, rest: 1400, body: body)
            let icmp = try ICMPHeader(raw)
            #expect(icmp.type == ICMPHeader.destinationUnreachable && icmp.code == 4)
            #expect(icmp.restOfHeader == 1400)
            #expect(icmp.isChecksumValid)
            #expect(icmp.body.array == quoted)
            message = raw.array
        }
    }
    #expect(message == FrameBuilder.icmp(type: ICMPHeader.destinationUnreachable, code: 4, identifier: 0,
                                         sequence: 1400, payload: quoted))
    // An empty body: the header alone.
    let bare = withPacket([UInt8](repeating: 0xAA, count: ICMPHeader.length)) { raw -> [UInt8] in
        ICMPHeader.write(to: raw, type: ICMPHeader.timeExceeded, code: 0, body: raw.suffix(from: ICMPHeader.length))
        return raw.array
    }
    #expect(bare == FrameBuilder.icmp(type: ICMPHeader.timeExceeded))
}

@Test func udpWriteFillsTheChecksumOverThePseudoHeader() throws {
    var rng = SplitMix64(seed: 0x0DB)
    for n in [0, 1, 2, 15, 148, 1000] {
        let payload = rng.bytes(n)
        let datagram = withPacket([UInt8](repeating: 0xEE, count: UDPHeader.length) + payload) { raw -> [UInt8] in
            UDPHeader.write(to: raw, sourcePort: 51820, destinationPort: 4500, length: raw.count, source: a, destination: b)
            return raw.array
        }
        #expect(datagram == FrameBuilder.udp(source: a, destination: b, sourcePort: 51820, destinationPort: 4500,
                                             payload: payload))
        let pseudo = InternetChecksum.pseudoHeaderSum(source: a, destination: b, protocol: IPProtocol.udp,
                                                      length: datagram.count)
        #expect(datagram == withChecksum(datagram, at: 6, over: 0..<datagram.count, initial: pseudo)
                || (datagram[6] == 0xFF && datagram[7] == 0xFF))
    }
}

@Test func aUDPSumOfZeroIsSentAsAllOnes() throws {
    // Two payload bytes chosen so that the sum over everything else plus them is 0xFFFF: the checksum
    // computes to zero, which UDP over IPv4 must send as 0xFFFF.
    var d = [UInt8](repeating: 0, count: UDPHeader.length + 2)
    let rest = withPacket(d) { raw -> UInt32 in
        UDPHeader.write(to: raw, sourcePort: 1, destinationPort: 2, length: raw.count, source: a, destination: b)
        raw.setU16(6, 0)
        let pseudo = InternetChecksum.pseudoHeaderSum(source: a, destination: b, protocol: IPProtocol.udp,
                                                      length: raw.count)
        return InternetChecksum.partialSum(raw, initial: pseudo)
    }
    let word = 0xFFFF - UInt16(rest)
    d[8] = UInt8(word >> 8); d[9] = UInt8(word & 0xFF)
    try withPacket(d) { raw in
        UDPHeader.write(to: raw, sourcePort: 1, destinationPort: 2, length: raw.count, source: a, destination: b)
        let udp = try UDPHeader(raw)
        #expect(udp.checksum == 0xFFFF)
        #expect(udp.isChecksumValid(source: a, destination: b))
    }
}

@Test func uncheckedViewsReadWhatTheCheckedOnesRead() throws {
    let syn = FrameBuilder.tcp(source: a, destination: b, sourcePort: 49152, destinationPort: 443, flags: TCPHeader.syn)
    try withPacket(syn) { raw in
        let checked = try TCPHeader(raw), unchecked = TCPHeader(unchecked: raw)
        #expect(unchecked.sourcePort == checked.sourcePort && unchecked.destinationPort == checked.destinationPort)
        #expect(unchecked.flags == TCPHeader.syn && unchecked.headerLength == 20)
        let ports = TransportPortsView(unchecked: raw)
        #expect(ports.sourcePort == 49152 && ports.destinationPort == 443)
    }
    // A first fragment's UDP header may claim more than the bytes hold: the unchecked view is not trimmed.
    var udp = FrameBuilder.udp(source: a, destination: b, sourcePort: 7, destinationPort: 9, payload: [1, 2, 3, 4])
    udp[4] = 0x05; udp[5] = 0xDC
    #expect(wireError(udp) { _ = try UDPHeader($0) } == .truncated)
    withPacket(udp) { raw in
        let u = UDPHeader(unchecked: raw)
        #expect(u.sourcePort == 7 && u.destinationPort == 9 && u.length == 1500 && u.payload.count == 4)
    }
    #expect(wireError([1, 2, 3]) { _ = try TransportPortsView($0) } == .truncated)

    let arp = FrameBuilder.arpRequest(sourceMAC: macA, senderIP: a, targetIP: b)
    try withPacket(arp) { raw in
        let frame = EthernetFrame(unchecked: raw)
        #expect(frame.source == macA && frame.destination == .broadcast && frame.etherType == EtherType.arp)
        #expect(frame.tagProtocolIdentifier == nil)
        let checked = try ARPPacket(frame.payload), unchecked = ARPPacket(unchecked: frame.payload)
        #expect(unchecked.operation == checked.operation && unchecked.senderMAC == macA)
        #expect(unchecked.senderIP == a && unchecked.targetIP == b && unchecked.targetMAC == checked.targetMAC)
    }
}

@Test(arguments: [nil, EtherType.vlan, EtherType.qinq] as [UInt16?])
func uncheckedEthernetParsesTheTagAsTheCheckedOne(tag: UInt16?) throws {
    var frame = FrameBuilder.udpFrame(sourceMAC: macA, destinationMAC: macB, source: a, destination: b,
                                      sourcePort: 1, destinationPort: 2)
    if let tag {
        frame.insert(contentsOf: [UInt8(tag >> 8), UInt8(tag & 0xFF), 0x20, 0x2A], at: 12)
    }
    try withPacket(frame) { raw in
        let checked = try EthernetFrame(raw), unchecked = EthernetFrame(unchecked: raw)
        #expect(unchecked.etherType == EtherType.ipv4 && checked.etherType == EtherType.ipv4)
        #expect(unchecked.payloadOffset == checked.payloadOffset)
        #expect(unchecked.vlanID == checked.vlanID)
        #expect(checked.vlanID == (tag == nil ? nil : UInt16(42)))
        #expect(unchecked.source == macA && unchecked.destination == macB)
        #expect(checked.tagProtocolIdentifier == tag && unchecked.tagProtocolIdentifier == tag)
        #expect(IPVersion.read(from: checked.payload) == IPVersion.v4)
    }
    withPacket([0x60, 0, 0, 0]) { #expect(IPVersion.read(from: $0) == IPVersion.v6) }
}
