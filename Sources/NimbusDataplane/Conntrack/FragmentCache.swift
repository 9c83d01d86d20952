/// Remembers, for a short time, the verdict on the first fragment of each datagram, so the fragments
/// after it (which carry no ports) follow it: a virtual-reassembly index keyed on source, destination,
/// protocol and IP identification. Direct-mapped and fixed in size: a colliding datagram overwrites the
/// older one, so hostile fragment floods cost bounded memory.
public struct FragmentCache: Sendable {
    private struct Slot: Sendable {
        var addresses: UInt64 = 0
        var idProto: UInt32 = 0
        var expires: UInt64 = 0
    }

    public static let lifetime: UInt64 = 30 * 1_000_000_000
    private var slots: [Slot]
    private let mask: Int
    /// Something was recorded since the last reset.
    private var used = false

    public init(size: Int = 4096) {
        var n = 1
        while n < size { n <<= 1 }
        slots = Array(repeating: Slot(), count: n)
        mask = n - 1
    }

    @inline(__always)
    private func index(_ a: UInt64, _ b: UInt32) -> Int {
        let x = (a ^ UInt64(b) &* 0x9E37_79B9_7F4A_7C15) &* 0xBF58_476D_1CE4_E5B9
        return Int(truncatingIfNeeded: x >> 40) & mask
    }

    /// Records that the first fragment of this datagram was allowed.
    public mutating func allow(source: UInt32, destination: UInt32, protocol proto: UInt8, id: UInt16, now: UInt64) {
        let a = UInt64(source) << 32 | UInt64(destination)
        let b = UInt32(id) << 8 | UInt32(proto)
        slots[index(a, b)] = Slot(addresses: a, idProto: b, expires: now + FragmentCache.lifetime)
        used = true
    }

    /// Forgets every datagram, as if new.
    public mutating func reset() {
        if used {
            for i in slots.indices { slots[i] = Slot() }
            used = false
        }
    }

    /// True when a later fragment belongs to a datagram whose first fragment was allowed.
    public func isAllowed(source: UInt32, destination: UInt32, protocol proto: UInt8, id: UInt16, now: UInt64) -> Bool {
        let a = UInt64(source) << 32 | UInt64(destination)
        let b = UInt32(id) << 8 | UInt32(proto)
        let s = slots[index(a, b)]
        return s.addresses == a && s.idProto == b && s.expires > now
    }
}
