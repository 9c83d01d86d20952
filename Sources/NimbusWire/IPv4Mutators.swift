/// The version nibble that opens every IP header, IPv4 and IPv6 alike.
public enum IPVersion {
    public static let v4: UInt8 = 4
    public static let v6: UInt8 = 6

    /// The version of the IP header at the start of `bytes`, which must hold at least one byte.
    @inlinable public static func read(from bytes: RawBytes) -> UInt8 { bytes.u8(0) >> 4 }
}

extension IPv4Header {
    /// Checks the version and the header length against the bytes, but not the total length: for a
    /// datagram cut short (a capture's snapshot length, the datagram an ICMP error quotes). `bytes` is
    /// kept whole, so `payload` is whatever follows the header, and `totalLength` may exceed the bytes.
    @inlinable
    public init(headerOf bytes: RawBytes) throws(WireError) {
        guard bytes.count >= IPv4Header.minimumLength else { throw .truncated }
        let vihl = bytes.u8(0)
        guard vihl >> 4 == IPVersion.v4 else { throw .badVersion }
        let hl = Int(vihl & 0x0F) * 4
        guard hl >= IPv4Header.minimumLength else { throw .badLength }
        guard hl <= bytes.count else { throw .truncated }
        self.init(unchecked: bytes)
    }

    /// Turns the header round for an answer sent back in place: swaps source and destination, sets the
    /// TTL, and recomputes the header checksum in full.
    @inlinable
    public func turnAround(ttl: UInt8) {
        let s = bytes.u32(12), d = bytes.u32(16)
        bytes.setU32(12, d)
        bytes.setU32(16, s)
        bytes.setU8(8, ttl)
        updateChecksum()
    }

    /// Rewrites what differs between the fragments of one datagram (RFC 791): the total length, the
    /// flags and the fragment offset, then recomputes the header checksum in full. The reserved flag is
    /// cleared. `offset` is in bytes, a multiple of 8 below 65,536.
    @inlinable
    public func setFragment(totalLength: Int, dontFragment: Bool, moreFragments: Bool, offset: Int) {
        bytes.setU16(2, UInt16(totalLength))
        let flags: UInt16 = (dontFragment ? 0x4000 : 0) | (moreFragments ? 0x2000 : 0)
        bytes.setU16(6, flags | UInt16(truncatingIfNeeded: offset >> 3) & 0x1FFF)
        updateChecksum()
    }
}
