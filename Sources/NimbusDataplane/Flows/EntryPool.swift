import CNimbusShims

/// The entries of a flow table and their lifecycle: a fixed pool whose indices stay put while an entry
/// lives (hash indexes and timers refer to them), a free list, and expiry on a timing wheel over capture
/// time. Connection tracking, the NAT gateway and the load balancer each keep their entries in one; what
/// differs between them — the key or keys an entry is found by, and how long an idle entry lives — stays
/// with the stage.
///
/// Expiry is lazy, as in Linux conntrack: an entry's timer is set when it is made, and when the timer
/// fires the entry's own deadline (its last use plus its current timeout) decides whether it is gone or
/// is reminded again at that deadline. Packets only update `lastSeen`; they never touch the wheel.
///
/// All memory is allocated in `init`; nothing is allocated per packet.
public struct EntryPool<Entry: BitwiseCopyable>: ~Copyable {
    @usableFromInline let entries: UnsafeMutablePointer<Entry>
    private var spare: FreeIndices
    private var wheel: TimerWheel
    /// Entries whose deadline passed in the last `expire`, for the owner to unlink and `free`.
    private var expiredIndices: [Int] = []
    public let capacity: Int
    public private(set) var live = 0
    public private(set) var peak = 0
    public private(set) var created: UInt64 = 0
    public private(set) var expired: UInt64 = 0

    /// - Parameters:
    ///   - capacity: the most entries alive at once.
    ///   - wheelSlots: buckets of the timing wheel (a power of two); one tick is a second.
    public init(capacity: Int, wheelSlots: Int = 4096) {
        self.capacity = capacity
        entries = .allocate(capacity: max(1, capacity))
        spare = FreeIndices(capacity: capacity)
        wheel = TimerWheel(capacity: max(1, capacity), slotCount: wheelSlots, tickNanoseconds: 1_000_000_000)
    }

    deinit { entries.deallocate() }

    /// Frees every entry and zeroes the figures, as if new; the cost is that of the entries ever used.
    public mutating func reset() {
        wheel.reset(idsBelow: spare.highWater)
        spare.reset()
        expiredIndices.removeAll(keepingCapacity: true)
        live = 0
        peak = 0
        created = 0
        expired = 0
    }

    /// True when no entry can be added.
    public var isFull: Bool { spare.available == 0 }

    @inlinable public subscript(i: Int) -> Entry {
        get {
            assert(i >= 0 && i < capacity, "entry index out of the pool")
            return entries[i]
        }
        _modify {
            assert(i >= 0 && i < capacity, "entry index out of the pool")
            yield &entries[i]
        }
    }

    /// Starts loading entry `i` into the cache.
    @inlinable @inline(__always)
    public func prefetch(_ i: Int) { nimbus_prefetch(entries + i) }

    /// Adds an entry whose timer first fires at `deadline` (capture time, ns); nil when the pool is full.
    public mutating func add(_ entry: Entry, deadline: UInt64) -> Int? {
        guard let i = spare.take() else { return nil }
        let index = Int(i)
        (entries + index).initialize(to: entry)
        wheel.schedule(index, at: deadline)
        live += 1
        created += 1
        if live > peak { peak = live }
        return index
    }

    /// Frees entry `i` (its keys must already be gone from the indexes that name it).
    public mutating func free(_ i: Int) {
        wheel.cancel(i)
        spare.give(UInt32(i))
        live -= 1
    }

    /// Advances the clock to `now`. Entries whose timer fires and whose `deadline` has passed are listed
    /// for the owner (`expiredCount`, `expiredEntry(_:)`), to unlink from its indexes and `free`; the
    /// others are reminded again at their deadline.
    public mutating func expire(now: UInt64, deadline: (borrowing Entry) -> UInt64) {
        expiredIndices.removeAll(keepingCapacity: true)
        var due: [Int] = []
        swap(&due, &expiredIndices)
        wheel.advance(to: now) { due.append($0) }
        var k = 0
        for i in due {
            let d = deadline(entries[i])
            if d <= now {
                due[k] = i
                k += 1
            } else {
                wheel.schedule(i, at: d)
            }
        }
        due.removeLast(due.count - k)
        expired += UInt64(k)
        swap(&due, &expiredIndices)
    }

    /// How many entries the last `expire` found gone.
    public var expiredCount: Int { expiredIndices.count }

    /// The `k`-th entry the last `expire` found gone.
    public func expiredEntry(_ k: Int) -> Int { expiredIndices[k] }

    /// Counts an entry that was ended early by its owner as expired (found dead on use before its
    /// timer fired).
    public mutating func countExpired() { expired += 1 }
}
