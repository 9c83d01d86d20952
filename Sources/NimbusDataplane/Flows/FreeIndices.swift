/// The free entry indices of a fixed-capacity pool, handed out lowest-first while the pool is fresh and
/// then most-recently-freed first. Never-used indices are not listed up front: a pool sized for a million
/// entries costs nothing until they are used (listing them all touched 4 MB per table at start-up).
public struct FreeIndices: ~Copyable {
    private let freed: UnsafeMutablePointer<UInt32>
    private var freedCount = 0
    /// Indices below this have been handed out at least once.
    private var fresh = 0
    public let capacity: Int

    public init(capacity: Int) {
        self.capacity = capacity
        freed = .allocate(capacity: max(1, capacity))
    }

    deinit { freed.deallocate() }

    /// Indices below this have been handed out at least once.
    public var highWater: Int { fresh }

    /// Takes every index back, as if new.
    public mutating func reset() {
        freedCount = 0
        fresh = 0
    }

    /// How many indices can still be taken.
    public var available: Int { freedCount + capacity - fresh }

    /// An index no one holds, or nil when all are taken.
    @inline(__always)
    public mutating func take() -> UInt32? {
        if freedCount > 0 {
            freedCount -= 1
            return freed[freedCount]
        }
        guard fresh < capacity else { return nil }
        fresh += 1
        return UInt32(fresh - 1)
    }

    /// Gives back an index taken earlier.
    @inline(__always)
    public mutating func give(_ index: UInt32) {
        freed[freedCount] = index
        freedCount += 1
    }
}
