import NimbusDataplane
import NimbusWire

/// Turns the dataplane's compact trace records into lines like `ovn-trace` prints: one header per packet,
/// one indented line per stage decision.
public struct TraceFormatter: Sendable {
    public let portNames: [String]
    /// Per VPN tunnel: its name and its peers' public keys (base64).
    public let tunnels: [(name: String, peers: [String])]

    /// Networks, ACLs, security groups and load balancers by name (`TraceNames(config:)`).
    public let names: TraceNames

    public init(portNames: [String], tunnels: [(name: String, peers: [String])] = [], names: TraceNames = TraceNames()) {
        self.portNames = portNames
        self.tunnels = tunnels
        self.names = names
    }

    /// "tunnel NAME peer KEY…" for trace lines (the key shortened as `wg show` does not, but logs do).
    func peer(_ t: UInt32, _ p: UInt32) -> String {
        guard Int(t) < tunnels.count else { return "tunnel \(t) peer \(p)" }
        let keys = tunnels[Int(t)].peers
        let key = Int(p) < keys.count ? String(keys[Int(p)].prefix(8)) + "…" : "\(p)"
        return "tunnel \(tunnels[Int(t)].name) peer \(key)"
    }

    func tunnel(_ t: UInt32) -> String {
        Int(t) < tunnels.count ? "tunnel \(tunnels[Int(t)].name)" : "tunnel \(t)"
    }

    func port(_ p: UInt32) -> String {
        Int(p) < portNames.count ? portNames[Int(p)] : "port \(p)"
    }

    /// One indented trace line: the stage, then what it decided.
    public func line(_ r: TraceRecord) -> String {
        "  " + r.stage.name.padding(12) + decision(r)
    }

    /// What the stage decided, in words (the trace line without its stage column).
    public func decision(_ r: TraceRecord) -> String {
        switch r.event {
        case .classified:
            let t = String(r.a, radix: 16)
            let kind = r.a == UInt32(EtherType.ipv4) ? "ipv4" : r.a == UInt32(EtherType.ipv6) ? "ipv6"
                : r.a == UInt32(EtherType.arp) ? "arp" : "0x" + t
            let proto = r.a == UInt32(EtherType.arp) ? "" : ", protocol \(r.b)"
            return "\(kind)\(proto)"
        case .dropped:
            let reason = DropReason(rawValue: UInt16(truncatingIfNeeded: r.a)) ?? .none
            return "DROP \(reason.name): \(reason.explanation)" + dropDetail(r, reason)
        case .sourceOK:
            return "source allowed"
        case .arpReplied:
            return "reply: \(IPv4Address(value: r.a)) is-at router MAC"
        case .routed:
            if r.a == 0 && r.b == 0 { return "no site prefix matches: to internet" }
            return "route /\(r.b) -> \(port(r.a))"
        case .lbBalanced:
            return "balanced to target \(IPv4Address(value: r.a)):\(r.b)"
        case .lbReplied:
            return "target's reply, from the VIP \(IPv4Address(value: r.a)):\(r.b)"
        case .natTranslated:
            let port = r.b == 0 ? "" : ":\(r.b)"
            return "translated to \(IPv4Address(value: r.a))\(port)"
        case .aclAllowed:
            let sides = [aclRule(r.a, outbound: true).map { "outbound: \($0)" },
                         aclRule(r.b, outbound: false).map { "inbound: \($0)" }].compactMap { $0 }
            return "allowed by the subnet ACLs" + (sides.isEmpty ? "" : " (" + sides.joined(separator: "; ") + ")")
        case .flowHit:
            let state = FlowState(rawValue: UInt8(truncatingIfNeeded: r.a)).map { "\($0)" } ?? "?"
            return "tracked flow (\(r.b == 1 ? "original" : "reply") direction), state \(state)"
        case .flowCreated:
            let state = FlowState(rawValue: UInt8(truncatingIfNeeded: r.a)).map { "\($0)" } ?? "?"
            let out = r.b >> 16, inn = r.b & 0xFFFF
            let sides = [out > 0 ? "egress \(group(out - 1))" : nil, inn > 0 ? "ingress \(group(inn - 1))" : nil].compactMap { $0 }
            let by = sides.isEmpty ? "" : " (" + sides.joined(separator: ", ") + ")"
            return "new flow allowed by the security groups\(by), state \(state)"
        case .related:
            return "ICMP error about a tracked flow: related, allowed"
        case .fragmentFollows:
            return "later fragment of an allowed datagram"
        case .toRouter:
            return "addressed to the router (\(IPv4Address(value: r.a)))"
        case .echoReplied:
            return "ICMP echo reply from \(IPv4Address(value: r.a))"
        case .sent:
            let ttl = r.b == 257 ? "sealed, outer ttl 64" : r.b > 255 ? "ttl unchanged (same subnet)" : "ttl -> \(r.b)"
            return "out \(port(r.a)), \(ttl)"
        case .intoTunnel:
            return "route /\(r.b) -> \(tunnel(r.a))"
        case .vpnDecrypted:
            return "decrypted from \(peer(r.a, r.b)); source within its allowed-ips"
        case .vpnKeepalive:
            return "keepalive from \(peer(r.a, r.b))"
        case .vpnResponded:
            return "handshake initiation from \(peer(r.a, r.b)): response sent"
        case .vpnHandshakeComplete:
            return "handshake response from \(peer(r.a, r.b)): session up"
        case .vpnCookieSent:
            return "\(tunnel(r.a)) under load: cookie reply sent instead of a handshake"
        case .vpnCookieReceived:
            return "cookie reply from \(peer(r.a, r.b)): kept for the next initiation"
        case .vpnSealed:
            return "sealed for \(peer(r.a, r.b))"
        case .vpnHeld:
            return "no session with \(peer(r.a, r.b)) yet: held, handshake initiation sent"
        case .vpnFragmented:
            return "larger than the MTU of \(tunnel(r.a)): split into \(r.b) fragments"
        case .vpnTimers:
            let initiations = r.b >> 16, others = r.b & 0xFFFF
            var what: [String] = []
            if initiations > 0 { what.append("\(initiations) handshake initiation\(initiations == 1 ? "" : "s") (rekey or retry)") }
            if others > 0 { what.append("\(others) keepalive or held packet\(others == 1 ? "" : "s")") }
            return "\(tunnel(r.a)) timers, just before this packet: sent " + what.joined(separator: ", ")
        case .icmpGenerated:
            return "sent ICMP type \(r.a) back to the source"
        }
    }
}

