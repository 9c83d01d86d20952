import NimbusDataplane

/// The schema of `report.json` (`ReplayReport.document`, written by `ReplayReport.json()`). Keys are
/// kebab-case; `load-balancers`, `vpn` and `map` exist only when the replay had load balancers, VPN
/// tunnels or `--map` hosts; every other key is always there.
public struct ReportJSON: Codable, Equatable, Sendable {
    public struct Packets: Codable, Equatable, Sendable {
        /// Packets read from the captures.
        public var `in`: UInt64
        /// Packets sent out of a port: forwarded ones and those the dataplane generated.
        public var out: UInt64
        public var dropped: UInt64
        /// Packets the dataplane took itself (WireGuard handshakes and keepalives, inner packets held for a
        /// handshake).
        public var consumed: UInt64
    }

    public struct Port: Codable, Equatable, Sendable {
        public var `in`: UInt64
        public var out: UInt64
        public var inBytes: UInt64
        public var outBytes: UInt64
        enum CodingKeys: String, CodingKey { case `in`, out, inBytes = "in-bytes", outBytes = "out-bytes" }
    }

    public struct Flows: Codable, Equatable, Sendable {
        public var created: UInt64
        public var expired: UInt64
        public var peak: UInt64
    }

    public struct NAT: Codable, Equatable, Sendable {
        public var mappingsCreated: UInt64
        public var peak: UInt64
        public var expired: UInt64
        /// The `nat-port-exhausted` drops again.
        public var portExhausted: UInt64
        enum CodingKeys: String, CodingKey {
            case mappingsCreated = "mappings-created", peak, expired, portExhausted = "port-exhausted"
        }
    }

    /// A load balancer's target at the end of the replay.
    public struct Target: Codable, Equatable, Sendable {
        /// `up`, `draining` or `down`.
        public var state: String
        public var flows: UInt64
        public var packets: UInt64
        public var bytes: UInt64
    }

    public struct Tunnel: Codable, Equatable, Sendable {
        public struct Handshakes: Codable, Equatable, Sendable {
            public var initiationsSent: Int
            public var completedAsInitiator: Int
            public var completedAsResponder: Int
            public var rekeys: Int
            public var retransmissions: Int
            public var givenUp: Int
            public var cookieRepliesSent: Int
            public var cookieRepliesReceived: Int
            enum CodingKeys: String, CodingKey {
                case initiationsSent = "initiations-sent", completedAsInitiator = "completed-as-initiator"
                case completedAsResponder = "completed-as-responder", rekeys, retransmissions, givenUp = "given-up"
                case cookieRepliesSent = "cookie-replies-sent", cookieRepliesReceived = "cookie-replies-received"
            }
        }

        public struct Transport: Codable, Equatable, Sendable {
            public var sent: Int
            public var received: Int
            public var keepalivesSent: Int
            public var keepalivesReceived: Int
            public var sessionsExpired: Int
            enum CodingKeys: String, CodingKey {
                case sent, received, keepalivesSent = "keepalives-sent", keepalivesReceived = "keepalives-received"
                case sessionsExpired = "sessions-expired"
            }
        }

        public var handshakes: Handshakes
        public var transport: Transport
        public var peers: [Peer]
    }

    public struct Peer: Codable, Equatable, Sendable {
        /// Base64, as `wg` shows it.
        public var publicKey: String
        /// `ADDRESS:PORT`; `null` while the peer has none.
        @ExplicitNull public var endpoint: String?
        public var session: Bool
        /// Capture time in seconds, as text with nine decimals; `null` before the first handshake.
        @ExplicitNull public var lastHandshake: String?
        enum CodingKeys: String, CodingKey {
            case publicKey = "public-key", endpoint, session, lastHandshake = "last-handshake"
        }
    }

    public struct MappedHost: Codable, Equatable, Sendable {
        public var instance: String
        /// Frames the host sent (entered as the instance).
        public var fromHost: Int
        /// Frames sent to the host.
        public var toHost: Int
        enum CodingKeys: String, CodingKey { case instance, fromHost = "from-host", toHost = "to-host" }
    }

    public struct Map: Codable, Equatable, Sendable {
        /// By host address.
        public var hosts: [String: MappedHost]
        public var checksumsRecomputed: Int
        enum CodingKeys: String, CodingKey { case hosts, checksumsRecomputed = "checksums-recomputed" }
    }

    public var packets: Packets
    /// Every drop reason by name, zero or not.
    public var drops: [String: UInt64]
    /// By port name.
    public var ports: [String: Port]
    public var flows: Flows
    public var nat: NAT
    /// By load balancer, then by target instance.
    public var loadBalancers: [String: [String: Target]]?
    /// By tunnel (`SITE/NAME` with several sites).
    public var vpn: [String: Tunnel]?
    public var map: Map?
    public var workers: Int
    /// Wall-clock seconds of the replay, to the microsecond (varies run to run).
    public var seconds: Double
    /// Packets in per second, in millions, to three decimals (varies run to run).
    public var mpps: Double

    enum CodingKeys: String, CodingKey {
        case packets, drops, ports, flows, nat, loadBalancers = "load-balancers", vpn, map, workers, seconds, mpps
    }

    public init(packets: Packets, drops: [String: UInt64], ports: [String: Port], flows: Flows, nat: NAT,
                loadBalancers: [String: [String: Target]]? = nil, vpn: [String: Tunnel]? = nil, map: Map? = nil,
                workers: Int, seconds: Double, mpps: Double) {
        self.packets = packets
        self.drops = drops
        self.ports = ports
        self.flows = flows
        self.nat = nat
        self.loadBalancers = loadBalancers
        self.vpn = vpn
        self.map = map
        self.workers = workers
        self.seconds = seconds
        self.mpps = mpps
    }
}
