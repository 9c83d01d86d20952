import NimbusDataplane
import NimbusWire

// What reading produces before validation: the model's shape, but with every field that can be
// invalid or missing optional (the error is already recorded) and with positions kept for the checks
// that relate one part of the file to another. `assemble` turns a clean draft into the public model.

struct TopologyDraft {
    var name: Located<String>?
    var routerMAC: Located<MACAddress>?
    var conntrack = ConntrackSettings()
    var upstreamMAC: Located<MACAddress>?
    var hosts: [HostDraft] = []
    var networks: [NetworkDraft] = []
    var groups: [GroupDraft] = []
    var networkACLs: [NetworkACLDraft] = []
    var instances: [InstanceDraft] = []
    var loadBalancers: [LoadBalancerDraft] = []
    var tunnels: [TunnelDraft] = []
    var events: [EventDraft] = []
}

struct HostDraft {
    var name: Located<String>?
    var ip: Located<IPv4Address>?
}

struct NetworkDraft {
    var name: Located<String>?
    var cidr: Located<IPv4CIDR>?
    var mode: NetworkMode = .natPrivate
    var subnets: [SubnetDraft] = []
    var nat: NATDraft?
}

struct SubnetDraft {
    var name: Located<String>?
    var cidr: Located<IPv4CIDR>?
    /// The `network-acl` reference, positioned for the reference check.
    var networkACL: Located<String>?
}

struct NATDraft {
    var keyPosition: Position
    var publicIPs: [Located<IPv4Address>] = []
    var gateway = NATGateway(publicIPs: [])
}

struct GroupDraft {
    var name: Located<String>?
    var ingress: [RuleDraft] = []
    var egress: [RuleDraft]?
}

struct RuleDraft {
    /// Nil when any part of the rule was invalid.
    var rule: SecurityRule?
    /// The `sg:NAME` peer, positioned, for the reference check.
    var groupReference: Located<String>?
}

struct NetworkACLDraft {
    var name: Located<String>?
    var inbound: [ACLRuleDraft] = []
    var outbound: [ACLRuleDraft] = []
}

struct ACLRuleDraft {
    /// The `rule` number, positioned for the uniqueness check; nil when missing or invalid.
    var number: Located<Int>?
    /// Nil when any part of the rule was invalid.
    var rule: ACLRule?
}

struct InstanceDraft {
    var position: Position
    var name: Located<String>?
    var network: Located<String>?
    var subnet: Located<String>?
    var ip: Located<IPv4Address>?
    var mac: Located<MACAddress>?
    var publicIP: Located<IPv4Address>?
    var publicIPKey: Position?
    var groups: [Located<String>]?
}

struct LoadBalancerDraft {
    var name: Located<String>?
    var vip: Located<IPv4Address>?
    var listeners: [ListenerDraft] = []
}

struct ListenerDraft {
    var position: Position
    var proto: ListenerProtocol?
    var port: Located<UInt16>?
    var targetPort: UInt16?
    var algorithm: LBAlgorithm = .roundRobin
    var hashPort = false
    var targets: [TargetDraft] = []
}

struct TargetDraft {
    var instance: Located<String>?
    var weight: Int?
}

struct TunnelDraft {
    var name: Located<String>?
    var network: Located<String>?
    var listen: Located<Endpoint>?
    var privateKey: [UInt8]?
    var mtu: Int?
    var peers: [PeerDraft] = []
}

struct PeerDraft {
    var publicKey: Located<[UInt8]>?
    var presharedKey: [UInt8]?
    var endpoint: Endpoint?
    var allowedIPs: [Located<IPCIDR>] = []
    var persistentKeepalive: Int?
}

struct EventDraft {
    var at: UInt64?
    var loadBalancer: Located<String>?
    var instance: Located<String>?
    var state: TargetState?
}
