// Local session index → peer, for the receive path: an open-addressing table with linear probing and
// backward-shift deletion. Indices are random 32-bit values, so their low bits are the hash. No
// `Dictionary` (and so no SipHash, no per-process seed) on the per-packet path.

struct IndexTable: Sendable {
    private var keys: [UInt32]
    private var values: [Int32]      // -1: empty
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 64) {
        var c = 16
        while c < capacity * 2 { c <<= 1 }
        keys = [UInt32](repeating: 0, count: c)
        values = [Int32](repeating: -1, count: c)
        mask = c - 1
    }

    @inline(__always) private func home(_ k: UInt32) -> Int { Int(truncatingIfNeeded: k &* 0x9E37_79B1) & mask }

    /// The peer that owns local index `k`.
    @inline(__always)
    func lookup(_ k: UInt32) -> Int? {
        var i = home(k)
        while values[i] >= 0 {
            if keys[i] == k { return Int(values[i]) }
            i = (i + 1) & mask
        }
        return nil
    }

    func contains(_ k: UInt32) -> Bool { lookup(k) != nil }

    mutating func insert(_ k: UInt32, peer: Int) {
        if (count + 1) * 2 > keys.count { grow() }
        var i = home(k)
        while values[i] >= 0 {
            if keys[i] == k { values[i] = Int32(peer); return }
            i = (i + 1) & mask
        }
        keys[i] = k; values[i] = Int32(peer); count += 1
    }

    mutating func remove(_ k: UInt32) {
        var i = home(k)
        while values[i] >= 0 && keys[i] != k { i = (i + 1) & mask }
        guard values[i] >= 0 else { return }
        values[i] = -1; count -= 1
        // Backward-shift the following cluster so lookups never stop early.
        var j = (i + 1) & mask
        while values[j] >= 0 {
            let h = home(keys[j])
            // Move entry j to the hole i if its home is not in (i, j] cyclically.
            let inRange = i <= j ? (h > i && h <= j) : (h > i || h <= j)
            if !inRange {
                keys[i] = keys[j]; values[i] = values[j]; values[j] = -1
                i = j
            }
            j = (j + 1) & mask
        }
    }

    private mutating func grow() {
        let oldKeys = keys, oldValues = values
        keys = [UInt32](repeating: 0, count: oldKeys.count * 2)
        values = [Int32](repeating: -1, count: oldKeys.count * 2)
        mask = keys.count - 1
        count = 0
        for i in 0..<oldKeys.count where oldValues[i] >= 0 { insert(oldKeys[i], peer: Int(oldValues[i])) }
    }
}
