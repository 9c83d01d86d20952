import NimbusDataplane
import NimbusWire

// The validated topology. Every value here has passed `TopologyLoader`'s checks: names are unique,
// references resolve, addresses sit where they should. Times are nanoseconds in `UInt64`, the unit
// of capture timestamps, so the dataplane compares them with its clock without conversion.

/// A whole topology file, validated.
public struct Topology: Sendable {
    /// The path or name the topology was loaded from, as diagnostics name it.
    public var file: String
    /// The site name; ports are `NAME/INSTANCE` when several topologies run together.
    public var name: String
    /// The source MAC of every frame the dataplane sends. Default `02:00:00:00:00:01`.
    public var routerMAC: MACAddress
    public var conntrack: ConntrackSettings
    public var internet: InternetSettings
    public var networks: [Network]
    public var securityGroups: [SecurityGroup]
    /// Top-level `network-acls`, in file order; subnets name them in `Subnet.networkACL`.
    public var networkACLs: [NetworkACL]
    public var instances: [Instance]
    public var loadBalancers: [LoadBalancer]
    public var vpnTunnels: [VPNTunnel]
    /// Sorted by time; events at the same time keep their file order.
    public var events: [Event]

    public static let defaultRouterMAC = MACAddress(0x02, 0x00, 0x00, 0x00, 0x00, 0x01)

    public init(
        file: String, name: String, routerMAC: MACAddress = Topology.defaultRouterMAC,
        conntrack: ConntrackSettings = ConntrackSettings(), internet: InternetSettings = InternetSettings(),
        networks: [Network] = [], securityGroups: [SecurityGroup] = [], networkACLs: [NetworkACL] = [],
        instances: [Instance] = [], loadBalancers: [LoadBalancer] = [], vpnTunnels: [VPNTunnel] = [],
        events: [Event] = []
    ) {
        self.file = file
        self.name = name
        self.routerMAC = routerMAC
        self.conntrack = conntrack
        self.internet = internet
        self.networks = networks
        self.securityGroups = securityGroups
        self.networkACLs = networkACLs
        self.instances = instances
        self.loadBalancers = loadBalancers
        self.vpnTunnels = vpnTunnels
        self.events = events
    }

    public func network(named name: String) -> Network? { networks.first { $0.name == name } }
    public func securityGroup(named name: String) -> SecurityGroup? { securityGroups.first { $0.name == name } }
    public func networkACL(named name: String) -> NetworkACL? { networkACLs.first { $0.name == name } }
    public func instance(named name: String) -> Instance? { instances.first { $0.name == name } }
    public func loadBalancer(named name: String) -> LoadBalancer? { loadBalancers.first { $0.name == name } }
    public func vpnTunnel(named name: String) -> VPNTunnel? { vpnTunnels.first { $0.name == name } }
}

/// How connection tracking treats TCP that starts without a SYN.
public enum TCPPickup: String, Sendable, Hashable {
    /// Only a SYN opens a flow (pf); mid-stream packets are `ct-invalid`.
    case strict
    /// Mid-stream TCP that a rule allows opens a flow (Linux, AWS).
    case loose
}

/// Top-level `conntrack:`.
public struct ConntrackSettings: Sendable, Hashable {
    /// Key `tcp-pickup`; default `.strict`.
    public var tcpPickup: TCPPickup
    /// Key `max-flows`: the flow-table capacity, beyond which new flows drop as `ct-table-full`.
    public var maxFlows: Int

    public init(tcpPickup: TCPPickup = .strict, maxFlows: Int = 1_000_000) {
        self.tcpPickup = tcpPickup
        self.maxFlows = maxFlows
    }
}

/// Top-level `internet:`: the uplink side.
public struct InternetSettings: Sendable, Hashable {
    /// Destination MAC of frames sent out the `internet` port. Default `02:00:00:00:ff:fe`.
    public var upstreamMAC: MACAddress
    /// Hosts beyond the uplink, used by `nimbus up`.
    public var hosts: [InternetHost]

