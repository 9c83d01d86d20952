// The anti-replay sliding window (RFC 6479's bitmap of blocks, as WireGuard uses it): 2048 bits in 32
// 64-bit blocks, so any counter within the last 1984 of the highest one seen is accepted once.

/// A sliding replay window over 64-bit message counters. Allocates its 32 words once, at creation.
public struct ReplayWindow: Sendable {
    public static let bits = 2048
    static let blockBits = 64
    static let blocks = bits / blockBits             // 32
    /// How far behind the highest counter a counter may be and still be accepted once.
    public static let windowSize = UInt64(bits - blockBits)  // 1984

    var ring: [UInt64]
    /// The highest counter accepted so far (0 before any).
    public private(set) var highest: UInt64 = 0

    public init() { ring = [UInt64](repeating: 0, count: ReplayWindow.blocks) }

    /// Whether `counter` could be accepted (not too old, not seen, below the message limit). Does not
    /// change the window.
    public func wouldAccept(_ counter: UInt64, limit: UInt64 = WireGuardTimers.rejectAfterMessages) -> Bool {
        if counter >= limit { return false }
        if counter > highest { return true }
        if highest - counter > ReplayWindow.windowSize { return false }
        let block = Int((counter >> 6) & UInt64(ReplayWindow.blocks - 1))
        return ring[block] & (1 << (counter & 63)) == 0
    }

    /// Accepts `counter` once: false when it is a duplicate, too old or at/after the message limit.
    /// Call only after the packet authenticated.
    public mutating func accept(_ counter: UInt64, limit: UInt64 = WireGuardTimers.rejectAfterMessages) -> Bool {
        if counter >= limit { return false }
        let blockIndex = counter >> 6
        if counter > highest {
            let current = highest >> 6
            let diff = min(blockIndex - current, UInt64(ReplayWindow.blocks))
            var i: UInt64 = 1
            while i <= diff {
                ring[Int((current &+ i) & UInt64(ReplayWindow.blocks - 1))] = 0
                i += 1
            }
            highest = counter
        } else if highest - counter > ReplayWindow.windowSize {
            return false
        }
        let b = Int(blockIndex & UInt64(ReplayWindow.blocks - 1))
        let bit: UInt64 = 1 << (counter & 63)
        let old = ring[b]
        ring[b] = old | bit
        return old & bit == 0
    }
}
