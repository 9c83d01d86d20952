import NimbusWire

// Deterministic randomness for the protocol: ephemeral keys, session indices, cookie secrets, jitter.
// Nothing in NimbusVPN reads the system's randomness: the caller passes a generator (a seeded one in
// replay, `SystemRandomNumberGenerator` for a live deployment that wants real secrecy).

/// xoshiro256** seeded through SplitMix64: fast, deterministic, good statistical quality. Not a CSPRNG:
/// seed it from a secret (or use `SystemRandomNumberGenerator`) when the keys must stay secret.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(seed: UInt64) {
        var x = SplitMix64(seed: seed)
        s0 = x.next(); s1 = x.next(); s2 = x.next(); s3 = x.next()
    }

    public mutating func next() -> UInt64 {
        let result = (s1 &* 5).rotatedLeft(7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = s3.rotatedLeft(45)
        return result
    }
}

extension UInt64 {
    @inline(__always) func rotatedLeft(_ n: UInt64) -> UInt64 { (self << n) | (self >> (64 - n)) }
}

extension RandomNumberGenerator {
    /// `count` random bytes.
    mutating func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(count)
        while out.count < count {
            let r = next()
            for k in 0..<8 where out.count < count { out.append(UInt8(truncatingIfNeeded: r >> (UInt64(k) * 8))) }
        }
        return out
    }
}
