import NimbusWire

/// The compiled rules of one direction of one security group. Classifying a first packet costs a binary
/// search over port intervals and a few hash probes of a prefix table, whatever the number of rules:
/// rules are cut into elementary port intervals (a sweep over their bounds), and each interval keeps one
/// prefix table of the peers of every rule that covers it (identical sets share one table).
public struct RuleClassifier: Sendable {
    /// Rules for every protocol.
    private let anyProtocol: IPv4PrefixTable<Bool>?
    private let tcp: PortPeerTable
    private let udp: PortPeerTable
    private let icmp: PortPeerTable
    /// Other protocol numbers: index into `others`, or -1.
    private let otherIndex: [Int16]
    private let others: [IPv4PrefixTable<Bool>]

    public init(_ rules: [SecurityRuleSpec]) {
        var any: [IPv4CIDR] = []
        var tcp: [(ClosedRange<UInt16>, [IPv4CIDR])] = []
        var udp: [(ClosedRange<UInt16>, [IPv4CIDR])] = []
        var icmp: [(ClosedRange<UInt16>, [IPv4CIDR])] = []
        var other: [UInt8: [IPv4CIDR]] = [:]
        let full: ClosedRange<UInt16> = 0...UInt16.max
        for r in rules {
            guard let p = r.protocolNumber else { any += r.peers; continue }
            switch p {
            case IPProtocol.tcp: for range in (r.ports.isEmpty ? [full] : r.ports) { tcp.append((range, r.peers)) }
            case IPProtocol.udp: for range in (r.ports.isEmpty ? [full] : r.ports) { udp.append((range, r.peers)) }
            case IPProtocol.icmp:
                // ICMP type and code take the place of the port: type << 8 | code.
                let range: ClosedRange<UInt16>
                if let t = r.icmpType {
                    range = r.icmpCode.map { UInt16(t) << 8 | UInt16($0) ... UInt16(t) << 8 | UInt16($0) }
                        ?? UInt16(t) << 8 ... UInt16(t) << 8 | 0xFF
                } else {
                    range = full
                }
                icmp.append((range, r.peers))
            default: other[p, default: []] += r.peers
            }
        }
        anyProtocol = any.isEmpty ? nil : IPv4PrefixTable(any.map { ($0, true) })
        self.tcp = PortPeerTable(tcp)
        self.udp = PortPeerTable(udp)
        self.icmp = PortPeerTable(icmp)
        var index = [Int16](repeating: -1, count: 256)
        var tables: [IPv4PrefixTable<Bool>] = []
        for p in other.keys.sorted() {
            index[Int(p)] = Int16(tables.count)
            tables.append(IPv4PrefixTable(other[p]!.map { ($0, true) }))
        }
        otherIndex = index
        others = tables
    }

    /// True when some rule admits a packet of `proto` to `servicePort` (destination port, or ICMP
    /// type << 8 | code) with `remote` as the far end.
    @inline(__always)
    public func allows(protocol proto: UInt8, servicePort: UInt16, remote: IPv4Address) -> Bool {
        if let any = anyProtocol, any.lookup(remote) != nil { return true }
        switch proto {
        case IPProtocol.tcp: return tcp.allows(servicePort, remote)
        case IPProtocol.udp: return udp.allows(servicePort, remote)
        case IPProtocol.icmp: return icmp.allows(servicePort, remote)
        default:
            let i = otherIndex[Int(proto)]
            return i >= 0 && others[Int(i)].lookup(remote) != nil
        }
    }
}

/// Port intervals, each with the prefix table of the peers that may use it.
struct PortPeerTable: Sendable {
    /// Sorted starts of the elementary intervals; the first is 0.
    private let starts: [UInt32]
    /// Per interval: index into `tables`, or -1 when no rule covers it.
    private let tableIndex: [Int32]
    private let tables: [IPv4PrefixTable<Bool>]

    init(_ rules: [(ClosedRange<UInt16>, [IPv4CIDR])]) {
        var bounds: Set<UInt32> = [0]
        for (r, _) in rules {
            bounds.insert(UInt32(r.lowerBound))
            if r.upperBound < UInt16.max { bounds.insert(UInt32(r.upperBound) + 1) }
        }
        let starts = bounds.sorted()
        // Sweep: rules sorted by start enter, and leave once their end is behind the interval.
        let order = rules.indices.sorted { rules[$0].0.lowerBound < rules[$1].0.lowerBound }
        var next = 0
        var active: [Int] = []
        var cache: [[Int]: Int32] = [:]
        var tables: [IPv4PrefixTable<Bool>] = []
        var index: [Int32] = []
        for s in starts {
            while next < order.count && UInt32(rules[order[next]].0.lowerBound) <= s {
                active.append(order[next])
                next += 1
            }
            active.removeAll { UInt32(rules[$0].0.upperBound) < s }
            if active.isEmpty { index.append(-1); continue }
            let keySet = active.sorted()
            if let t = cache[keySet] { index.append(t); continue }
            let t = Int32(tables.count)
            tables.append(IPv4PrefixTable(keySet.flatMap { rules[$0].1 }.map { ($0, true) }))
            cache[keySet] = t
            index.append(t)
        }
        self.starts = starts
        tableIndex = index
        self.tables = tables
    }

    @inline(__always)
    func allows(_ port: UInt16, _ remote: IPv4Address) -> Bool {
        // The last interval starting at or below the port.
        var lo = 0, hi = starts.count
        let p = UInt32(port)
        while hi - lo > 1 {
            let mid = (lo + hi) >> 1
            if starts[mid] <= p { lo = mid } else { hi = mid }
        }
        let t = tableIndex[lo]
        return t >= 0 && tables[Int(t)].lookup(remote) != nil
    }
}

/// The security groups of a site, compiled: per port, the union of its groups, in and out.
public struct SecurityPolicy: Sendable {
    private let ingress: [RuleClassifier]
    private let egress: [RuleClassifier]
    private let portGroups: [[Int]]

    public init(_ config: FirewallConfig) {
        ingress = config.groups.map { RuleClassifier($0.ingress) }
        egress = config.groups.map { RuleClassifier($0.egress ?? [.allowAll]) }
        portGroups = config.portGroups
    }

    /// The first of `port`'s groups (index into `FirewallConfig.groups`) whose ingress rules admit this
    /// first packet from `remote`, or -1 (the packet is refused); the group is named in traces.
    @inline(__always)
    public func ingressGroup(port: UInt16, protocol proto: UInt8, servicePort: UInt16, remote: IPv4Address) -> Int {
        for g in portGroups[Int(port)] where ingress[g].allows(protocol: proto, servicePort: servicePort, remote: remote) {
            return g
        }
        return -1
    }

    /// The first of `port`'s groups whose egress rules admit this first packet to `remote`, or -1.
    @inline(__always)
    public func egressGroup(port: UInt16, protocol proto: UInt8, servicePort: UInt16, remote: IPv4Address) -> Int {
        for g in portGroups[Int(port)] where egress[g].allows(protocol: proto, servicePort: servicePort, remote: remote) {
            return g
        }
        return -1
    }
}
