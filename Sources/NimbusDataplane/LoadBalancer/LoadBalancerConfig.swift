import NimbusWire

/// A target's health, as events set it.
public enum TargetHealth: UInt8, Sendable {
    /// Takes new flows.
    case up
    /// Takes no new flows; keeps the flows it has.
    case draining
    /// Takes nothing: its flows are dropped (`lb-target-down`) so clients reconnect to a healthy one.
    case down
}

/// A load balancer as the dataplane runs it.
public struct LoadBalancerConfig: Sendable {
    public struct Target: Sendable {
        /// The instance's dataplane port.
        public var port: UInt16
        public var weight: Int
        public init(port: UInt16, weight: Int = 1) {
            self.port = port
            self.weight = weight
        }
    }

    public struct Listener: Sendable {
        public var protocolNumber: UInt8
        public var port: UInt16
        public var targetPort: UInt16
        /// Consistent hashing on the client address (and port, with `hashPort`) instead of round-robin.
        public var sourceHash: Bool
        public var hashPort: Bool
        public var targets: [Target]
        public init(protocolNumber: UInt8, port: UInt16, targetPort: UInt16, sourceHash: Bool = false,
                    hashPort: Bool = false, targets: [Target]) {
            self.protocolNumber = protocolNumber
            self.port = port
            self.targetPort = targetPort
            self.sourceHash = sourceHash
            self.hashPort = hashPort
            self.targets = targets
        }
    }

    public var name: String
    public var vip: IPv4Address
    public var listeners: [Listener]

    public init(name: String, vip: IPv4Address, listeners: [Listener]) {
        self.name = name
        self.vip = vip
        self.listeners = listeners
    }
}

/// Per-target traffic counters of a load balancer.
public struct TargetCounters: Sendable, Equatable {
    public var flows: UInt64 = 0
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
    public init() {}
}
