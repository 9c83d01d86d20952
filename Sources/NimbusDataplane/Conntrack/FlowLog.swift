/// A flow as a flow log reports it (VPC flow logs): who talked to whom, how much, when, and how it ended.
public struct FlowRecord: Sendable, Equatable {
    public enum End: String, Sendable {
        /// Idle past its timeout.
        case expired
        /// Closed (RST, or FIN both ways) and replaced by a new connection on the same tuple.
        case closed
        /// Still open when the replay ended.
        case open
    }

    public var protocolNumber: UInt8
    public var source: UInt32
    public var sourcePort: UInt16
    public var destination: UInt32
    public var destinationPort: UInt16
    public var start: UInt64
    public var last: UInt64
    public var packets: UInt64
    public var bytes: UInt64
    public var end: End

    public init(_ e: FlowEntry, end: End) {
        let k = e.key
        // Report the flow from its originator's side.
        if e.originIsB {
            source = k.addressB.value; sourcePort = k.portB; destination = k.addressA.value; destinationPort = k.portA
        } else {
            source = k.addressA.value; sourcePort = k.portA; destination = k.addressB.value; destinationPort = k.portB
        }
        protocolNumber = k.protocolNumber
        start = e.created
        last = e.lastSeen
        packets = UInt64(e.packetsOriginal) + UInt64(e.packetsReply)
        bytes = e.bytes
        self.end = end
    }
}

/// Ended flows waiting to be written; drained by the I/O side after each batch. Off unless enabled.
public struct FlowLog: Sendable {
    public var enabled = false
    public private(set) var records: [FlowRecord] = []

    public init() {}

    public mutating func append(_ r: FlowRecord) { records.append(r) }
    public mutating func clear() { records.removeAll(keepingCapacity: true) }
}
