// FrameBuilder: every frame it builds parses back through the views with the requested fields and valid
// checksums (IPv4 header, TCP/UDP over the pseudo-header, ICMP); ARP requests are 60-byte broadcasts.
import NimbusWire
import Testing

private let client = IPv4Address(192, 0, 2, 10)
private let server = IPv4Address(198, 51, 100, 20)

@Test func tcpFrameParsesAndVerifies() throws {
    let payload = Array("GET / HTTP/1.1\r\n\r\n".utf8)
    let frame = FrameBuilder.tcpFrame(sourceMAC: macA, destinationMAC: macB, source: client, destination: server,
                                      sourcePort: 40000, destinationPort: 80, flags: TCPHeader.ack | TCPHeader.psh,
                                      sequence: 0xDEAD_BEEF, acknowledgment: 0x0102_0304, ttl: 33,
                                      identification: 0x4242, payload: payload)
    #expect(frame.count == 14 + 20 + 20 + payload.count)
    try withPacket(frame) { raw in
        let eth = try EthernetFrame(raw)
        #expect(eth.source == macA && eth.destination == macB)
        #expect(eth.etherType == EtherType.ipv4 && eth.vlanID == nil)
        let ip = try IPv4Header(eth.payload)
        #expect(ip.isHeaderChecksumValid)
        #expect(ip.source == client && ip.destination == server)
        #expect(ip.protocol == IPProtocol.tcp && ip.ttl == 33 && ip.identification == 0x4242)
        #expect(ip.dontFragment && !ip.isFragment)
        #expect(ip.totalLength == 40 + payload.count)
        let tcp = try TCPHeader(ip.payload)
        #expect(tcp.isChecksumValid(source: client, destination: server))
        #expect(tcp.sourcePort == 40000 && tcp.destinationPort == 80)
        #expect(tcp.sequenceNumber == 0xDEAD_BEEF && tcp.acknowledgmentNumber == 0x0102_0304)
        #expect(tcp.flags == 0x18 && tcp.window == 65535 && tcp.headerLength == 20)
        #expect(tcp.payload.array == payload)
        #expect(try tcp.parsedOptions().isEmpty)
    }
}

@Test func tcpFrameWithVLAN() throws {
    let frame = FrameBuilder.tcpFrame(sourceMAC: macA, destinationMAC: macB, source: client, destination: server,
                                      sourcePort: 1, destinationPort: 2, flags: TCPHeader.syn, vlan: 100)
    #expect(frame.count == 18 + 40)
    #expect(Array(frame[12..<16]) == [0x81, 0x00, 0x00, 0x64])
    try withPacket(frame) { raw in
        let eth = try EthernetFrame(raw)
        #expect(eth.vlanID == 100 && eth.payloadOffset == 18 && eth.etherType == EtherType.ipv4)
        let ip = try IPv4Header(eth.payload)
        #expect(ip.isHeaderChecksumValid)
        #expect(try TCPHeader(ip.payload).isChecksumValid(source: client, destination: server))
    }
}

@Test func tcpSegmentOptionsArePaddedAndParse() throws {
    let seg = FrameBuilder.tcp(source: client, destination: server, sourcePort: 5, destinationPort: 6,
                               flags: TCPHeader.syn, options: [2, 4, 0x05, 0xB4, 4, 2], payload: [9, 9, 9])
    #expect(seg.count == 28 + 3)
    #expect(Array(seg[20..<28]) == [2, 4, 0x05, 0xB4, 4, 2, 0, 0])
    try withPacket(seg) { raw in
        let t = try TCPHeader(raw)
        #expect(t.headerLength == 28)
        #expect(t.payload.array == [9, 9, 9])
        #expect(t.isChecksumValid(source: client, destination: server))
        let opts = try t.parsedOptions()
        #expect(opts.map { $0.kind } == [2, 4])
        #expect(opts.map { $0.data } == [[0x05, 0xB4], []])
    }
}

@Test func udpFrameParsesAndVerifies() throws {
    let frame = FrameBuilder.udpFrame(sourceMAC: macA, destinationMAC: macB, source: client, destination: server,
                                      sourcePort: 5353, destinationPort: 53, ttl: 1, identification: 7,
                                      payload: [1, 2, 3])
    #expect(frame.count == 14 + 20 + 8 + 3)
    try withPacket(frame) { raw in
        let ip = try IPv4Header(try EthernetFrame(raw).payload)
        #expect(ip.isHeaderChecksumValid && ip.protocol == IPProtocol.udp && ip.ttl == 1)
        let udp = try UDPHeader(ip.payload)
        #expect(udp.length == 11 && udp.sourcePort == 5353 && udp.destinationPort == 53)
        #expect(udp.checksum != 0)
        #expect(udp.isChecksumValid(source: client, destination: server))
        #expect(!udp.isChecksumValid(source: server, destination: IPv4Address(198, 51, 100, 21)))
        #expect(udp.payload.array == [1, 2, 3])
    }
}