    public static let defaultUpstreamMAC = MACAddress(0x02, 0x00, 0x00, 0x00, 0xFF, 0xFE)

    public init(upstreamMAC: MACAddress = InternetSettings.defaultUpstreamMAC, hosts: [InternetHost] = []) {
        self.upstreamMAC = upstreamMAC
        self.hosts = hosts
    }
}

/// A host on the internet side, given an address and a link by `nimbus up`.
public struct InternetHost: Sendable, Hashable {
    public var name: String
    public var ip: IPv4Address

    public init(name: String, ip: IPv4Address) {
        self.name = name
        self.ip = ip
    }
}

/// A virtual network (VPC): one CIDR, cut into subnets.
public struct Network: Sendable, Hashable {
    public var name: String
    public var cidr: IPv4CIDR
    public var mode: NetworkMode
    public var subnets: [Subnet]
    /// Present only in nat-private networks that declare `nat:`.
    public var nat: NATGateway?

    public init(name: String, cidr: IPv4CIDR, mode: NetworkMode, subnets: [Subnet], nat: NATGateway? = nil) {
        self.name = name
        self.cidr = cidr
        self.mode = mode
        self.subnets = subnets
        self.nat = nat
    }

    public func subnet(named name: String) -> Subnet? { subnets.first { $0.name == name } }
}

/// A subnet of a network; instances attach to one.
public struct Subnet: Sendable, Hashable {
    public var name: String
    public var cidr: IPv4CIDR
    /// The subnet's first host; the dataplane answers ARP for it.
    public var gateway: IPv4Address
    /// Key `network-acl`: the name of the `NetworkACL` that filters traffic crossing the subnet's
    /// boundary; `nil` (key omitted) means no ACL, so everything is allowed at the subnet level.
    public var networkACL: String?

    public init(name: String, cidr: IPv4CIDR, networkACL: String? = nil) {
        self.name = name
        self.cidr = cidr
        self.gateway = cidr.firstHost
        self.networkACL = networkACL
    }
}

/// A network's `nat:` block.
public struct NATGateway: Sendable, Hashable {
    public var publicIPs: [IPv4Address]
    /// The source ports NAT may allocate; default `1024...65535`.
    public var ports: ClosedRange<UInt16>
    public var timeouts: NATTimeouts
    public var filtering: NATFiltering

    public init(
        publicIPs: [IPv4Address], ports: ClosedRange<UInt16> = 1024...65535,
        timeouts: NATTimeouts = NATTimeouts(), filtering: NATFiltering = .addressAndPortDependent
    ) {
        self.publicIPs = publicIPs
        self.ports = ports
        self.timeouts = timeouts
        self.filtering = filtering
    }
}

/// Idle timeouts of NAT mappings, in nanoseconds.
public struct NATTimeouts: Sendable, Hashable {
    /// Nanoseconds; default 7440 s (RFC 5382 REQ-5).
    public var tcpEstablished: UInt64
    /// Nanoseconds; default 240 s (RFC 5382: 4 minutes for partially open or closing connections).
    public var tcpTransitory: UInt64
    /// Nanoseconds; default 300 s (RFC 4787 REQ-5).
    public var udp: UInt64
    /// Nanoseconds; default 60 s (RFC 5508 REQ-1).
    public var icmp: UInt64

    public init(
        tcpEstablished: UInt64 = 7440 * nanosecondsPerSecond, tcpTransitory: UInt64 = 240 * nanosecondsPerSecond,
        udp: UInt64 = 300 * nanosecondsPerSecond, icmp: UInt64 = 60 * nanosecondsPerSecond
    ) {
        self.tcpEstablished = tcpEstablished
        self.tcpTransitory = tcpTransitory
        self.udp = udp
        self.icmp = icmp
    }
}

