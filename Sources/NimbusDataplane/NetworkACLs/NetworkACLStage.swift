import NimbusWire

/// Network ACLs: stateless filters at subnet borders, as AWS network ACLs. A packet leaving a subnet that
/// has an ACL is checked against its outbound rules (remote: the destination), one entering a subnet
/// against its inbound rules (remote: the source). Traffic within a subnet is not filtered, and replies
/// get no free pass: the rules must admit them too.
///
/// Reads: IPv4 and L4 headers, the ports chosen by the router. Drops: `nacl-outbound-denied`,
/// `nacl-inbound-denied`.
public struct NetworkACLStage {
    private let acls: [NetworkACLSpec]
    /// Per port: the ACL of the port's subnet, or -1.
    private let portACL: [Int32]
    private let portSubnet: [Int32]

    /// - Parameter subnetACL: per subnet (as `config.subnets`), the index into `acls`, or nil.
    public init(config: DataplaneConfig) {
        acls = config.networkACLs
        portACL = config.ports.map { p in
            p.subnet >= 0 ? Int32(config.subnets[p.subnet].networkACL ?? -1) : -1
        }
        portSubnet = config.ports.map { Int32($0.subnet) }
    }

    /// Filters one pending packet.
    @inline(__always)
    public func handle(_ batch: inout PacketBatch, _ i: Int, _ ctx: inout StageContext) {
        if acls.isEmpty { return }
        let m = batch.meta[i]
        guard m.etherType == EtherType.ipv4 && m.outPort != RouterStage.localDelivery else { return }
        let sameSubnet = m.inPort != DataplaneConfig.internetPort && portSubnet[Int(m.inPort)] == portSubnet[Int(m.outPort)]
        if sameSubnet { return }
        let out = portACL[Int(m.inPort)], inn = portACL[Int(m.outPort)]
        if out < 0 && inn < 0 { return }
        let frame = batch.bytes(i)
        let ip = IPv4Header(unchecked: frame.suffix(from: Int(m.l3Offset)))
        var service: UInt16? = nil
        if m.hasL4 {
            let l4 = frame.suffix(from: Int(m.l4Offset))
            switch m.ipProtocol {
            case IPProtocol.tcp, IPProtocol.udp: service = TransportPortsView(unchecked: l4).destinationPort
            case IPProtocol.icmp:
                let icmp = ICMPHeader(unchecked: l4)
                service = UInt16(icmp.type) << 8 | UInt16(icmp.code)
            default: service = 0
            }
        }
        // The deciding rule goes into the trace (`NetworkACLStage.traceDetail`), so `--trace` and
        // `nimbus reach` can name it; untraced packets pay nothing for it.
        var outDetail: UInt32 = 0, inDetail: UInt32 = 0
        if out >= 0 {
            let allowed: Bool
            (allowed, outDetail) = decide(Int(out), inbound: false, m.ipProtocol, service, ip.destination)
            if !allowed { return deny(&batch, i, .naclOutboundDenied, outDetail, &ctx) }
        }
        if inn >= 0 {
            let allowed: Bool
            (allowed, inDetail) = decide(Int(inn), inbound: true, m.ipProtocol, service, ip.source)
            if !allowed { return deny(&batch, i, .naclInboundDenied, inDetail, &ctx) }
        }
        ctx.trace.record(i, .networkACL, .aclAllowed, outDetail, inDetail)
    }

    @inline(__always)
    private func deny(_ batch: inout PacketBatch, _ i: Int, _ reason: DropReason, _ detail: UInt32,
                      _ ctx: inout StageContext) {
        batch.drop(i, reason)
        ctx.trace.record(i, .networkACL, .dropped, UInt32(reason.rawValue), detail)
    }

    /// Whether ACL `acl`'s inbound or outbound rules allow the packet (first match decides, none
    /// matching denies), and the deciding rule as a trace detail.
    @inline(__always)
    private func decide(_ acl: Int, inbound: Bool, _ proto: UInt8, _ service: UInt16?,
                        _ remote: IPv4Address) -> (allowed: Bool, detail: UInt32) {
        let rules = inbound ? acls[acl].inbound : acls[acl].outbound
        let rule = NetworkACLSpec.firstMatch(rules, proto, service, remote)
        return (rule.map { rules[$0].allow } ?? false, Self.traceDetail(acl: acl, rule: rule))
    }

