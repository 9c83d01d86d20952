/// A view of an IPv6 header (RFC 8200) with its extension-header chain walked.
///
/// The walk stops at the first upper-layer header (or ESP / no-next-header), after at most
/// `maximumExtensionHeaders` extension headers, so hostile chains cost bounded work.
@frozen
public struct IPv6Header {
    public static let length = 40
    public static let maximumExtensionHeaders = 8
    public let bytes: RawBytes
    /// The protocol after the extension headers (TCP, UDP, ICMPv6, ...).
    public let upperProtocol: UInt8
    /// Offset of the upper-layer header from the start of the IPv6 header.
    public let upperOffset: Int
    /// Offset of the fragment header when there is one.
    public let fragmentHeaderOffset: Int?

    @inlinable
    public init(_ bytes: RawBytes) throws(WireError) {
        guard bytes.count >= 40 else { throw .truncated }
        guard bytes.u8(0) >> 4 == 6 else { throw .badVersion }
        let total = 40 + Int(bytes.u16(4))
        guard total <= bytes.count else { throw .truncated }
        let b = bytes.prefix(total)
        var next = b.u8(6)
        var offset = 40
        var fragment: Int? = nil
        var seen = 0
        walk: while true {
            switch next {
            case 0, 43, 60: // hop-by-hop, routing, destination options: length in 8-byte units, +1
                guard offset + 8 <= total else { throw .truncated }
                let len = (Int(b.u8(offset + 1)) + 1) * 8
                guard offset + len <= total else { throw .truncated }
                next = b.u8(offset)
                offset += len
            case 44: // fragment header: fixed 8 bytes
                guard offset + 8 <= total else { throw .truncated }
                if fragment != nil { throw .badOptions }
                fragment = offset
                next = b.u8(offset)
                offset += 8
            case 51: // authentication header: length in 4-byte units, +2
                guard offset + 8 <= total else { throw .truncated }
                let len = (Int(b.u8(offset + 1)) + 2) * 4
                guard offset + len <= total else { throw .truncated }
                next = b.u8(offset)
                offset += len
            default:
                break walk
            }
            seen += 1
            if seen > IPv6Header.maximumExtensionHeaders { throw .badOptions }
        }
        self.bytes = b
        upperProtocol = next
        upperOffset = offset
        fragmentHeaderOffset = fragment
    }

    @inlinable public var trafficClass: UInt8 { UInt8(truncatingIfNeeded: bytes.u16(0) >> 4) }
    @inlinable public var payloadLength: Int { Int(bytes.u16(4)) }
    @inlinable public var nextHeader: UInt8 { bytes.u8(6) }
    @inlinable public var hopLimit: UInt8 { bytes.u8(7) }
    @inlinable public var source: IPv6Address { IPv6Address.read(from: bytes, at: 8) }
    @inlinable public var destination: IPv6Address { IPv6Address.read(from: bytes, at: 24) }
    @inlinable public var upperPayload: RawBytes { bytes.suffix(from: upperOffset) }

    /// Fragment offset in bytes, when a fragment header is present.
    @inlinable public var fragmentOffset: Int? {
        guard let f = fragmentHeaderOffset else { return nil }
        return Int(bytes.u16(f + 2) & 0xFFF8)
    }

    /// True for a fragment that does not start the datagram (its upper header is not here).
    @inlinable public var isNonFirstFragment: Bool { (fragmentOffset ?? 0) != 0 }

    @inlinable public func setHopLimit(_ v: UInt8) { bytes.setU8(7, v) }
}