/// Nanoseconds in one second, for building and reading the model's `UInt64` times.
public let nanosecondsPerSecond: UInt64 = 1_000_000_000

/// Which inbound packets a NAT mapping lets through (RFC 4787 section 5).
public enum NATFiltering: String, Sendable, Hashable {
    /// Only from the address and port the mapping was opened to (the default, as in most clouds).
    case addressAndPortDependent = "address-and-port-dependent"
    /// From anyone, once the mapping exists ("full cone").
    case endpointIndependent = "endpoint-independent"
}

/// A named set of stateful allow rules (AWS semantics).
public struct SecurityGroup: Sendable, Hashable {
    public var name: String
    public var ingress: [SecurityRule]
    /// `nil` (key omitted) allows all egress; `[]` denies all.
    public var egress: [SecurityRule]?

    public init(name: String, ingress: [SecurityRule], egress: [SecurityRule]? = nil) {
        self.name = name
        self.ingress = ingress
        self.egress = egress
    }
}

/// An allow rule. Ports apply to TCP/UDP only and ICMP type/code to ICMP/ICMPv6 only.
public struct SecurityRule: Sendable, Hashable {
    public var `protocol`: RuleProtocol
    /// Empty means every port.
    public var ports: [ClosedRange<UInt16>]
    public var icmpType: UInt8?
    public var icmpCode: UInt8?
    /// The remote side: `source` in an ingress rule, `destination` in an egress rule.
    public var peer: RulePeer

    public init(
        protocol: RuleProtocol, ports: [ClosedRange<UInt16>] = [], icmpType: UInt8? = nil,
        icmpCode: UInt8? = nil, peer: RulePeer
    ) {
        self.protocol = `protocol`
        self.ports = ports
        self.icmpType = icmpType
        self.icmpCode = icmpCode
        self.peer = peer
    }
}

/// An IP protocol, or all of them.
public enum RuleProtocol: Sendable, Hashable, CustomStringConvertible {
    case all
    /// The IP protocol number (tcp 6, udp 17, icmp 1, icmpv6 58).
    case number(UInt8)

    public static let tcp = RuleProtocol.number(6)
    public static let udp = RuleProtocol.number(17)
    public static let icmp = RuleProtocol.number(1)
    public static let icmpv6 = RuleProtocol.number(58)

    public var description: String {
        switch self {
        case .all: "all"
        case .number(6): "tcp"
        case .number(17): "udp"
        case .number(1): "icmp"
        case .number(58): "icmpv6"
        case .number(let n): String(n)
        }
    }
}

/// The other side of a rule.
public enum RulePeer: Sendable, Hashable, CustomStringConvertible {
    case cidr(IPCIDR)
    /// `sg:NAME`: the private addresses of that group's members.
    case group(String)

    public var description: String {
        switch self {
        case .cidr(let c): c.description
        case .group(let g): "sg:\(g)"
        }
    }
}

/// A named, stateless set of numbered allow and deny rules that subnets attach with `network-acl`
/// (AWS network-ACL semantics).
///
/// Each list is evaluated in rule-number order and the first matching rule decides; a packet that
/// matches none is denied. `inbound` filters traffic entering a subnet from outside it, `outbound`
/// traffic leaving it; traffic between two addresses of the same subnet is not filtered. Being
/// stateless, an ACL does not let replies through by itself: the return traffic needs its own rules.
public struct NetworkACL: Sendable, Hashable {
    public var name: String
    /// Sorted by `ACLRule.number`, ascending; rule numbers are unique within the list.
    public var inbound: [ACLRule]
    /// Sorted by `ACLRule.number`, ascending; rule numbers are unique within the list.
    public var outbound: [ACLRule]

    /// Sorts `inbound` and `outbound` by rule number (stably, should two share a number).
    public init(name: String, inbound: [ACLRule], outbound: [ACLRule]) {
        self.name = name
        self.inbound = NetworkACL.sortedByNumber(inbound)
        self.outbound = NetworkACL.sortedByNumber(outbound)
    }

