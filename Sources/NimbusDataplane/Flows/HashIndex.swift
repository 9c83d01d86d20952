import CNimbusShims
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A key a `HashIndex` can hold: plain bits, compared whole, with a well-mixed 64-bit hash. `empty` is
/// never a real key; it marks a free slot in debug checks and for readers of a slot.
public protocol HashIndexKey: Equatable, BitwiseCopyable {
    var indexHash: UInt64 { get }
    static var empty: Self { get }
}

/// An open-addressing hash index from keys to entry indices, with a fixed capacity: what every flow
/// table of the dataplane (connection tracking, NAT mappings, load-balancer flows) finds its entries
/// through. Linear probing with backward-shift deletion (no tombstones, so probe runs stay short however
/// long the table lives). A slot holds the key and its entry index + 1 (0: free) on one cache line.
/// Slots come zeroed from `calloc`, so the kernel commits pages only as keys arrive.
///
/// Generic over the key, and specialised by the compiler within the module: no existentials, no
/// allocation after `init`.
public struct HashIndex<Key: HashIndexKey>: ~Copyable {
    @usableFromInline struct Slot {
        @usableFromInline var key: Key
        /// Entry index + 1; 0 = free.
        @usableFromInline var index: UInt32
    }
    @usableFromInline let slots: UnsafeMutablePointer<Slot>
    @usableFromInline let mask: Int
    /// The most keys it holds at once.
    public let capacity: Int
    public private(set) var count = 0

    public init(capacity: Int) {
        precondition(capacity > 0 && capacity < Int(UInt32.max), "hash index capacity out of range")
        self.capacity = capacity
        var slotCount = 1024
        while slotCount < capacity * 2 { slotCount <<= 1 }
        mask = slotCount - 1
        slots = calloc(slotCount, MemoryLayout<Slot>.stride)!.bindMemory(to: Slot.self, capacity: slotCount)
    }

    deinit { free(slots) }

    @inlinable @inline(__always)
    func home(_ key: Key) -> Int { Int(truncatingIfNeeded: key.indexHash) & mask }

    /// The entry index `key` maps to.
    @inlinable @inline(__always)
    public func find(_ key: Key) -> Int? {
        var s = home(key)
        while true {
            let idx = slots[s].index
            if idx == 0 { return nil }
            if slots[s].key == key { return Int(idx - 1) }
            s = (s + 1) & mask
        }
    }

    /// Maps `key` to `index`, replacing what it mapped to. Returns false, changing nothing, when the
    /// key is new and the index is at capacity.
    @discardableResult
    public mutating func insert(_ key: Key, _ index: Int) -> Bool {
        var s = home(key)
        while slots[s].index != 0 {
            if slots[s].key == key {
                slots[s].index = UInt32(index + 1)
                return true
            }
            s = (s + 1) & mask
        }
        guard count < capacity else { return false }
        slots[s].key = key
        slots[s].index = UInt32(index + 1)
        count += 1
        return true
    }

    /// Maps `key`, which the caller knows is absent, to `index`: the probe looks for a free slot only.
    /// Returns false when the index is at capacity.
    @discardableResult
    public mutating func insertNew(_ key: Key, _ index: Int) -> Bool {
        guard count < capacity else { return false }
        var s = home(key)
        while slots[s].index != 0 { s = (s + 1) & mask }
        slots[s].key = key
        slots[s].index = UInt32(index + 1)
        count += 1
        return true
    }

    /// Forgets every key.
    public mutating func removeAll() {
        if count > 0 { memset(slots, 0, (mask + 1) * MemoryLayout<Slot>.stride) }
        count = 0
    }

    /// Forgets `key` (nothing happens when it is not there).
    public mutating func remove(_ key: Key) {
        var s = home(key)
        while slots[s].key != key || slots[s].index == 0 {
            if slots[s].index == 0 { return }
            s = (s + 1) & mask
        }
        // Backward-shift deletion: pull later members of the probe run into the hole.
        var hole = s
        var j = (s + 1) & mask
        while slots[j].index != 0 {
            // Move j into the hole when its home is not in the cyclic range (hole, j].
            if (j - home(slots[j].key)) & mask >= (j - hole) & mask {
                slots[hole] = slots[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        slots[hole].index = 0
        slots[hole].key = .empty
        count -= 1
    }

    /// Starts loading the home slot of `key` into the cache, so a later `find` rarely waits on memory.
    @inlinable @inline(__always)
    public func prefetch(_ key: Key) {
        nimbus_prefetch(slots + home(key))
    }

    /// Calls `body` with every entry index held (reports and flow logs; not the hot path).
    public func forEach(_ body: (Int) -> Void) {
        for s in 0...mask where slots[s].index != 0 { body(Int(slots[s].index - 1)) }
    }

    /// The entry index in `key`'s home slot when the key sits there (no probing): for prefetching the
    /// entry after the slot was prefetched.
    @inlinable @inline(__always)
    public func homeIndex(_ key: Key) -> Int? {
        let s = home(key)
        let idx = slots[s].index
        return idx != 0 && slots[s].key == key ? Int(idx - 1) : nil
    }
}

extension UInt64: HashIndexKey {
    /// Multiply-xorshift: NAT and load-balancer keys pack protocol, address and port, whose low bits
    /// alone would crowd a few slots.
    @inlinable public var indexHash: UInt64 {
        var x = self &* 0x9E37_79B9_7F4A_7C15
        x ^= x >> 31
        return x &* 0xBF58_476D_1CE4_E5B9 >> 20
    }

    public static var empty: UInt64 { 0 }
}

extension FlowKey: HashIndexKey {
    @inlinable public var indexHash: UInt64 { hash }
}
