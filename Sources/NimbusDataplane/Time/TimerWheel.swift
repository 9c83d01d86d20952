/// A hashed timing wheel over capture time (Varghese & Lauck): timers are bucketed by their deadline's
/// tick; advancing the clock visits only the buckets of the ticks that passed. Timers far in the future
/// stay in their bucket across laps and are skipped until their lap comes.
///
/// Timer ids are small integers (flow-table slots, say) chosen by the owner; entries live in arrays
/// allocated up front, so scheduling and expiring never allocate.
public struct TimerWheel: Sendable {
    public let tickNanoseconds: UInt64
    public let slotCount: Int
    public let capacity: Int
    /// Per timer id: deadline in ticks, or `.max` when not scheduled.
    private var deadline: [UInt64]
    private var next: [Int32]
    private var prev: [Int32]
    private var heads: [Int32]
    /// The tick up to which every bucket has been visited.
    public private(set) var currentTick: UInt64 = 0
    public private(set) var scheduledCount = 0

    public init(capacity: Int, slotCount: Int = 4096, tickNanoseconds: UInt64 = 100_000_000) {
        precondition(slotCount > 0 && slotCount & (slotCount - 1) == 0, "slotCount must be a power of two")
        self.capacity = capacity
        self.slotCount = slotCount
        self.tickNanoseconds = tickNanoseconds
        deadline = Array(repeating: .max, count: capacity)
        next = Array(repeating: -1, count: capacity)
        prev = Array(repeating: -1, count: capacity)
        heads = Array(repeating: -1, count: slotCount)
    }

    public func isScheduled(_ id: Int) -> Bool { deadline[id] != .max }

    /// Schedules (or reschedules) timer `id` to fire at capture time `at` (nanoseconds). A deadline in the
    /// past fires on the next `advance`.
    public mutating func schedule(_ id: Int, at: UInt64) {
        if deadline[id] != .max { cancel(id) }
        let tick = max(at / tickNanoseconds + (at % tickNanoseconds == 0 ? 0 : 1), currentTick + 1)
        deadline[id] = tick
        let slot = Int(tick & UInt64(slotCount - 1))
        next[id] = heads[slot]
        prev[id] = -1
        if heads[slot] >= 0 { prev[Int(heads[slot])] = Int32(id) }
        heads[slot] = Int32(id)
        scheduledCount += 1
    }

    public mutating func cancel(_ id: Int) {
        guard deadline[id] != .max else { return }
        let slot = Int(deadline[id] & UInt64(slotCount - 1))
        let n = next[id], p = prev[id]
        if p >= 0 { next[Int(p)] = n } else { heads[slot] = n }
        if n >= 0 { prev[Int(n)] = p }
        deadline[id] = .max
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
            var id = heads[slot]
            while id >= 0 {
                let nextID = next[Int(id)]
                if deadline[Int(id)] <= target {
                    cancel(Int(id))
                    fire(Int(id))
                }
                id = nextID
            }
            // Timers scheduled by `fire` land after the tick being visited, not in a visited bucket.
            currentTick = tick
            tick += 1
            visited += 1
        }
        currentTick = target
    }
}
