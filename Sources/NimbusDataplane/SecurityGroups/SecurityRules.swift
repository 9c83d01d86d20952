import NimbusWire

/// One allow rule as the dataplane takes it: group references already resolved to member addresses.
public struct SecurityRuleSpec: Sendable, Hashable {
    /// nil: every protocol (and every port).
    public var protocolNumber: UInt8?
    /// TCP/UDP destination ports; empty: all.
    public var ports: [ClosedRange<UInt16>]
    /// ICMP type and code; nil: any.
    public var icmpType: UInt8?
    public var icmpCode: UInt8?
    /// The remote addresses the rule admits (source for ingress, destination for egress).
    public var peers: [IPv4CIDR]

    public init(protocolNumber: UInt8?, ports: [ClosedRange<UInt16>] = [], icmpType: UInt8? = nil,
                icmpCode: UInt8? = nil, peers: [IPv4CIDR]) {
        self.protocolNumber = protocolNumber
        self.ports = ports
        self.icmpType = icmpType
        self.icmpCode = icmpCode
        self.peers = peers
    }

    /// Every protocol from everywhere.
    public static let allowAll = SecurityRuleSpec(protocolNumber: nil, peers: [IPv4CIDR(address: .any, prefixLength: 0)])

    /// The naive meaning of the rule, for tests and documentation: does it admit this packet?
    /// `servicePort` is the destination port, or ICMP type << 8 | code.
    public func matches(protocol proto: UInt8, servicePort: UInt16, remote: IPv4Address) -> Bool {
        if let p = protocolNumber {
            guard p == proto else { return false }
            if p == IPProtocol.tcp || p == IPProtocol.udp {
                if !ports.isEmpty && !ports.contains(where: { $0.contains(servicePort) }) { return false }
            } else if p == IPProtocol.icmp {
                if let t = icmpType, UInt8(servicePort >> 8) != t { return false }
                if let c = icmpCode, UInt8(servicePort & 0xFF) != c { return false }
            }
        }
        return peers.contains { $0.contains(remote) }
    }
}

/// A security group: allow rules in and out. `egress` nil allows all outbound traffic.
public struct SecurityGroupSpec: Sendable {
    public var name: String
    public var ingress: [SecurityRuleSpec]
    public var egress: [SecurityRuleSpec]?

    public init(name: String, ingress: [SecurityRuleSpec], egress: [SecurityRuleSpec]?) {
        self.name = name
        self.ingress = ingress
        self.egress = egress
    }
}

/// Connection tracking and security groups for a site.
public struct FirewallConfig: Sendable {
    public var groups: [SecurityGroupSpec]
    /// Per port (index as `DataplaneConfig.ports`): the groups that apply. Unused for the uplink.
    public var portGroups: [[Int]]
    /// Pick up mid-stream TCP that a rule allows (Linux/AWS) instead of requiring a SYN (pf).
    public var loosePickup: Bool
    public var maxFlows: Int

    public init(groups: [SecurityGroupSpec], portGroups: [[Int]], loosePickup: Bool = false, maxFlows: Int = 1_000_000) {
        self.groups = groups
        self.portGroups = portGroups
        self.loosePickup = loosePickup
        self.maxFlows = maxFlows
    }
}
