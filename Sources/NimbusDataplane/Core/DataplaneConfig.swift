import NimbusVPN
import NimbusWire

/// How a network's instances reach the internet (the topology's `mode`).
public enum NetworkMode: String, Sendable, Hashable {
    /// Private addresses behind the network's NAT gateway (plus optional elastic IPs).
    case natPrivate = "nat-private"
    /// The network's CIDR is public and instance addresses are routed as they are.
    case publicIP = "public-ip"
}

/// The compiled, validated description of one site that the dataplane runs. It knows nothing of YAML:
/// `NimbusTopology` builds it from a topology file, tests build it by hand.
public struct DataplaneConfig: Sendable {
    public struct Network: Sendable {
        public var name: String
        public var cidr: IPv4CIDR
        public var mode: NetworkMode
        public init(name: String, cidr: IPv4CIDR, mode: NetworkMode) {
            self.name = name
            self.cidr = cidr
            self.mode = mode
        }
    }

    public struct Subnet: Sendable {
        public var name: String
        public var network: Int
        public var cidr: IPv4CIDR
        /// Index into `DataplaneConfig.networkACLs`, when the subnet has a network ACL.
        public var networkACL: Int?
        /// The subnet's first host: the router's address in it.
        public var gateway: IPv4Address { cidr.firstHost }
        public init(name: String, network: Int, cidr: IPv4CIDR, networkACL: Int? = nil) {
            self.name = name
            self.network = network
            self.cidr = cidr
            self.networkACL = networkACL
        }
    }

    /// A port of the dataplane. Port 0 is always the internet uplink; the others are instances.
    public struct Port: Sendable {
        public var name: String
        /// The MAC of the machine on the other end of the port (instance MAC, or the upstream router).
        public var peerMAC: MACAddress
        /// The instance's address (its private address in a nat-private network); unused for the uplink.
        public var ip: IPv4Address
        public var subnet: Int
        public var network: Int
        public var publicIP: IPv4Address?

        public init(name: String, peerMAC: MACAddress, ip: IPv4Address, subnet: Int, network: Int,
                    publicIP: IPv4Address? = nil) {
            self.name = name
            self.peerMAC = peerMAC
            self.ip = ip
            self.subnet = subnet
            self.network = network
            self.publicIP = publicIP
        }
    }

    public static let internetPort: UInt16 = 0

    public var name: String
    public var routerMAC: MACAddress
    public var networks: [Network]
    public var subnets: [Subnet]
    /// `ports[0]` is the internet uplink.
    public var ports: [Port]
    /// Public addresses the site owns besides instance addresses (NAT pools, load-balancer VIPs,
    /// VPN endpoints): the dataplane answers ARP for them on the uplink.
    public var extraPublicAddresses: [IPv4Address]
    /// Connection tracking and security groups; nil runs the site without them (routing only).
    public var firewall: FirewallConfig?
    /// Stateless subnet filters, referenced by `Subnet.networkACL`.
    public var networkACLs: [NetworkACLSpec]
    /// NAT gateways of nat-private networks (at most one per network).
    public var natGateways: [NATGatewayConfig]
    public var loadBalancers: [LoadBalancerConfig]
    /// WireGuard tunnels, each attached to one network.
    public var vpnTunnels: [VPNTunnelConfig]

    public init(name: String, routerMAC: MACAddress, upstreamMAC: MACAddress, networks: [Network],
                subnets: [Subnet], instances: [Port], extraPublicAddresses: [IPv4Address] = [],
                firewall: FirewallConfig? = nil, networkACLs: [NetworkACLSpec] = [],
                natGateways: [NATGatewayConfig] = [], loadBalancers: [LoadBalancerConfig] = [],
                vpnTunnels: [VPNTunnelConfig] = []) {
        self.name = name
        self.routerMAC = routerMAC
        self.networks = networks
        self.subnets = subnets
        self.ports = [Port(name: "internet", peerMAC: upstreamMAC, ip: .any, subnet: -1, network: -1)] + instances
        self.extraPublicAddresses = extraPublicAddresses
        self.firewall = firewall
        self.networkACLs = networkACLs
        self.natGateways = natGateways
        self.loadBalancers = loadBalancers
        self.vpnTunnels = vpnTunnels
    }

    public var upstreamMAC: MACAddress { ports[0].peerMAC }

    /// The port index of a port name, if any.
    public func port(named name: String) -> UInt16? {
        ports.firstIndex { $0.name == name }.map { UInt16($0) }
    }
}
