import CNimbusShims
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open-addressing hash map from non-zero 64-bit keys to 32-bit values with a fixed capacity,
/// linear probing and backward-shift deletion (no tombstones). Memory comes zeroed from `calloc`, so
/// pages are committed only as entries arrive. Key 0 marks an empty slot.
public struct U64Map: ~Copyable {
    private let mask: Int
    private let keys: UnsafeMutablePointer<UInt64>
    private let values: UnsafeMutablePointer<UInt32>
    public private(set) var count = 0
    public let capacity: Int

    public init(capacity: Int) {
        self.capacity = capacity
        var slots = 1024
        while slots < capacity * 2 { slots <<= 1 }
        mask = slots - 1
        keys = calloc(slots, 8)!.bindMemory(to: UInt64.self, capacity: slots)
        values = calloc(slots, 4)!.bindMemory(to: UInt32.self, capacity: slots)
    }

    deinit {
        free(keys)
        free(values)
    }

    @inline(__always)
    static func home(_ key: UInt64) -> Int {
        var x = key &* 0x9E37_79B9_7F4A_7C15
        x ^= x >> 31
        return Int(truncatingIfNeeded: x &* 0xBF58_476D_1CE4_E5B9 >> 20)
    }

    /// Starts loading the home slot of `key` (key and value) into the cache.
    @inline(__always)
    public func prefetch(_ key: UInt64) {
        let s = U64Map.home(key) & mask
        nimbus_prefetch(keys + s)
        nimbus_prefetch(values + s)
    }

    @inline(__always)
    public func find(_ key: UInt64) -> UInt32? {
        var s = U64Map.home(key) & mask
        while true {
            let k = keys[s]
            if k == key { return values[s] }
            if k == 0 { return nil }
            s = (s + 1) & mask
        }
    }

    /// Inserts or replaces. Returns false when the map is at capacity.
    @discardableResult
    public mutating func insert(_ key: UInt64, _ value: UInt32) -> Bool {
        var s = U64Map.home(key) & mask
        while keys[s] != 0 {
            if keys[s] == key { values[s] = value; return true }
            s = (s + 1) & mask
        }
        guard count < capacity else { return false }
        keys[s] = key
        values[s] = value
        count += 1
        return true
    }

    public mutating func remove(_ key: UInt64) {
        var s = U64Map.home(key) & mask
        while keys[s] != key {
            if keys[s] == 0 { return }
            s = (s + 1) & mask
        }
        var hole = s
        var j = (s + 1) & mask
        while keys[j] != 0 {
            let home = U64Map.home(keys[j]) & mask
            if (j - home) & mask >= (j - hole) & mask {
                keys[hole] = keys[j]
                values[hole] = values[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        keys[hole] = 0
        count -= 1
    }
}
