/// EtherType values the dataplane dispatches on.
public enum EtherType {
    public static let ipv4: UInt16 = 0x0800
    public static let arp: UInt16 = 0x0806
    public static let ipv6: UInt16 = 0x86DD
    public static let vlan: UInt16 = 0x8100
    public static let qinq: UInt16 = 0x88A8
}

/// A view of an Ethernet II frame with at most one 802.1Q (or 802.1ad) tag.
///
/// `payloadOffset` is 14 untagged and 18 with one tag; `etherType` is the type after the tag.
@frozen
public struct EthernetFrame {
    public static let headerLength = 14
    public let bytes: RawBytes
    public let payloadOffset: Int
    public let etherType: UInt16
    /// The 12-bit VLAN id when the frame carries one tag.
    public let vlanID: UInt16?

    @inlinable
    public init(_ bytes: RawBytes) throws(WireError) {
        guard bytes.count >= 14 else { throw .truncated }
        self.bytes = bytes
        let outer = bytes.u16(12)
        if outer == EtherType.vlan || outer == EtherType.qinq {
            guard bytes.count >= 18 else { throw .truncated }
            let inner = bytes.u16(16)
            if inner == EtherType.vlan || inner == EtherType.qinq { throw .stackedVLAN }
            vlanID = bytes.u16(14) & 0x0FFF
            etherType = inner
            payloadOffset = 18
        } else {
            vlanID = nil
            etherType = outer
            payloadOffset = 14
        }
    }

    @inlinable public var destination: MACAddress { MACAddress.read(from: bytes, at: 0) }
    @inlinable public var source: MACAddress { MACAddress.read(from: bytes, at: 6) }
    @inlinable public var payload: RawBytes { bytes.suffix(from: payloadOffset) }

    /// Writes an untagged Ethernet II header at the start of `bytes` (which must hold 14 bytes).
    @inlinable
    public static func writeHeader(to bytes: RawBytes, destination: MACAddress, source: MACAddress,
                                   etherType: UInt16) {
        destination.write(to: bytes, at: 0)
        source.write(to: bytes, at: 6)
        bytes.setU16(12, etherType)
    }
}

/// A view of an ARP packet for Ethernet and IPv4 (RFC 826), the only kind the dataplane answers.
@frozen
public struct ARPPacket {
    public static let length = 28
    public static let request: UInt16 = 1
    public static let reply: UInt16 = 2
    public let bytes: RawBytes

    @inlinable
    public init(_ bytes: RawBytes) throws(WireError) {
        guard bytes.count >= 28 else { throw .truncated }
        guard bytes.u16(0) == 1, bytes.u16(2) == EtherType.ipv4, bytes.u8(4) == 6, bytes.u8(5) == 4 else {
            throw .badType
        }
        self.bytes = bytes
    }

    @inlinable public var operation: UInt16 { bytes.u16(6) }
    @inlinable public var senderMAC: MACAddress { MACAddress.read(from: bytes, at: 8) }
    @inlinable public var senderIP: IPv4Address { IPv4Address(value: bytes.u32(14)) }
    @inlinable public var targetMAC: MACAddress { MACAddress.read(from: bytes, at: 18) }
    @inlinable public var targetIP: IPv4Address { IPv4Address(value: bytes.u32(24)) }

    /// Writes a complete Ethernet/IPv4 ARP body (28 bytes) into `bytes`.
    @inlinable
    public static func write(to bytes: RawBytes, operation: UInt16, senderMAC: MACAddress, senderIP: IPv4Address,
                             targetMAC: MACAddress, targetIP: IPv4Address) {
        bytes.setU16(0, 1)
        bytes.setU16(2, EtherType.ipv4)
        bytes.setU8(4, 6)
        bytes.setU8(5, 4)
        bytes.setU16(6, operation)
        senderMAC.write(to: bytes, at: 8)
        bytes.setU32(14, senderIP.value)
        targetMAC.write(to: bytes, at: 18)
        bytes.setU32(24, targetIP.value)
    }
}
