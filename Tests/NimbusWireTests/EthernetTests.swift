// EthernetFrame (untagged, one 802.1Q/802.1ad tag, stacked tags) and ARPPacket: exact field values from
// hex literals, errors, and the header writers.
import NimbusWire
import Testing

private let untagged = hex("""
    00 11 22 33 44 55 | 66 77 88 99 aa bb | 08 00 | 45 00 00 14
    """)

@Test func untaggedFrameFields() throws {
    try withPacket(untagged) { raw in
        let f = try EthernetFrame(raw)
        #expect(f.destination == MACAddress("00:11:22:33:44:55"))
        #expect(f.source == MACAddress("66:77:88:99:aa:bb"))
        #expect(f.etherType == EtherType.ipv4)
        #expect(f.vlanID == nil)
        #expect(f.payloadOffset == 14)
        #expect(f.payload.count == 4)
        #expect(f.payload.array == [0x45, 0x00, 0x00, 0x14])
        #expect(f.bytes.count == untagged.count)
    }
}

@Test func singleVLANTagFrameFields() throws {
    // 802.1Q TCI e0 64: PCP 7, DEI 0, VID 0x064 = 100; inner type IPv6.
    let frame = hex("ff ff ff ff ff ff | 02 00 00 00 00 0a | 81 00 | e0 64 | 86 dd | 60 00 00 00")
    try withPacket(frame) { raw in
        let f = try EthernetFrame(raw)
        #expect(f.destination == .broadcast)
        #expect(f.source == MACAddress("02:00:00:00:00:0a"))
        #expect(f.vlanID == 100, "the PCP bits are masked off")
        #expect(f.etherType == EtherType.ipv6)
        #expect(f.payloadOffset == 18)
        #expect(f.payload.array == [0x60, 0, 0, 0])
    }
    // An 802.1ad (0x88a8) outer tag alone is accepted the same way; VID 4095 with DEI set.
    let qinq = hex("ff ff ff ff ff ff | 02 00 00 00 00 0a | 88 a8 | 1f ff | 08 06")
    try withPacket(qinq) { raw in
        let f = try EthernetFrame(raw)
        #expect(f.vlanID == 0x0FFF)
        #expect(f.etherType == EtherType.arp)
        #expect(f.payloadOffset == 18)
        #expect(f.payload.count == 0)
    }
}

@Test func ethernetErrors() {
    // Stacked tags (QinQ, or two 802.1Q tags) are refused.
    #expect(wireError(hex("ffffffffffff 02000000000a 88a8 000a 8100 0014 0800 4500")) { _ = try EthernetFrame($0) }
        == .stackedVLAN)
    #expect(wireError(hex("ffffffffffff 02000000000a 8100 000a 8100 0014 0800")) { _ = try EthernetFrame($0) }
        == .stackedVLAN)
    #expect(wireError(hex("ffffffffffff 02000000000a 8100 000a 88a8 0014 0800")) { _ = try EthernetFrame($0) }
        == .stackedVLAN)
    // Too short for the header, or for the tag.
    #expect(wireError(Array(untagged.prefix(13))) { _ = try EthernetFrame($0) } == .truncated)
    #expect(wireError([]) { _ = try EthernetFrame($0) } == .truncated)
    #expect(wireError(hex("ffffffffffff 02000000000a 8100 000a 08")) { _ = try EthernetFrame($0) } == .truncated)
    #expect(wireError(hex("ffffffffffff 02000000000a 8100")) { _ = try EthernetFrame($0) } == .truncated)
    // Exactly 14 and exactly 18 bytes are enough.
    #expect(wireError(Array(untagged.prefix(14))) { _ = try EthernetFrame($0) } == nil)
    #expect(wireError(hex("ffffffffffff 02000000000a 8100 000a 0800")) { _ = try EthernetFrame($0) } == nil)
}

@Test func ethernetWriteHeader() throws {
    var bytes = [UInt8](repeating: 0xEE, count: 16)
    bytes = withPacket(bytes) { raw in
        EthernetFrame.writeHeader(to: raw, destination: macB, source: macA, etherType: EtherType.arp)
        return raw.array
    }
    #expect(bytes == hex("02000000000b 02000000000a 0806 eeee"))
}

private let arpRequest = hex("""
    0001 0800 06 04 0001
    00 11 22 33 44 55 | c0 a8 01 01
    00 00 00 00 00 00 | c0 a8 01 02
    """)

@Test func arpRequestFields() throws {
    try withPacket(arpRequest + [0, 0, 0]) { raw in    // trailing padding is allowed
        let a = try ARPPacket(raw)
        #expect(a.operation == ARPPacket.request)
        #expect(a.senderMAC == MACAddress("00:11:22:33:44:55"))
        #expect(a.senderIP == IPv4Address(192, 168, 1, 1))
        #expect(a.targetMAC == .zero)
        #expect(a.targetIP == IPv4Address(192, 168, 1, 2))
    }
}

@Test func arpErrors() {
    #expect(wireError(Array(arpRequest.prefix(27))) { _ = try ARPPacket($0) } == .truncated)
    #expect(wireError(arpRequest) { _ = try ARPPacket($0) } == nil)
    var badHardware = arpRequest; badHardware[1] = 6                    // IEEE 802 hardware type
    #expect(wireError(badHardware) { _ = try ARPPacket($0) } == .badType)
    var badProtocol = arpRequest; badProtocol[2] = 0x86; badProtocol[3] = 0xDD
    #expect(wireError(badProtocol) { _ = try ARPPacket($0) } == .badType)
    var badHLen = arpRequest; badHLen[4] = 8
    #expect(wireError(badHLen) { _ = try ARPPacket($0) } == .badType)
    var badPLen = arpRequest; badPLen[5] = 16
    #expect(wireError(badPLen) { _ = try ARPPacket($0) } == .badType)
}

@Test func arpWriteRoundTrip() throws {
    let body = withPacket([UInt8](repeating: 0xEE, count: 28)) { raw in
        ARPPacket.write(to: raw, operation: ARPPacket.reply, senderMAC: macA, senderIP: ip10_1, targetMAC: macB,
                        targetIP: ip10_2)
        return raw.array
    }
    #expect(body == hex("0001 0800 06 04 0002 02000000000a 0a000001 02000000000b 0a000002"))
    try withPacket(body) { raw in
        let a = try ARPPacket(raw)
        #expect(a.operation == ARPPacket.reply)
        #expect(a.senderMAC == macA && a.senderIP == ip10_1)
        #expect(a.targetMAC == macB && a.targetIP == ip10_2)
    }
}
