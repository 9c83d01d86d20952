#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A hashed timing wheel over capture time (Varghese & Lauck): timers are bucketed by their deadline's
/// tick; advancing the clock visits only the buckets of the ticks that passed. Timers far in the future
/// stay in their bucket across laps and are skipped until their lap comes.
///
/// Timer ids are small integers (flow-table slots, say) chosen by the owner; entries live in arrays
/// allocated up front, so scheduling and expiring never allocate. The arrays come zeroed from `calloc`
/// (0 means "none": deadlines are ticks ≥ 1, links are id + 1), so a wheel sized for a million timers
/// costs no memory until they are scheduled.
public struct TimerWheel: ~Copyable {
    public let tickNanoseconds: UInt64
    public let slotCount: Int
    public let capacity: Int
    /// Per timer id: deadline in ticks, or 0 when not scheduled.
    private let deadline: UnsafeMutablePointer<UInt64>
    /// Per timer id: the next and previous id in its bucket, plus one (0: none).
    private let next: UnsafeMutablePointer<UInt32>
    private let prev: UnsafeMutablePointer<UInt32>
    /// Per bucket: its first id, plus one (0: empty).
    private let heads: UnsafeMutablePointer<UInt32>
    /// The tick up to which every bucket has been visited.
    public private(set) var currentTick: UInt64 = 0
    public private(set) var scheduledCount = 0

    public init(capacity: Int, slotCount: Int = 4096, tickNanoseconds: UInt64 = 100_000_000) {
        precondition(slotCount > 0 && slotCount & (slotCount - 1) == 0, "slotCount must be a power of two")
        precondition(capacity >= 0 && capacity < Int(UInt32.max), "timer wheel capacity out of range")
        self.capacity = capacity
        self.slotCount = slotCount
        self.tickNanoseconds = tickNanoseconds
        let n = max(1, capacity)
        deadline = calloc(n, 8)!.bindMemory(to: UInt64.self, capacity: n)
        next = calloc(n, 4)!.bindMemory(to: UInt32.self, capacity: n)
        prev = calloc(n, 4)!.bindMemory(to: UInt32.self, capacity: n)
        heads = calloc(slotCount, 4)!.bindMemory(to: UInt32.self, capacity: slotCount)
    }

    deinit {
        free(deadline)
        free(next)
        free(prev)
        free(heads)
    }

    public func isScheduled(_ id: Int) -> Bool { deadline[id] != 0 }

    /// Forgets every timer, as if new. Only ids below `ids` can have been scheduled (the owner's
    /// high-water mark), so only they and the buckets are cleared.
    public mutating func reset(idsBelow ids: Int) {
        if scheduledCount > 0 {
            for id in 0..<min(ids, max(1, capacity)) { deadline[id] = 0 }
            memset(heads, 0, slotCount * MemoryLayout<UInt32>.stride)
        }
        scheduledCount = 0
        currentTick = 0
    }

    /// Schedules (or reschedules) timer `id` to fire at capture time `at` (nanoseconds). A deadline in the
    /// past fires on the next `advance`.
    public mutating func schedule(_ id: Int, at: UInt64) {
        if deadline[id] != 0 { cancel(id) }
        let tick = max(at / tickNanoseconds + (at % tickNanoseconds == 0 ? 0 : 1), currentTick + 1)
        deadline[id] = tick
        let slot = Int(tick & UInt64(slotCount - 1))
        next[id] = heads[slot]
        prev[id] = 0
        if heads[slot] != 0 { prev[Int(heads[slot]) - 1] = UInt32(id + 1) }
        heads[slot] = UInt32(id + 1)
        scheduledCount += 1
    }

    public mutating func cancel(_ id: Int) {
        guard deadline[id] != 0 else { return }
        let slot = Int(deadline[id] & UInt64(slotCount - 1))
        let n = next[id], p = prev[id]
        if p != 0 { next[Int(p) - 1] = n } else { heads[slot] = n }
        if n != 0 { prev[Int(n) - 1] = p }
        deadline[id] = 0
        scheduledCount -= 1
    }

    /// Advances to capture time `now`, calling `fire` for every timer whose deadline is at or before it,
    /// in deadline order by tick (and, within a tick, most recently scheduled first).
    public mutating func advance(to now: UInt64, _ fire: (Int) -> Void) {
        let target = now / tickNanoseconds
        guard target > currentTick else { return }
        // Past one whole lap, every bucket is visited once; each visit fires what is due by `target`.
        let steps = min(target - currentTick, UInt64(slotCount))
        var visited: UInt64 = 0
        var tick = currentTick + 1
        while visited < steps {
            let slot = Int(tick & UInt64(slotCount - 1))
            var link = heads[slot]
            while link != 0 {
                let id = Int(link) - 1
                let nextLink = next[id]
                if deadline[id] <= target {
                    cancel(id)
                    fire(id)
                }
                link = nextLink
            }
            // Timers scheduled by `fire` land after the tick being visited, not in a visited bucket.
            currentTick = tick
            tick += 1
            visited += 1
        }
        currentTick = target
    }
}
