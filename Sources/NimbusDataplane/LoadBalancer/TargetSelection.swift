/// Smooth weighted round-robin (as nginx does it): each pick adds every healthy target's weight to its
/// credit and takes the target with the most, which then pays the total back. Weights 1:2 give
/// A B B A B B… interleaved, never bursts of the heaviest target.
struct SmoothRoundRobin: Sendable {
    private var credit: [Int]

    init(count: Int) { credit = Array(repeating: 0, count: count) }

    /// Back to the first turn.
    mutating func reset() { for i in credit.indices { credit[i] = 0 } }

    /// The next target among those `eligible` says yes to; nil when none is.
    mutating func next(weights: [Int], eligible: (Int) -> Bool) -> Int? {
        var best = -1, total = 0
        for i in weights.indices where eligible(i) {
            credit[i] += weights[i]
            total += weights[i]
            if best < 0 || credit[i] > credit[best] { best = i }
        }
        guard best >= 0 else { return nil }
        credit[best] -= total
        return best
    }
}

/// A consistent lookup table, Maglev style (Eisenbud et al., NSDI 2016): a prime number of slots, each
/// target filling slots along its own permutation in proportion to its weight, so a client address
/// hashes to a slot and the slot names the target in O(1). When targets go down, only the slots that
/// named them are reassigned (each to its highest-scoring healthy target by rendezvous hashing), so
/// exactly the clients of the failed target move; when it comes back, they return.
struct MaglevTable: Sendable {
    static let size = 65537  // prime, ≫ targets × 100
    private let base: [UInt16]
    private(set) var current: [UInt16]
    private let keys: [UInt64]
    private let weights: [Int]

    /// - Parameter keys: a stable hash per target (of its instance name), so tables are reproducible.
    init(keys: [UInt64], weights: [Int]) {
        self.keys = keys
        self.weights = weights
        let m = MaglevTable.size
        var table = [UInt16](repeating: .max, count: m)
        if !keys.isEmpty {
            let offsets = keys.map { Int(mix64($0) % UInt64(m)) }
            let skips = keys.map { Int(mix64($0 ^ 0x5851_F42D_4C95_7F2D) % UInt64(m - 1)) + 1 }
            var next = [Int](repeating: 0, count: keys.count)
            var filled = 0
            outer: while true {
                for i in keys.indices {
                    for _ in 0..<max(1, weights[i]) {
                        var c = (offsets[i] + next[i] * skips[i]) % m
                        while table[c] != .max {
                            next[i] += 1
                            c = (offsets[i] + next[i] * skips[i]) % m
                        }
                        table[c] = UInt16(i)
                        next[i] += 1
                        filled += 1
                        if filled == m { break outer }
                    }
                }
            }
        }
        base = table
        current = table
    }

    /// Reassigns the slots of targets that cannot take new flows.
    mutating func update(healthy: (Int) -> Bool) {
        for s in 0..<base.count {
            let t = Int(base[s])
            if t < keys.count && healthy(t) { current[s] = base[s]; continue }
            // Weighted rendezvous hashing among the healthy: the highest score wins the slot.
            var best = -1
            var bestScore = -Double.infinity
            for i in keys.indices where healthy(i) {
                let h = Double(mix64(keys[i] ^ UInt64(s) &* 0x9E37_79B9_7F4A_7C15) >> 11) / Double(1 << 53)
                let score = -Double(weights[i]) / log(max(h, 1e-300))
                if score > bestScore { bestScore = score; best = i }
            }
            current[s] = best < 0 ? .max : UInt16(best)
        }
    }

    /// The target for a client hash, or nil when no target is healthy.
    @inline(__always)
    func lookup(_ hash: UInt64) -> Int? {
        let t = current[Int(hash % UInt64(current.count))]
        return t == .max ? nil : Int(t)
    }
}

@inline(__always)
func mix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// FNV-1a over a name's bytes: a stable key per target, the same on every machine and run.
func stableHash(_ s: String) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
    return h
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