    /// The highest rule number a file may use (AWS reserves 32767 and above).
    public static let maxRuleNumber = 32766

    private static func sortedByNumber(_ rules: [ACLRule]) -> [ACLRule] {
        rules.enumerated().sorted { ($0.element.number, $0.offset) < ($1.element.number, $1.offset) }.map(\.element)
    }
}

/// What a matching network-ACL rule does with the packet.
public enum ACLAction: String, Sendable, Hashable {
    case allow
    case deny
}

/// One numbered rule of a `NetworkACL`. Ports apply to TCP/UDP only and ICMP type/code to ICMP/ICMPv6
/// only, as in `SecurityRule`; the peer is always a CIDR (no `sg:NAME`).
public struct ACLRule: Sendable, Hashable {
    /// Key `rule`: 1...32766; lower numbers are evaluated first.
    public var number: Int
    public var action: ACLAction
    public var `protocol`: RuleProtocol
    /// Destination ports; empty means every port.
    public var ports: [ClosedRange<UInt16>]
    /// `nil` means every type.
    public var icmpType: UInt8?
    /// `nil` means every code.
    public var icmpCode: UInt8?
    /// The remote side: `source` in an inbound rule, `destination` in an outbound rule.
    public var peer: IPCIDR

    public init(
        number: Int, action: ACLAction, protocol: RuleProtocol, ports: [ClosedRange<UInt16>] = [],
        icmpType: UInt8? = nil, icmpCode: UInt8? = nil, peer: IPCIDR
    ) {
        self.number = number
        self.action = action
        self.protocol = `protocol`
        self.ports = ports
        self.icmpType = icmpType
        self.icmpCode = icmpCode
        self.peer = peer
    }
}

/// A virtual machine: one port of the dataplane.
public struct Instance: Sendable, Hashable {
    /// Also the name of the instance's port.
    public var name: String
    public var network: String
    public var subnet: String
    public var ip: IPv4Address
    /// When the file gives none: `02:00` followed by the four bytes of `ip`.
    public var mac: MACAddress
    /// An elastic (1:1) public address; nat-private networks only.
    public var publicIP: IPv4Address?
    /// `nil` means the network's default group (ingress from its own members, all egress).
    public var securityGroups: [String]?

    public init(
        name: String, network: String, subnet: String, ip: IPv4Address, mac: MACAddress? = nil,
        publicIP: IPv4Address? = nil, securityGroups: [String]? = nil
    ) {
        self.name = name
        self.network = network
        self.subnet = subnet
        self.ip = ip
        self.mac = mac ?? Instance.derivedMAC(for: ip)
        self.publicIP = publicIP
        self.securityGroups = securityGroups
    }

    /// The MAC an instance gets when none is given: locally administered, unique per address.
    public static func derivedMAC(for ip: IPv4Address) -> MACAddress {
        MACAddress(value: 0x0200_0000_0000 | UInt64(ip.value))
    }
}

/// An L4 load balancer: a VIP and its listeners.
public struct LoadBalancer: Sendable, Hashable {
    public var name: String
    /// Public (reached from the internet side) or private (an internal LB inside a subnet).
    public var vip: IPv4Address
    public var listeners: [Listener]

    public init(name: String, vip: IPv4Address, listeners: [Listener]) {
        self.name = name
        self.vip = vip
        self.listeners = listeners
    }
}

/// The transport a listener balances.
public enum ListenerProtocol: String, Sendable, Hashable {
    case tcp, udp
}

/// How a listener picks a target for a new flow.
public enum LBAlgorithm: String, Sendable, Hashable {
    /// Next target per new flow, in proportion to weights.
    case roundRobin = "round-robin"
    /// Consistent hashing on the client address (and port with `hashPort`).
    case sourceHash = "source-hash"
}

