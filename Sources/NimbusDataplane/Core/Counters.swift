/// Per-port traffic counters.
public struct PortCounters: Sendable, Equatable {
    public var inPackets: UInt64 = 0
    public var outPackets: UInt64 = 0
    public var inBytes: UInt64 = 0
    public var outBytes: UInt64 = 0
    public init() {}
}

/// All counters of one dataplane worker. Plain arrays indexed by drop reason and port, sized once, so
/// counting is an add at an index and never allocates.
public struct Counters: Sendable {
    public private(set) var drops: [UInt64]
    public private(set) var ports: [PortCounters]
    public var packetsIn: UInt64 = 0
    public var packetsOut: UInt64 = 0
    public var packetsDropped: UInt64 = 0
    /// Packets the dataplane took itself: WireGuard handshakes and keepalives, packets held for a tunnel.
    public var packetsConsumed: UInt64 = 0

    public init(portCount: Int) {
        drops = Array(repeating: 0, count: DropReason.count)
        ports = Array(repeating: PortCounters(), count: portCount)
    }

    /// Every figure back to zero, in place.
    public mutating func reset() {
        for i in drops.indices { drops[i] = 0 }
        for i in ports.indices { ports[i] = PortCounters() }
        packetsIn = 0
        packetsOut = 0
        packetsDropped = 0
        packetsConsumed = 0
    }

    public mutating func countDrop(_ reason: DropReason) {
        drops[Int(reason.rawValue)] &+= 1
        packetsDropped &+= 1
    }

    public mutating func countConsumed() { packetsConsumed &+= 1 }

    public mutating func countIn(port: UInt16, bytes: Int) {
        ports[Int(port)].inPackets &+= 1
        ports[Int(port)].inBytes &+= UInt64(bytes)
        packetsIn &+= 1
    }

    public mutating func countOut(port: UInt16, bytes: Int) {
        ports[Int(port)].outPackets &+= 1
        ports[Int(port)].outBytes &+= UInt64(bytes)
        packetsOut &+= 1
    }

    public func drops(_ reason: DropReason) -> UInt64 { drops[Int(reason.rawValue)] }

    /// Adds another site's counters into these, its port `k` counted as port `portMap[k]`.
    public mutating func merge(_ other: Counters, portMap: [Int]) {
        for i in drops.indices { drops[i] &+= other.drops[i] }
        for (k, p) in other.ports.enumerated() where k < portMap.count && portMap[k] < ports.count {
            let g = portMap[k]
            ports[g].inPackets &+= p.inPackets
            ports[g].outPackets &+= p.outPackets
            ports[g].inBytes &+= p.inBytes
            ports[g].outBytes &+= p.outBytes
        }
        packetsIn &+= other.packetsIn
        packetsOut &+= other.packetsOut
        packetsDropped &+= other.packetsDropped
        packetsConsumed &+= other.packetsConsumed
    }

    /// Adds another worker's counters into these (for reports).
    public mutating func merge(_ other: Counters) {
        for i in drops.indices { drops[i] &+= other.drops[i] }
        for i in ports.indices where i < other.ports.count {
            ports[i].inPackets &+= other.ports[i].inPackets
            ports[i].outPackets &+= other.ports[i].outPackets
            ports[i].inBytes &+= other.ports[i].inBytes
            ports[i].outBytes &+= other.ports[i].outBytes
        }
        packetsIn &+= other.packetsIn
        packetsOut &+= other.packetsOut
        packetsDropped &+= other.packetsDropped
        packetsConsumed &+= other.packetsConsumed
    }
}