    /// How a trace record names the rule that decided: `(acl + 1) << 16 | (position + 1)`, the position in
    /// the ACL's list (rule-number order); position part 0 when no rule matched (the default deny); 0
    /// altogether when that side has no ACL.
    @inline(__always)
    static func traceDetail(acl: Int, rule: Int?) -> UInt32 {
        UInt32(acl + 1) << 16 | UInt32((rule ?? -1) + 1)
    }

    /// Reads `traceDetail`: the ACL's index and the position of the rule that decided (nil: none matched),
    /// or nil when no ACL was on that side.
    public static func decodeTraceDetail(_ detail: UInt32) -> (acl: Int, rule: Int?)? {
        guard detail >> 16 > 0 else { return nil }
        let rule = Int(detail & 0xFFFF)
        return (Int(detail >> 16) - 1, rule > 0 ? rule - 1 : nil)
    }
}

/// One numbered rule of a network ACL.
public struct ACLRuleSpec: Sendable, Hashable {
    public var allow: Bool
    /// nil: every protocol.
    public var protocolNumber: UInt8?
    /// TCP/UDP destination ports; empty: all.
    public var ports: [ClosedRange<UInt16>]
    public var icmpType: UInt8?
    public var icmpCode: UInt8?
    /// Source (inbound) or destination (outbound).
    public var peer: IPv4CIDR

    /// The rule's number in the topology file (what users and `nimbus reach` call it); 0 when the config
    /// was built by hand without numbers. The dataplane goes by list order, never by this.
    public var number: Int

    public init(allow: Bool, protocolNumber: UInt8?, ports: [ClosedRange<UInt16>] = [], icmpType: UInt8? = nil,
                icmpCode: UInt8? = nil, peer: IPv4CIDR, number: Int = 0) {
        self.number = number
        self.allow = allow
        self.protocolNumber = protocolNumber
        self.ports = ports
        self.icmpType = icmpType
        self.icmpCode = icmpCode
        self.peer = peer
    }

    /// Does the rule match? `servicePort` is the destination port or ICMP type << 8 | code; nil for a
    /// later fragment, which only rules without a port or ICMP condition match.
    @inline(__always)
    func matches(_ proto: UInt8, _ servicePort: UInt16?, _ remote: IPv4Address) -> Bool {
        guard peer.contains(remote) else { return false }
        guard let p = protocolNumber else { return true }
        guard p == proto else { return false }
        if p == IPProtocol.tcp || p == IPProtocol.udp {
            if ports.isEmpty { return true }
            guard let sp = servicePort else { return false }
            for r in ports where r.contains(sp) { return true }
            return false
        }
        if p == IPProtocol.icmp && (icmpType != nil || icmpCode != nil) {
            guard let sp = servicePort else { return false }
            if let t = icmpType, UInt8(sp >> 8) != t { return false }
            if let c = icmpCode, UInt8(sp & 0xFF) != c { return false }
        }
        return true
    }
}

/// A stateless network ACL: rules in number order, first match decides, deny when none matches.
public struct NetworkACLSpec: Sendable {
    public var name: String
    public var inbound: [ACLRuleSpec]
    public var outbound: [ACLRuleSpec]

    public init(name: String, inbound: [ACLRuleSpec], outbound: [ACLRuleSpec]) {
        self.name = name
        self.inbound = inbound
        self.outbound = outbound
    }

    /// The position of the first rule that matches; nil when none does (the packet is then denied).
    @inline(__always)
    static func firstMatch(_ rules: [ACLRuleSpec], _ proto: UInt8, _ servicePort: UInt16?, _ remote: IPv4Address) -> Int? {
        for (k, r) in rules.enumerated() where r.matches(proto, servicePort, remote) { return k }
        return nil
    }
}
