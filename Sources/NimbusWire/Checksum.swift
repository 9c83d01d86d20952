/// The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
public enum InternetChecksum {
    /// Adds the bytes, as big-endian 16-bit words, to a 32-bit-folded running sum. An odd trailing byte is
    /// padded with zero. The result is not complemented: combine several sums, then call `finish`.
    @inlinable
    public static func partialSum(_ bytes: RawBytes, initial: UInt32 = 0) -> UInt32 {
        var acc = UInt64(initial)
        var i = 0
        let n = bytes.count
        // Eight bytes at a time: the sum of big-endian 16-bit words equals the byte-swapped sum of
        // native words once folded, so add native 32-bit halves and swap at the end.
        var native: UInt64 = 0
        while i + 8 <= n {
            let w = bytes.base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            native &+= w & 0xFFFF_FFFF
            native &+= w >> 32
            i += 8
        }
        // Fold the native accumulator to 16 bits, then convert it to network order.
        while native >> 16 != 0 { native = (native & 0xFFFF) &+ (native >> 16) }
        acc &+= UInt64(UInt16(truncatingIfNeeded: native).bigEndian)
        while i + 2 <= n {
            acc &+= UInt64(bytes.u16(i))
            i += 2
        }
        if i < n { acc &+= UInt64(bytes.u8(i)) << 8 }
        while acc >> 16 != 0 { acc = (acc & 0xFFFF) &+ (acc >> 16) }
        return UInt32(acc)
    }

    /// Folds a running sum and complements it: the value to store in a checksum field.
    @inlinable
    public static func finish(_ sum: UInt32) -> UInt16 {
        var s = sum
        while s >> 16 != 0 { s = (s & 0xFFFF) &+ (s >> 16) }
        return ~UInt16(truncatingIfNeeded: s)
    }

    /// The checksum of a byte range (with its checksum field zeroed, or not, as the caller arranges).
    @inlinable
    public static func compute(_ bytes: RawBytes, initial: UInt32 = 0) -> UInt16 {
        finish(partialSum(bytes, initial: initial))
    }

    /// True when the bytes, checksum field included, sum to all ones.
    @inlinable
    public static func verify(_ bytes: RawBytes, initial: UInt32 = 0) -> Bool {
        compute(bytes, initial: initial) == 0
    }

    /// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). Updates checksum `hc` for a 16-bit field that changed
    /// from `old` to `new` without touching the rest of the data.
    @inlinable
    public static func update(_ hc: UInt16, old: UInt16, new: UInt16) -> UInt16 {
        var s = UInt32(~hc) &+ UInt32(~old) &+ UInt32(new)
        s = (s & 0xFFFF) &+ (s >> 16)
        s = (s & 0xFFFF) &+ (s >> 16)
        return ~UInt16(truncatingIfNeeded: s)
    }

    /// RFC 1624 update for a 32-bit field (an IPv4 address), as two 16-bit words.
    @inlinable
    public static func update(_ hc: UInt16, old: UInt32, new: UInt32) -> UInt16 {
        var s = UInt32(~hc)
            &+ UInt32(~UInt16(truncatingIfNeeded: old >> 16)) &+ UInt32(~UInt16(truncatingIfNeeded: old))
            &+ (new >> 16) &+ (new & 0xFFFF)
        s = (s & 0xFFFF) &+ (s >> 16)
        s = (s & 0xFFFF) &+ (s >> 16)
        return ~UInt16(truncatingIfNeeded: s)
    }

    /// The IPv4 pseudo-header sum for TCP/UDP (RFC 793/768).
    @inlinable
    public static func pseudoHeaderSum(source: IPv4Address, destination: IPv4Address, protocol: UInt8,
                                       length: Int) -> UInt32 {
        var s = UInt64(source.value >> 16) + UInt64(source.value & 0xFFFF)
        s += UInt64(destination.value >> 16) + UInt64(destination.value & 0xFFFF)
        s += UInt64(`protocol`) + UInt64(length)
        while s >> 16 != 0 { s = (s & 0xFFFF) + (s >> 16) }
        return UInt32(s)
    }

    /// The IPv6 pseudo-header sum (RFC 8200 section 8.1).
    @inlinable
    public static func pseudoHeaderSum(source: IPv6Address, destination: IPv6Address, nextHeader: UInt8,
                                       length: Int) -> UInt32 {
        var s: UInt64 = 0
        for w in [source.high, source.low, destination.high, destination.low] {
            s += (w >> 48) + (w >> 32 & 0xFFFF) + (w >> 16 & 0xFFFF) + (w & 0xFFFF)
        }
        s += UInt64(length >> 16) + UInt64(length & 0xFFFF) + UInt64(nextHeader)
        while s >> 16 != 0 { s = (s & 0xFFFF) + (s >> 16) }
        return UInt32(s)
    }
}