extension TraceFormatter {
    /// What a drop record says beyond its reason: the ACL rule, the security groups, the network or the
    /// load balancer that decided (see `TraceEvent.dropped`).
    func dropDetail(_ r: TraceRecord, _ reason: DropReason) -> String {
        switch (r.stage, reason) {
        case (.networkACL, .naclInboundDenied), (.networkACL, .naclOutboundDenied):
            return aclRule(r.b, outbound: reason == .naclOutboundDenied).map { " (\($0))" } ?? ""
        case (.conntrack, .sgIngressDenied), (.conntrack, .sgEgressDenied):
            return " (security groups of \(port(r.b)): \(portGroups(r.b).joined(separator: ",")))"
        case (.router, .noRoute) where r.b > 0:
            return " (the destination is in network \(network(r.b - 1)))"
        case (.loadBalancer, _) where r.b > 0:
            return " (load balancer \(loadBalancer(r.b - 1)))"
        default:
            return ""
        }
    }

    /// "network ACL NAME rule N allows/denies", or "... no rule matches (default deny)", for a detail
    /// `NetworkACLStage` recorded; nil when no ACL was on that side.
    func aclRule(_ detail: UInt32, outbound: Bool) -> String? {
        guard let (acl, rule) = NetworkACLStage.decodeTraceDetail(detail) else { return nil }
        let name = acl < names.acls.count ? names.acls[acl].name : "\(acl)"
        guard let rule else { return "network ACL \(name): no rule matches (default deny)" }
        let numbers = acl < names.acls.count ? (outbound ? names.acls[acl].outbound : names.acls[acl].inbound) : []
        let number = rule < numbers.count ? numbers[rule].number : rule + 1
        let action = rule < numbers.count ? (numbers[rule].allow ? "allows" : "denies") : "decides"
        return "network ACL \(name) rule \(number) \(action)"
    }

    func group(_ g: UInt32) -> String { Int(g) < names.groups.count ? names.groups[Int(g)] : "group \(g)" }
    func network(_ n: UInt32) -> String { Int(n) < names.networks.count ? names.networks[Int(n)] : "\(n)" }
    func loadBalancer(_ b: UInt32) -> String { Int(b) < names.loadBalancers.count ? names.loadBalancers[Int(b)] : "\(b)" }
    /// The security groups of a port, by name.
    public func portGroups(_ p: UInt32) -> [String] {
        Int(p) < names.portGroups.count ? names.portGroups[Int(p)].map { group(UInt32($0)) } : []
    }
}

/// What the indices in trace records stand for, beyond ports and tunnels: networks, network ACLs (and
/// their rules' numbers and actions, in list order), security groups, each port's groups, load balancers.
/// Empty, the formatter falls back to numbers.
public struct TraceNames: Sendable {
    public var networks: [String] = []
    public var acls: [(name: String, inbound: [(number: Int, allow: Bool)], outbound: [(number: Int, allow: Bool)])] = []
    public var groups: [String] = []
    public var portGroups: [[Int]] = []
    public var loadBalancers: [String] = []

    public init() {}

    /// The names of a site's compiled configuration.
    public init(config: DataplaneConfig) {
        networks = config.networks.map(\.name)
        acls = config.networkACLs.map { acl in
            (acl.name, acl.inbound.map { ($0.number, $0.allow) }, acl.outbound.map { ($0.number, $0.allow) })
        }
        groups = config.firewall?.groups.map(\.name) ?? []
        portGroups = config.firewall?.portGroups ?? []
        loadBalancers = config.loadBalancers.map(\.name)
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
