import NimbusWire

/// Longest-prefix match over IPv4 prefixes by tuple-space search: one open-addressing hash table per
/// distinct prefix length, probed from the longest length down. Built once; lookups never allocate.
/// With the handful of lengths a cloud topology has (/32 hosts, /24 subnets, /16 networks, /0) a lookup
/// is a few hash probes whatever the number of prefixes.
public struct IPv4PrefixTable<Value: Sendable>: Sendable {
    @usableFromInline struct Level: Sendable {
        @usableFromInline var length: Int
        @usableFromInline var mask: UInt32
        /// Open addressing, linear probing; capacity a power of two at most half full.
        @usableFromInline var keys: [UInt32]
        @usableFromInline var slots: [Int32]  // -1 empty, else index into `values`
        @usableFromInline var values: [Value]
    }

    @usableFromInline var levels: [Level] = []

    /// Builds the table. When a prefix appears twice, the first value wins.
    public init(_ entries: [(IPv4CIDR, Value)]) {
        let lengths = Set(entries.map(\.0.prefixLength)).sorted(by: >)
        for len in lengths {
            let mine = entries.filter { $0.0.prefixLength == len }
            var cap = 8
            while cap < mine.count * 2 { cap *= 2 }
            var level = Level(length: len, mask: IPv4CIDR.mask(len), keys: Array(repeating: 0, count: cap),
                              slots: Array(repeating: -1, count: cap), values: [])
            for (cidr, value) in mine {
                var h = IPv4PrefixTable.hash(cidr.network.value) & UInt32(cap - 1)
                var duplicate = false
                while level.slots[Int(h)] >= 0 {
                    if level.keys[Int(h)] == cidr.network.value { duplicate = true; break }
                    h = (h + 1) & UInt32(cap - 1)
                }
                if duplicate { continue }
                level.keys[Int(h)] = cidr.network.value
                level.slots[Int(h)] = Int32(level.values.count)
                level.values.append(value)
            }
            levels.append(level)
        }
    }

    @inlinable static func hash(_ k: UInt32) -> UInt32 {
        // A multiplicative hash (Knuth); the high bits mix best, so fold them down.
        let x = k &* 0x9E37_79B1
        return x ^ (x >> 16)
    }

    public var isEmpty: Bool { levels.isEmpty }

    /// The value of the longest prefix containing `address`, with that prefix's length.
    @inlinable
    public func lookup(_ address: IPv4Address) -> (value: Value, prefixLength: Int)? {
        for level in levels {
            let key = address.value & level.mask
            let cap = level.keys.count
            var h = Int(IPv4PrefixTable.hash(key) & UInt32(cap - 1))
            while true {
                let s = level.slots[h]
                if s < 0 { break }
                if level.keys[h] == key { return (level.values[Int(s)], level.length) }
                h = (h + 1) & (cap - 1)
            }
        }
        return nil
    }
}