/// One `protocol`/`port` of a load balancer and the instances behind it.
public struct Listener: Sendable, Hashable {
    public var `protocol`: ListenerProtocol
    public var port: UInt16
    /// The port on the target; defaults to `port`.
    public var targetPort: UInt16
    public var algorithm: LBAlgorithm
    /// Key `hash-port`: include the client port in the source hash. Only with `.sourceHash`.
    public var hashPort: Bool
    public var targets: [LBTarget]

    public init(
        protocol: ListenerProtocol, port: UInt16, targetPort: UInt16? = nil, algorithm: LBAlgorithm = .roundRobin,
        hashPort: Bool = false, targets: [LBTarget]
    ) {
        self.protocol = `protocol`
        self.port = port
        self.targetPort = targetPort ?? port
        self.algorithm = algorithm
        self.hashPort = hashPort
        self.targets = targets
    }
}

/// An instance behind a listener and its share of new flows.
public struct LBTarget: Sendable, Hashable {
    /// An instance name.
    public var instance: String
    /// 1...255; default 1.
    public var weight: Int

    public init(instance: String, weight: Int = 1) {
        self.instance = instance
        self.weight = weight
    }
}

/// An IPv4 address and UDP port, written `a.b.c.d:port`.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    public var ip: IPv4Address
    public var port: UInt16

    public init(ip: IPv4Address, port: UInt16) {
        self.ip = ip
        self.port = port
    }

    public var description: String { "\(ip):\(port)" }
}

/// A WireGuard interface attached to a network.
public struct VPNTunnel: Sendable, Hashable {
    public var name: String
    public var network: String
    /// Our public UDP endpoint.
    public var listen: Endpoint
    /// 32 bytes (Curve25519), decoded from base64.
    public var privateKey: [UInt8]
    public var peers: [VPNPeer]
    /// The largest inner packet sent as one datagram; larger ones are fragmented, or refused with ICMP
    /// fragmentation-needed when they may not be.
    public var mtu: Int

    public init(name: String, network: String, listen: Endpoint, privateKey: [UInt8], peers: [VPNPeer],
                mtu: Int = VPNTunnelConfig.defaultMTU) {
        self.name = name
        self.network = network
        self.listen = listen
        self.privateKey = privateKey
        self.peers = peers
        self.mtu = mtu
    }
}

/// The far end of a tunnel, as in a `[Peer]` section of a WireGuard configuration.
public struct VPNPeer: Sendable, Hashable {
    /// 32 bytes.
    public var publicKey: [UInt8]
    /// 32 bytes when present.
    public var presharedKey: [UInt8]?
    /// Absent for a peer that only connects in.
    public var endpoint: Endpoint?
    /// Remote prefixes routed into the tunnel, and the only sources accepted from it.
    public var allowedIPs: [IPCIDR]
    /// Seconds, 1...65535.
    public var persistentKeepalive: Int?

    public init(
        publicKey: [UInt8], presharedKey: [UInt8]? = nil, endpoint: Endpoint? = nil, allowedIPs: [IPCIDR],
        persistentKeepalive: Int? = nil
    ) {
        self.publicKey = publicKey
        self.presharedKey = presharedKey
        self.endpoint = endpoint
        self.allowedIPs = allowedIPs
        self.persistentKeepalive = persistentKeepalive
    }
}

/// A change applied at a point in capture time (replay only).
public struct Event: Sendable, Hashable {
    /// Nanoseconds from the start of the capture.
    public var at: UInt64
    public var action: EventAction

    public init(at: UInt64, action: EventAction) {
        self.at = at
        self.action = action
    }
}

/// What an event changes.
public enum EventAction: Sendable, Hashable {
    /// Changes the state of `instance` in every listener of `loadBalancer` that targets it.
    case setTarget(loadBalancer: String, instance: String, state: TargetState)
}

/// A load-balancer target's health, as events set it.
public enum TargetState: String, Sendable, Hashable {
    case up, down
    /// Keeps existing flows, takes no new ones.
    case draining
}
