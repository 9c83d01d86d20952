/// IP protocol numbers the dataplane looks into.
public enum IPProtocol {
    public static let icmp: UInt8 = 1
    public static let tcp: UInt8 = 6
    public static let udp: UInt8 = 17
    public static let ipv6Fragment: UInt8 = 44
    public static let icmpv6: UInt8 = 58
}

/// A view of an IPv4 header (RFC 791), options included.
///
/// The initialiser checks version, header length and total length against the bytes, so every accessor
/// is in bounds afterwards. `bytes` is trimmed to the total length: Ethernet padding after the datagram
/// is not part of it.
@frozen
public struct IPv4Header {
    public static let minimumLength = 20
    public let bytes: RawBytes

    @inlinable
    public init(_ bytes: RawBytes) throws(WireError) {
        guard bytes.count >= 20 else { throw .truncated }
        let vihl = bytes.u8(0)
        guard vihl >> 4 == 4 else { throw .badVersion }
        let hl = Int(vihl & 0x0F) * 4
        guard hl >= 20 else { throw .badLength }
        guard hl <= bytes.count else { throw .truncated }
        let total = Int(bytes.u16(2))
        guard total >= hl else { throw .badLength }
        guard total <= bytes.count else { throw .truncated }
        self.bytes = bytes.prefix(total)
    }

    /// Wraps bytes already validated by the checked initialiser (a classify stage upstream).
    @inlinable public init(unchecked bytes: RawBytes) { self.bytes = bytes }

    @inlinable public var headerLength: Int { Int(bytes.u8(0) & 0x0F) * 4 }
    @inlinable public var tos: UInt8 { bytes.u8(1) }
    @inlinable public var totalLength: Int { Int(bytes.u16(2)) }
    @inlinable public var identification: UInt16 { bytes.u16(4) }
    @inlinable public var dontFragment: Bool { bytes.u8(6) & 0x40 != 0 }
    @inlinable public var moreFragments: Bool { bytes.u8(6) & 0x20 != 0 }
    /// Fragment offset in bytes.
    @inlinable public var fragmentOffset: Int { Int(bytes.u16(6) & 0x1FFF) * 8 }
    @inlinable public var isFragment: Bool { bytes.u16(6) & 0x3FFF != 0 }
    @inlinable public var ttl: UInt8 { bytes.u8(8) }
    @inlinable public var `protocol`: UInt8 { bytes.u8(9) }
    @inlinable public var checksum: UInt16 { bytes.u16(10) }
    @inlinable public var source: IPv4Address { IPv4Address(value: bytes.u32(12)) }
    @inlinable public var destination: IPv4Address { IPv4Address(value: bytes.u32(16)) }
    @inlinable public var options: RawBytes { RawBytes(base: bytes.base + 20, count: headerLength - 20) }
    @inlinable public var payload: RawBytes { bytes.suffix(from: headerLength) }

    @inlinable public var isHeaderChecksumValid: Bool {
        InternetChecksum.verify(bytes.prefix(headerLength))
    }

    /// Decrements the TTL and patches the header checksum incrementally (RFC 1624); TTL shares a 16-bit
    /// word with the protocol field.
    @inlinable public func decrementTTL() {
        let oldWord = bytes.u16(8)
        bytes.setU8(8, bytes.u8(8) &- 1)
        bytes.setU16(10, InternetChecksum.update(checksum, old: oldWord, new: bytes.u16(8)))
    }

    /// Rewrites the source address and patches the header checksum.
    @inlinable public func setSource(_ a: IPv4Address) {
        let old = bytes.u32(12)
        bytes.setU32(12, a.value)
        bytes.setU16(10, InternetChecksum.update(checksum, old: old, new: a.value))
    }

    /// Rewrites the destination address and patches the header checksum.
    @inlinable public func setDestination(_ a: IPv4Address) {
        let old = bytes.u32(16)
        bytes.setU32(16, a.value)
        bytes.setU16(10, InternetChecksum.update(checksum, old: old, new: a.value))
    }

    /// Recomputes the header checksum from scratch (for headers the dataplane builds itself).
    @inlinable public func updateChecksum() {
        bytes.setU16(10, 0)
        bytes.setU16(10, InternetChecksum.compute(bytes.prefix(headerLength)))
    }

    /// Writes an option-less 20-byte header with a correct checksum.
    @inlinable
    public static func write(to bytes: RawBytes, totalLength: Int, identification: UInt16 = 0,
                             dontFragment: Bool = false, ttl: UInt8, protocol proto: UInt8,
                             source: IPv4Address, destination: IPv4Address, tos: UInt8 = 0) {
        bytes.setU8(0, 0x45)
        bytes.setU8(1, tos)
        bytes.setU16(2, UInt16(truncatingIfNeeded: totalLength))
        bytes.setU16(4, identification)
        bytes.setU16(6, dontFragment ? 0x4000 : 0)
        bytes.setU8(8, ttl)
        bytes.setU8(9, proto)
        bytes.setU16(10, 0)
        bytes.setU32(12, source.value)
        bytes.setU32(16, destination.value)
        bytes.setU16(10, InternetChecksum.compute(bytes.prefix(20)))
    }
}

/// A plain value of the IPv4 header fields, for building and comparing headers in tests and slow paths.
public struct IPv4Repr: Equatable, Sendable {
    public var source: IPv4Address
    public var destination: IPv4Address
    public var `protocol`: UInt8
    public var ttl: UInt8
    public var identification: UInt16
    public var dontFragment: Bool
    public var payloadLength: Int

    public init(source: IPv4Address, destination: IPv4Address, protocol: UInt8, ttl: UInt8 = 64,
                identification: UInt16 = 0, dontFragment: Bool = false, payloadLength: Int) {
        self.source = source
        self.destination = destination
        self.protocol = `protocol`
        self.ttl = ttl
        self.identification = identification
        self.dontFragment = dontFragment
        self.payloadLength = payloadLength
    }

    public init(_ h: IPv4Header) {
        self.init(source: h.source, destination: h.destination, protocol: h.protocol, ttl: h.ttl,
                  identification: h.identification, dontFragment: h.dontFragment,
                  payloadLength: h.totalLength - h.headerLength)
    }

    public func emit(to bytes: RawBytes) {
        IPv4Header.write(to: bytes, totalLength: 20 + payloadLength, identification: identification,
                         dontFragment: dontFragment, ttl: ttl, protocol: `protocol`, source: source,
                         destination: destination)
    }
}
