import NimbusWire

/// A flow's 5-tuple packed into two machine words, in canonical order: the lower (address, port)
/// endpoint first, so both directions of a connection give the same key and one lookup finds it.
/// `reversed` tells whether the packet travels from the higher endpoint to the lower one.
public struct FlowKey: Hashable, Sendable, BitwiseCopyable {
    /// Address A (high 32 bits) and address B (low 32 bits).
    public var addresses: UInt64
    /// Protocol (bits 32-39), port A (bits 16-31), port B (bits 0-15).
    public var rest: UInt64

    @inlinable
    public init(addresses: UInt64, rest: UInt64) {
        self.addresses = addresses
        self.rest = rest
    }

    /// The canonical key of a packet, and whether the packet goes B -> A.
    @inlinable
    public static func canonical(protocol proto: UInt8, source: UInt32, sourcePort: UInt16, destination: UInt32,
                                 destinationPort: UInt16) -> (key: FlowKey, reversed: Bool) {
        let swap = source > destination || (source == destination && sourcePort > destinationPort)
        let (a, pa, b, pb) = swap ? (destination, destinationPort, source, sourcePort)
            : (source, sourcePort, destination, destinationPort)
        return (FlowKey(addresses: UInt64(a) << 32 | UInt64(b),
                        rest: UInt64(proto) << 32 | UInt64(pa) << 16 | UInt64(pb)), swap)
    }

    @inlinable public var protocolNumber: UInt8 { UInt8(truncatingIfNeeded: rest >> 32) }
    @inlinable public var addressA: IPv4Address { IPv4Address(value: UInt32(truncatingIfNeeded: addresses >> 32)) }
    @inlinable public var addressB: IPv4Address { IPv4Address(value: UInt32(truncatingIfNeeded: addresses)) }
    @inlinable public var portA: UInt16 { UInt16(truncatingIfNeeded: rest >> 16) }
    @inlinable public var portB: UInt16 { UInt16(truncatingIfNeeded: rest) }

    /// A 64-bit hash that mixes both words (multiply-xorshift); symmetric because the key is canonical.
    @inlinable public var hash: UInt64 {
        var x = addresses &* 0x9E37_79B9_7F4A_7C15 ^ (rest &+ 0x632B_E59B_D9B4_E019) &* 0xC2B2_AE3D_27D4_EB4F
        x ^= x >> 29
        x = x &* 0xBF58_476D_1CE4_E5B9
        return x ^ (x >> 32)
    }

    /// Never a real flow (source 0.0.0.0 is dropped before tracking): marks empty slots.
    public static let empty = FlowKey(addresses: 0, rest: 0)
}
