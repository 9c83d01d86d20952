// TCPHeader + TCPOptionIterator, UDPHeader, ICMPHeader and ICMPv6Header: exact fields from hex literals,
// option walking (valid and malformed), length checks and checksum verification.
import NimbusWire
import Testing

// A SYN 49152 -> 443, seq 0x01020304, data offset 10 (40 bytes), window 0xfaf0, checksum over the pseudo-header
// for 10.0.0.1 -> 10.0.0.2 = 0x734a. Options: MSS 1460, SACK permitted, timestamps (1, 0), NOP, window scale 7.
private let tcpSyn = hex("""
    c0 00 01 bb | 01 02 03 04 | 00 00 00 00 | a0 02 fa f0 | 73 4a 00 00
    02 04 05 b4 | 04 02 | 08 0a 00 00 00 01 00 00 00 00 | 01 | 03 03 07
    """)

@Test func tcpFieldsAndOptions() throws {
    try withPacket(tcpSyn) { raw in
        let t = try TCPHeader(raw)
        #expect(t.sourcePort == 49152)
        #expect(t.destinationPort == 443)
        #expect(t.sequenceNumber == 0x0102_0304)
        #expect(t.acknowledgmentNumber == 0)
        #expect(t.headerLength == 40)
        #expect(t.flags == TCPHeader.syn)
        #expect(t.window == 0xFAF0)
        #expect(t.checksum == 0x734A)
        #expect(t.urgentPointer == 0)
        #expect(t.options.count == 20)
        #expect(t.payload.count == 0)
        #expect(t.isChecksumValid(source: ip10_1, destination: ip10_2))
        #expect(!t.isChecksumValid(source: ip10_2, destination: IPv4Address(10, 0, 0, 3)))

        var it = TCPOptionIterator(t.options)
        let mss = try #require(try it.next())
        #expect(mss.kind == 2 && mss.data.array == [0x05, 0xB4])
        let sackOK = try #require(try it.next())
        #expect(sackOK.kind == 4 && sackOK.data.count == 0)
        let ts = try #require(try it.next())
        #expect(ts.kind == 8 && ts.data.count == 8)
        #expect(ts.data.u32(0) == 1 && ts.data.u32(4) == 0)
        let ws = try #require(try it.next())                  // the NOP before it is skipped
        #expect(ws.kind == 3 && ws.data.array == [7])
        #expect(try it.next() == nil)
        #expect(try it.next() == nil, "stays finished")

        let parsed = try t.parsedOptions()
        #expect(parsed.map { $0.kind } == [2, 4, 8, 3])
        #expect(parsed.map { $0.data } == [[0x05, 0xB4], [], [0, 0, 0, 1, 0, 0, 0, 0], [7]])
    }
}

@Test func tcpPayloadAndFlags() throws {
    var p = tcpSyn
    p[13] = TCPHeader.ack | TCPHeader.psh | TCPHeader.fin
    p[18] = 0x12; p[19] = 0x34
    try withPacket(p + Array("hello".utf8)) { raw in
        let t = try TCPHeader(raw)
        #expect(t.flags == 0x19)
        #expect(t.flags & TCPHeader.rst == 0 && t.flags & TCPHeader.urg == 0)
        #expect(t.urgentPointer == 0x1234)
        #expect(t.payload.array == Array("hello".utf8))
    }
}

/// Walks `options` fully, returning the kinds seen or the error that ended the walk.
private func walk(_ options: [UInt8]) -> Result<[UInt8], WireError> {
    withPacket(options) { raw in
        var it = TCPOptionIterator(raw)
        var kinds: [UInt8] = []
        do throws(WireError) {
            while let o = try it.next() { kinds.append(o.kind) }
            return .success(kinds)
        } catch {
            return .failure(error)
        }
    }
}

@Test func tcpOptionIteratorEdgeCases() {
    #expect(walk([]) == .success([]))
    #expect(walk([1, 1, 1, 1]) == .success([]))
    #expect(walk([0, 0xFF, 0xFF, 0xFF]) == .success([]), "end-of-list stops the walk; the rest is ignored")
    #expect(walk([2, 4, 5, 0xB4, 0, 9, 9, 9]) == .success([2]))
    #expect(walk([1, 2, 4, 5, 0xB4, 1, 1, 1]) == .success([2]))
    #expect(walk([30, 2]) == .success([30]), "unknown kinds with a valid length are returned")
    // Malformed: length 1, length 0, length past the end, no room for the length byte.
    #expect(walk([2, 1, 5, 0xB4]) == .failure(.badOptions))
    #expect(walk([2, 0, 5, 0xB4]) == .failure(.badOptions))
    #expect(walk([8, 10, 0, 0]) == .failure(.badOptions))
    #expect(walk([2, 4, 5, 0xB4, 3]) == .failure(.badOptions))
    #expect(walk([2, 4, 5, 0xB4, 3, 4, 7]) == .failure(.badOptions))
    #expect(walk([1, 1, 1, 3]) == .failure(.badOptions))
}

@Test func tcpMalformedOptionLengthThroughTheHeader() throws {
    var p = tcpSyn
    p[21] = 1                                                 // MSS with length 1
    try withPacket(p) { raw in
        let t = try TCPHeader(raw)
        #expect(throws: WireError.badOptions) { try t.parsedOptions() }
    }
}

