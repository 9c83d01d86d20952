/// The one flow table of the dataplane: entries with a lifecycle (`EntryPool`: stable indices, a free
/// list, expiry over capture time) found by a key (`HashIndex`). Connection tracking keys its flows by
/// the canonical 5-tuple; the NAT gateway keys mappings by the internal endpoint and adds a second
/// index for the external one; the load balancer keys flows by the client side and adds one for the
/// target side. Each stage decides what its entries hold and how long an idle one lives.
public struct FlowTable<Key: HashIndexKey, Entry: BitwiseCopyable>: ~Copyable {
    public var index: HashIndex<Key>
    public var entries: EntryPool<Entry>

    /// - Parameters:
    ///   - capacity: the most entries alive at once.
    ///   - wheelSlots: buckets of the expiry wheel (one-second ticks).
    public init(capacity: Int, wheelSlots: Int = 4096) {
        index = HashIndex(capacity: capacity)
        entries = EntryPool(capacity: capacity, wheelSlots: wheelSlots)
    }

    public var capacity: Int { entries.capacity }
    /// Entries alive now, and the most alive at once.
    public var count: Int { entries.live }
    public var peak: Int { entries.peak }
    public var isFull: Bool { entries.isFull }

    /// Empties the table, as if new.
    public mutating func reset() {
        index.removeAll()
        entries.reset()
    }

    /// The entry index of `key`.
    @inlinable @inline(__always)
    public func find(_ key: Key) -> Int? { index.find(key) }

    @inlinable public subscript(i: Int) -> Entry {
        get { entries[i] }
        _modify { yield &entries[i] }
    }

    /// Adds `entry` under `key` (which must not be present), its timer first firing at `deadline`; nil
    /// when the table is full.
    public mutating func insert(_ key: Key, _ entry: Entry, deadline: UInt64) -> Int? {
        guard let i = entries.add(entry, deadline: deadline) else { return nil }
        index.insertNew(key, i)
        return i
    }

    /// Removes entry `i`, held under `key`.
    public mutating func remove(_ i: Int, key: Key) {
        index.remove(key)
        entries.free(i)
    }

    /// Starts loading the home slot of `key` into the cache.
    @inlinable @inline(__always)
    public func prefetchSlot(_ key: Key) { index.prefetch(key) }

    /// Starts loading the entry of `key` when its home slot (prefetched before) holds it.
    @inlinable @inline(__always)
    public func prefetchEntry(_ key: Key) {
        if let i = index.homeIndex(key) { entries.prefetch(i) }
    }

    /// Calls `body` with the index of every live entry (reports and flow logs; not the hot path).
    public func forEach(_ body: (Int) -> Void) { index.forEach(body) }
}
