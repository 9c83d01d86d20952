/// A connection's state in the flow table: one cache line, found through the table's slots by index,
/// so its index is stable for timers while the slots move on deletion.
public struct FlowEntry: Sendable, BitwiseCopyable {
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

    /// The entry of a flow under `key` with nothing counted yet (benchmarks and tests fill tables with it).
    public init(key: FlowKey) {
        self.init(key: key, created: 0, lastSeen: 0, bytes: 0, packetsOriginal: 0, packetsReply: 0, state: .unreplied,
                  originIsB: false, flags: 0, originPort: 0, responderPort: 0)
    }

    init(key: FlowKey, created: UInt64, lastSeen: UInt64, bytes: UInt64, packetsOriginal: UInt32, packetsReply: UInt32,
         state: FlowState, originIsB: Bool, flags: UInt8, originPort: UInt16, responderPort: UInt16) {
        self.key = key
        self.created = created
        self.lastSeen = lastSeen
        self.bytes = bytes
        self.packetsOriginal = packetsOriginal
        self.packetsReply = packetsReply
        self.state = state
        self.originIsB = originIsB
        self.flags = flags
        self.originPort = originPort
        self.responderPort = responderPort
    }

    public static let finOriginal: UInt8 = 1
    public static let finReply: UInt8 = 2
    public static let seenReply: UInt8 = 4
}

/// The tracked state of a flow, TCP states after Linux conntrack; UDP, ICMP and others use the first two.
public enum FlowState: UInt8, Sendable, BitwiseCopyable {
    case synSent, synReceived, established, finWait, timeWait, closed
    /// UDP, ICMP, other protocols: seen one way, then both ways.
    case unreplied, replied
}