@Test func tcpHeaderErrors() {
    func parse(_ b: [UInt8]) -> WireError? { wireError(b) { _ = try TCPHeader($0) } }
    #expect(parse(tcpSyn) == nil)
    #expect(parse(Array(tcpSyn.prefix(19))) == .truncated)
    #expect(parse(Array(tcpSyn.prefix(39))) == .truncated, "data offset 10 needs 40 bytes")
    var offset4 = tcpSyn; offset4[12] = 0x40
    #expect(parse(offset4) == .badLength)
    var offset0 = tcpSyn; offset0[12] = 0x0F                  // low nibble is reserved/flags, not length
    #expect(parse(offset0) == .badLength)
    var offset15 = tcpSyn; offset15[12] = 0xF0
    #expect(parse(offset15) == .truncated)
    #expect(parse(offset15 + [UInt8](repeating: 0, count: 20)) == nil)
    var offset5 = tcpSyn; offset5[12] = 0x50
    #expect(parse(Array(offset5.prefix(20))) == nil)
}

// UDP 54321 -> 53, length 16, checksum 0xb250 over 10.0.0.1 -> 10.0.0.2, payload "hello!!!".
private let udpHello = hex("d4 31 00 35 00 10 b2 50 68 65 6c 6c 6f 21 21 21")

@Test func udpFieldsAndChecksum() throws {
    try withPacket(udpHello + [0, 0, 0]) { raw in            // trailing bytes beyond the UDP length
        let u = try UDPHeader(raw)
        #expect(u.sourcePort == 54321)
        #expect(u.destinationPort == 53)
        #expect(u.length == 16)
        #expect(u.bytes.count == 16, "trimmed to the UDP length")
        #expect(u.checksum == 0xB250)
        #expect(u.payload.array == Array("hello!!!".utf8))
        #expect(u.isChecksumValid(source: ip10_1, destination: ip10_2))
        #expect(!u.isChecksumValid(source: ip10_1, destination: IPv4Address(10, 0, 0, 3)))
    }
    var noChecksum = udpHello; noChecksum[6] = 0; noChecksum[7] = 0
    try withPacket(noChecksum) { raw in
        let u = try UDPHeader(raw)
        #expect(u.isChecksumValid(source: ip10_1, destination: IPv4Address(1, 2, 3, 4)), "zero means not computed")
    }
    var corrupt = udpHello; corrupt[10] ^= 0x01
    try withPacket(corrupt) { raw in
        let u = try UDPHeader(raw)
        #expect(!u.isChecksumValid(source: ip10_1, destination: ip10_2))
    }
}

@Test func udpLengthChecks() {
    func parse(_ b: [UInt8]) -> WireError? { wireError(b) { _ = try UDPHeader($0) } }
    #expect(parse(Array(udpHello.prefix(7))) == .truncated)
    #expect(parse(Array(udpHello.prefix(15))) == .truncated, "length field 16, 15 bytes")
    var len7 = udpHello; len7[5] = 7
    #expect(parse(len7) == .badLength)
    var len0 = udpHello; len0[5] = 0
    #expect(parse(len0) == .badLength)
    var len8 = udpHello; len8[5] = 8
    #expect(parse(len8) == nil)
    withPacket(len8) { raw in
        let u = try? UDPHeader(raw)
        #expect(u?.payload.count == 0)
        #expect(u?.bytes.count == 8)
    }
    var big = udpHello; big[4] = 0xFF; big[5] = 0xFF
    #expect(parse(big) == .truncated)
}

// ICMP echo request, id 0x1234, seq 1, payload "abcdefgh", checksum 0x5435.
private let echo = hex("08 00 54 35 12 34 00 01 61 62 63 64 65 66 67 68")

@Test func icmpEchoFields() throws {
    try withPacket(echo) { raw in
        let m = try ICMPHeader(raw)
        #expect(m.type == ICMPHeader.echoRequest)
        #expect(m.code == 0)
        #expect(m.checksum == 0x5435)
        #expect(m.identifier == 0x1234)
        #expect(m.sequence == 1)
        #expect(m.isEcho)
        #expect(!m.isError)
        #expect(m.body.array == Array("abcdefgh".utf8))
        #expect(m.isChecksumValid)
        raw.setU8(0, ICMPHeader.echoReply)
        #expect(!m.isChecksumValid)
        m.updateChecksum()
        #expect(m.isChecksumValid)
        #expect(m.checksum == 0x5C35)                         // 0x5435 + 0x0800
        #expect(m.isEcho && m.type == 0)
    }
    #expect(wireError(Array(echo.prefix(7))) { _ = try ICMPHeader($0) } == .truncated)
    #expect(wireError(Array(echo.prefix(8))) { _ = try ICMPHeader($0) } == nil)
}

@Test func icmpErrorClassification() throws {
    for (type, isError) in [(UInt8(3), true), (4, true), (5, true), (11, true), (12, true), (0, false), (8, false),
                            (13, false), (9, false)] {
        try withPacket([type, 0, 0, 0, 0, 0, 0, 0]) { raw in
            let m = try ICMPHeader(raw)
            #expect(m.isError == isError, "type \(type)")
            #expect(m.isEcho == (type == 0 || type == 8))
        }
    }
}

@Test func icmpv6Fields() throws {
    try withPacket(hex("81 00 ab cd")) { raw in
        let m = try ICMPv6Header(raw)
        #expect(m.type == ICMPv6Header.echoReply)
        #expect(m.code == 0)
        #expect(m.checksum == 0xABCD)
        #expect(!m.isError)
    }
    try withPacket(hex("01 04 00 00 00 00 00 00")) { raw in     // destination unreachable, port unreachable
        let m = try ICMPv6Header(raw)
        #expect(m.isError && m.code == 4)
    }
    #expect(wireError(hex("80 00 00")) { _ = try ICMPv6Header($0) } == .truncated)
    try withPacket(hex("7f 00 00 00")) { raw in
        let m = try ICMPv6Header(raw)
        #expect(m.isError)
    }
}