@Test func udpChecksumNeverZero() throws {
    // Over all source ports the computed checksum takes every value, including 0; that one must be sent as
    // 0xffff (RFC 768), which still verifies.
    var sawAllOnes = false
    var zeroFields: [UInt16] = []
    for port in 0...UInt16.max {
        let d = FrameBuilder.udp(source: client, destination: server, sourcePort: port, destinationPort: 53,
                                 payload: [0xAB])
        let field = UInt16(d[6]) << 8 | UInt16(d[7])
        if field == 0 { zeroFields.append(port) }
        if field == 0xFFFF {
            sawAllOnes = true
            try withPacket(d) { raw in
                let u = try UDPHeader(raw)
                #expect(u.isChecksumValid(source: client, destination: server))
                // And verification does not just pass because of the zero shortcut: a wrong address fails.
                #expect(!u.isChecksumValid(source: client, destination: IPv4Address(1, 1, 1, 1)))
            }
        }
    }
    #expect(zeroFields.isEmpty, "checksum field 0 for source ports \(zeroFields)")
    #expect(sawAllOnes)
}

@Test func echoFrameParsesAndVerifies() throws {
    for reply in [false, true] {
        let frame = FrameBuilder.echoFrame(sourceMAC: macA, destinationMAC: macB, source: client, destination: server,
                                           reply: reply, identifier: 0xBEEF, sequence: 7, ttl: 128)
        #expect(frame.count == 14 + 20 + 8 + 32)
        try withPacket(frame) { raw in
            let ip = try IPv4Header(try EthernetFrame(raw).payload)
            #expect(ip.isHeaderChecksumValid && ip.protocol == IPProtocol.icmp && ip.ttl == 128)
            let m = try ICMPHeader(ip.payload)
            #expect(m.isChecksumValid)
            #expect(m.type == (reply ? ICMPHeader.echoReply : ICMPHeader.echoRequest) && m.code == 0)
            #expect(m.identifier == 0xBEEF && m.sequence == 7)
            #expect(m.body.array == Array(0..<32))
        }
    }
    let m = FrameBuilder.icmp(type: ICMPHeader.destinationUnreachable, code: 3, payload: [1, 2, 3])  // odd length
    try withPacket(m) { raw in
        let h = try ICMPHeader(raw)
        #expect(h.isChecksumValid && h.isError && h.code == 3)
    }
}

@Test func arpRequestIs60ByteBroadcast() throws {
    let frame = FrameBuilder.arpRequest(sourceMAC: macA, senderIP: ip10_1, targetIP: ip10_2)
    #expect(frame.count == 60)
    #expect(Array(frame[42...]) == [UInt8](repeating: 0, count: 18))
    try withPacket(frame) { raw in
        let eth = try EthernetFrame(raw)
        #expect(eth.destination == .broadcast && eth.source == macA && eth.etherType == EtherType.arp)
        let arp = try ARPPacket(eth.payload)
        #expect(arp.operation == ARPPacket.request)
        #expect(arp.senderMAC == macA && arp.senderIP == ip10_1)
        #expect(arp.targetMAC == .zero && arp.targetIP == ip10_2)
    }
}

@Test func randomFramesAlwaysVerify() throws {
    var g = SplitMix64(seed: 2024)
    for i in 0..<1_000 {
        let src = IPv4Address(value: UInt32.random(in: 0...UInt32.max, using: &g))
        let dst = IPv4Address(value: UInt32.random(in: 0...UInt32.max, using: &g))
        let payload = g.bytes(Int.random(in: 0...300, using: &g))
        let sp = UInt16.random(in: 0...0xFFFF, using: &g), dp = UInt16.random(in: 0...0xFFFF, using: &g)
        let frame: [UInt8]
        switch i % 3 {
        case 0:
            frame = FrameBuilder.tcpFrame(sourceMAC: macA, destinationMAC: macB, source: src, destination: dst,
                                          sourcePort: sp, destinationPort: dp, flags: UInt8.random(in: 0...63, using: &g),
                                          sequence: UInt32.random(in: 0...UInt32.max, using: &g),
                                          vlan: i % 2 == 0 ? UInt16.random(in: 0...4095, using: &g) : nil,
                                          payload: payload)
        case 1:
            frame = FrameBuilder.udpFrame(sourceMAC: macA, destinationMAC: macB, source: src, destination: dst,
                                          sourcePort: sp, destinationPort: dp, payload: payload)
        default:
            frame = FrameBuilder.echoFrame(sourceMAC: macA, destinationMAC: macB, source: src, destination: dst,
                                           identifier: sp, sequence: dp, payload: payload)
        }
        try withPacket(frame) { raw in
            let ip = try IPv4Header(try EthernetFrame(raw).payload)
            #expect(ip.isHeaderChecksumValid)
            #expect(ip.source == src && ip.destination == dst)
            switch ip.protocol {
            case IPProtocol.tcp: #expect(try TCPHeader(ip.payload).isChecksumValid(source: src, destination: dst))
            case IPProtocol.udp:
                let u = try UDPHeader(ip.payload)
                #expect(u.checksum != 0 && u.isChecksumValid(source: src, destination: dst))
            default: #expect(try ICMPHeader(ip.payload).isChecksumValid)
            }
        }
    }
}
