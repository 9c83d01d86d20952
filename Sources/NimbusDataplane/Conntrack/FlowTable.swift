import CNimbusShims
/// A connection's state in the flow table: one cache line, found through the table's slots by index,
/// so its index is stable for timers while the slots move on deletion.
public struct FlowEntry: Sendable {
    public var key: FlowKey
    /// Capture times (ns) of the first and the latest packet.
    public var created: UInt64
    public var lastSeen: UInt64
    public var bytes: UInt64
    public var packetsOriginal: UInt32
    public var packetsReply: UInt32
    public var state: FlowState
    /// True when the originator is endpoint B of the canonical key.
    public var originIsB: Bool
    public var flags: UInt8
    /// The port the flow's first packet came in on and went out of.
    public var originPort: UInt16
    public var responderPort: UInt16

    public static let finOriginal: UInt8 = 1
    public static let finReply: UInt8 = 2
    public static let seenReply: UInt8 = 4
}

/// The tracked state of a flow, TCP states after Linux conntrack; UDP, ICMP and others use the first two.
public enum FlowState: UInt8, Sendable {
    case synSent, synReceived, established, finWait, timeWait, closed
    /// UDP, ICMP, other protocols: seen one way, then both ways.
    case unreplied, replied
}

/// An open-addressing hash table of flows with a fixed capacity (`~Copyable`, allocated once).
///
/// Slots hold the canonical key and an entry index; entries live in a separate pool so their indices
/// stay put (timers refer to them) while deletion shifts slots back (linear probing with backward-shift
/// deletion: no tombstones, probe lengths stay short). Slot memory comes zeroed from `calloc`, so the
/// kernel commits pages only as flows arrive.
public struct FlowTable: ~Copyable {
    public let capacity: Int
    private let slotMask: Int
    /// A probe reads a key and its entry index from one cache line.
    private struct Slot {
        var key: FlowKey
        /// Entry index + 1; 0 = empty.
        var index: UInt32
    }
    private let slots: UnsafeMutablePointer<Slot>
    public let entries: UnsafeMutablePointer<FlowEntry>
    private var spare: FreeIndices
    public private(set) var count = 0
    public private(set) var peak = 0

    /// - Parameter capacity: the most flows the table holds at once.
    public init(capacity: Int) {
        precondition(capacity > 0 && capacity < Int(UInt32.max), "flow table capacity out of range")
        self.capacity = capacity
        var slotCount = 1024
        while slotCount < capacity * 2 { slotCount <<= 1 }
        slotMask = slotCount - 1
        slots = calloc(slotCount, MemoryLayout<Slot>.stride)!.bindMemory(to: Slot.self, capacity: slotCount)
        entries = .allocate(capacity: capacity)
        spare = FreeIndices(capacity: capacity)
    }

    deinit {
        free(slots)
        entries.deallocate()
    }

    public var isFull: Bool { spare.available == 0 }

    /// Starts loading the home slot of `key` into the cache (a later `find` then rarely waits on memory).
    @inline(__always)
    public func prefetchSlot(_ key: FlowKey) {
        nimbus_prefetch(slots + (Int(truncatingIfNeeded: key.hash) & slotMask))
    }

    /// Starts loading the entry of `key` when its home slot (prefetched before) holds it.
    @inline(__always)
    public func prefetchEntry(_ key: FlowKey) {
        let s = Int(truncatingIfNeeded: key.hash) & slotMask
        let idx = slots[s].index
        if idx != 0 && slots[s].key == key { nimbus_prefetch(entries + Int(idx - 1)) }
    }

    /// The entry index of `key`, if tracked.
    @inline(__always)
    public func find(_ key: FlowKey) -> Int? {
        var s = Int(truncatingIfNeeded: key.hash) & slotMask
        while true {
            let idx = slots[s].index
            if idx == 0 { return nil }
            if slots[s].key == key { return Int(idx - 1) }
            s = (s + 1) & slotMask
        }
    }

    /// Inserts `key` (which must not be present) and returns its new entry index; nil when full. The
    /// entry's fields other than `key` are the caller's to set.
    public mutating func insert(_ key: FlowKey) -> Int? {
        guard let e = spare.take() else { return nil }
        var s = Int(truncatingIfNeeded: key.hash) & slotMask
        while slots[s].index != 0 { s = (s + 1) & slotMask }
        slots[s].key = key
        slots[s].index = e + 1
        entries[Int(e)].key = key
        count += 1
        if count > peak { peak = count }
        return Int(e)
    }

    /// Removes the entry at `index`.
    public mutating func remove(_ index: Int) {
        let key = entries[index].key
        var s = Int(truncatingIfNeeded: key.hash) & slotMask
        while slots[s].index != UInt32(index + 1) {
            if slots[s].index == 0 { return }  // not present: nothing to do
            s = (s + 1) & slotMask
        }
        // Backward-shift deletion: pull later members of the probe run into the hole.
        var hole = s
        var j = (s + 1) & slotMask
        while slots[j].index != 0 {
            let home = Int(truncatingIfNeeded: slots[j].key.hash) & slotMask
            // Move j into the hole when its home is not in the cyclic range (hole, j].
            let distHome = (j - home) & slotMask
            let distHole = (j - hole) & slotMask
            if distHome >= distHole {
                slots[hole].key = slots[j].key
                slots[hole].index = slots[j].index
                hole = j
            }
            j = (j + 1) & slotMask
        }
        slots[hole].index = 0
        slots[hole].key = .empty
        spare.give(UInt32(index))
        count -= 1
    }

    /// Calls `body` with the index of every live entry (reports and flow logs; not the hot path).
    public func forEach(_ body: (Int) -> Void) {
        for s in 0...slotMask where slots[s].index != 0 { body(Int(slots[s].index - 1)) }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
