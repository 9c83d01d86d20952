import NimbusDataplane
import NimbusWire

/// Finding each scenario's traffic in a topology. Every candidate is proved with the dataplane itself
/// (`TrafficPlan.proves`) before it is used. A scenario is a list of flow-set kinds (see
/// `BenchScenario.kinds`); a new one needs its kind's finder here and its entry there.
extension TrafficPlan {
    /// Clients on the internet send from 198.18.0.0/15, the range RFC 2544 sets aside for benchmarks;
    /// internet servers (the far end of NAT traffic) have addresses in it too.
    static let benchmarkRange = IPv4CIDR(address: IPv4Address(198, 18, 0, 0), prefixLength: 15)
    static let internetSourcePorts: ClosedRange<UInt16> = 1024...65535

    /// The traffic of `scenario` on `config`, or a one-line reason why the topology has none.
    static func make(_ scenario: BenchScenario, config: DataplaneConfig) -> Result<TrafficPlan, BenchError> {
        var sets: [FlowSet] = []
        var missing: [String] = []
        for kind in scenario.kinds {
            if let set = find(kind, config: config) { sets.append(set) } else { missing.append(Self.need(kind)) }
        }
        guard missing.isEmpty else {
            if scenario == .route || scenario == .sg {
                return .failure(BenchError("no traffic to send: no instance of \(config.name) admits TCP or UDP from the "
                                           + "internet or from another instance (see its security groups)", badInput: true))
            }
            return .failure(BenchError("scenario \(scenario.rawValue) needs " + missing.joined(separator: " and ")
                                       + "; topology \(config.name) has " + (missing.count == 1 ? "none" : "neither"),
                                       badInput: true))
        }
        return .success(TrafficPlan(sets: sets, config: config))
    }

    static func need(_ kind: FlowKind) -> String {
        switch kind {
        case .direct: "an instance whose security groups admit TCP or UDP from the internet or another instance"
        case .nat: "a nat-private network whose NAT gateway carries an instance's traffic to the internet"
        case .lb: "a load balancer whose listener's targets answer"
        }
    }

    static func find(_ kind: FlowKind, config: DataplaneConfig) -> FlowSet? {
        switch kind {
        case .direct: directSet(config)
        case .nat: natSet(config)
        case .lb: loadBalancerSet(config)
        }
    }

    // MARK: direct (route, sg)

    /// The first candidate (internet clients before instance clients, HTTPS and HTTP before other
    /// services, TCP before UDP) whose handshake and data the dataplane forwards.
    static func directSet(_ config: DataplaneConfig) -> FlowSet? {
        candidates(config).first { proves($0, config) }
    }

    /// Services an instance port admits, from its groups' ingress rules, plus HTTPS and HTTP from
    /// anywhere; each with the peers the rule names.
    static func services(_ config: DataplaneConfig, port: Int) -> [(proto: UInt8, port: UInt16, peers: [IPv4CIDR])] {
        let anywhere = [IPv4CIDR(address: .any, prefixLength: 0)]
        var out: [(UInt8, UInt16, [IPv4CIDR])] = []
        if let fw = config.firewall, port < fw.portGroups.count {
            for g in fw.portGroups[port] where g < fw.groups.count {
                for r in fw.groups[g].ingress {
                    let p = r.protocolNumber ?? IPProtocol.tcp
                    guard p == IPProtocol.tcp || p == IPProtocol.udp else { continue }
                    let service: UInt16
                    if r.ports.isEmpty { service = 443 }
                    else if r.ports.contains(where: { $0.contains(443) }) { service = 443 }
                    else if r.ports.contains(where: { $0.contains(80) }) { service = 80 }
                    else { service = r.ports[0].lowerBound }
                    out.append((p, service, r.peers))
                }
            }
        }
        out.append((IPProtocol.tcp, 443, anywhere))
        out.append((IPProtocol.tcp, 80, anywhere))
        // TCP first, HTTPS and HTTP first; the sort is stable, so rule order decides the rest.
        func rank(_ s: (UInt8, UInt16, [IPv4CIDR])) -> Int {
            (s.0 == IPProtocol.tcp ? 0 : 4) + (s.1 == 443 ? 0 : s.1 == 80 ? 1 : 2)
        }
        return out.enumerated().sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }
            .map { (proto: $0.element.0, port: $0.element.1, peers: $0.element.2) }
    }

    static func candidates(_ config: DataplaneConfig) -> [FlowSet] {
        var out: [FlowSet] = []
        let ports = config.ports
        guard ports.count > 1 else { return [] }
        // Internet clients first: the bulk of a cloud's new flows.
        for p in 1..<ports.count {
            for s in services(config, port: p) {
                var ranges: [IPv4CIDR] = []
                if s.peers.contains(where: { $0.covers(benchmarkRange) }) { ranges.append(benchmarkRange) }
                for peer in s.peers where peer.prefixLength <= 30 && !peer.covers(benchmarkRange) { ranges.append(peer) }
                for r in ranges {
                    out.append(direct(config, client: 0, server: p, proto: s.proto, service: s.port, sources: r))
                }
            }
        }
        // Then instance to instance.
        for p in 1..<ports.count {
            for s in services(config, port: p) {
                for q in 1..<ports.count where q != p && s.peers.contains(where: { $0.contains(ports[q].ip) }) {
                    out.append(direct(config, client: q, server: p, proto: s.proto, service: s.port,
                                      sources: IPv4CIDR(address: ports[q].ip, prefixLength: 32)))
                }
            }
        }
        return out
    }

    static func direct(_ config: DataplaneConfig, client: Int, server: Int, proto: UInt8, service: UInt16,
                       sources: IPv4CIDR) -> FlowSet {
        let group = ClientGroup(name: config.ports[client].name, port: UInt16(client), sources: sources,
                                sourcePorts: internetSourcePorts)
        return FlowSet(kind: .direct, proto: proto, clients: [group], endpointsPerGroup: group.endpointCount,
                       destinations: IPv4CIDR(address: config.ports[server].ip, prefixLength: 32), service: service,
                       serverName: config.ports[server].name, serverPorts: [UInt16(server)], translation: .none)
    }

    // MARK: nat

    /// Instances of a nat-private network without an elastic IP, out through the network's NAT gateway to
    /// internet servers in 198.18.0.0/15 (HTTPS, else HTTP, else DNS over UDP: the first their groups let
    /// out). Each instance sends from its own address only, so the flows vary its source port (then the
    /// instance, then the server address). The instances paired with one public address share its port
    /// range in equal, disjoint slices, so the gateway keeps every source port (no port probing) and each
    /// endpoint is one mapping.
    static func natSet(_ config: DataplaneConfig) -> FlowSet? {
        for gateway in config.natGateways where !gateway.publicIPs.isEmpty && !gateway.ports.isEmpty {
            let ports = config.ports
            let inside = (1..<max(1, ports.count)).filter {
                ports[$0].network == gateway.network && ports[$0].publicIP == nil
            }
            for (proto, service) in [(IPProtocol.tcp, UInt16(443)), (IPProtocol.tcp, 80), (IPProtocol.udp, 53)] {
                func set(_ clients: [ClientGroup]) -> FlowSet {
                    FlowSet(kind: .nat, proto: proto, clients: clients,
                            endpointsPerGroup: clients.map(\.endpointCount).min() ?? 0,
                            destinations: benchmarkRange, service: service, serverName: "internet",
                            serverPorts: [DataplaneConfig.internetPort], translation: .source(pool: gateway.publicIPs))
                }
                func group(_ p: Int, _ sourcePorts: ClosedRange<UInt16>) -> ClientGroup {
                    ClientGroup(name: ports[p].name, port: UInt16(p),
                                sources: IPv4CIDR(address: ports[p].ip, prefixLength: 32), sourcePorts: sourcePorts)
                }
                // The instances whose own traffic gets out (their groups may deny it).
                let senders = inside.filter { proves(set([group($0, gateway.ports)]), config) }
                guard !senders.isEmpty else { continue }
                // The slices: per public address (as the gateway pairs instances with them), equal shares
                // of the port range; every instance then uses as many ports as the smallest slice.
                var sharing: [UInt32: [Int]] = [:]
                for p in senders {
                    let a = NATStage.pairedAddress(for: ports[p].ip, pool: gateway.publicIPs, seed: 0).value
                    sharing[a, default: []].append(p)
                }
                let range = Int(gateway.ports.upperBound) - Int(gateway.ports.lowerBound) + 1
                let slice = range / (sharing.values.map(\.count).max() ?? 1)
                guard slice > 0 else { continue }
                // An instance's slice should not hold its own load-balancer target port: with several
                // workers the dispatcher places connections from that port like the balancer's replies (by
                // the remote), so one endpoint would need a mapping per worker and a full range overflows.
                let lo = Int(gateway.ports.lowerBound)
                var position: [Int: Int] = [:]
                for (_, members) in sharing {
                    let avoid = members.map { p in
                        Set(config.loadBalancers.flatMap { lb in
                            lb.listeners.filter { l in l.protocolNumber == proto && l.targets.contains { Int($0.port) == p } }
                                .map { (Int($0.targetPort) - lo) / slice }
                        })
                    }
                    var taken = Set<Int>()
                    var placed: [Int: Int] = [:]
                    for k in members.indices.sorted(by: { avoid[$0].count > avoid[$1].count }) {
                        if let free = (0..<members.count).first(where: { !taken.contains($0) && !avoid[k].contains($0) }) {
                            placed[members[k]] = free
                            taken.insert(free)
                        }
                    }
                    for (k, p) in members.enumerated() { position[p] = placed.count == members.count ? placed[p]! : k }
                }
                var groups: [ClientGroup] = []
                for p in senders {
                    let low = lo + position[p]! * slice
                    groups.append(group(p, UInt16(low)...UInt16(low + slice - 1)))
                }
                let candidate = set(groups)
                if proves(candidate, config) { return candidate }
            }
        }
        return nil
    }

    // MARK: lb

    /// Clients to a load balancer's listener (public VIPs first, from internet clients in
    /// 198.18.0.0/15, client addresses varying fastest; an internal VIP from an instance of its network
    /// that is not a target of it), TCP listeners before UDP. Replies come from the target each flow
    /// landed on.
    static func loadBalancerSet(_ config: DataplaneConfig) -> FlowSet? {
        let ports = config.ports
        func isPrivate(_ a: IPv4Address) -> Bool { config.networks.contains { $0.cidr.contains(a) } }
        let balancers = config.loadBalancers.enumerated().sorted {
            (isPrivate($0.element.vip) ? 1 : 0, $0.offset) < (isPrivate($1.element.vip) ? 1 : 0, $1.offset)
        }
        for (_, lb) in balancers {
            let listeners = lb.listeners.enumerated().sorted {
                ($0.element.protocolNumber == IPProtocol.tcp ? 0 : 1, $0.offset)
                    < ($1.element.protocolNumber == IPProtocol.tcp ? 0 : 1, $1.offset)
            }.map(\.element)
            for l in listeners where !l.targets.isEmpty
                && (l.protocolNumber == IPProtocol.tcp || l.protocolNumber == IPProtocol.udp) {
                let targets = l.targets.map { (port: $0.port, address: ports[Int($0.port)].ip) }
                var groups: [ClientGroup] = []
                if !isPrivate(lb.vip) {
                    // A public service's clients: many hosts, a connection or a few each.
                    groups.append(ClientGroup(name: ports[0].name, port: DataplaneConfig.internetPort,
                                              sources: benchmarkRange, sourcePorts: internetSourcePorts,
                                              addressesFirst: true))
                } else {
                    for q in 1..<ports.count where !l.targets.contains(where: { Int($0.port) == q })
                        && ports[q].network >= 0 && config.networks[ports[q].network].cidr.contains(lb.vip) {
                        groups.append(ClientGroup(name: ports[q].name, port: UInt16(q),
                                                  sources: IPv4CIDR(address: ports[q].ip, prefixLength: 32),
                                                  sourcePorts: internetSourcePorts))
                        break
                    }
                }
                guard let group = groups.first else { continue }
                let candidate = FlowSet(
                    kind: .lb, proto: l.protocolNumber, clients: [group], endpointsPerGroup: group.endpointCount,
                    destinations: IPv4CIDR(address: lb.vip, prefixLength: 32), service: l.port, serverName: lb.name,
                    serverPorts: l.targets.map(\.port), translation: .loadBalanced(targets: targets, targetPort: l.targetPort))
                if proves(candidate, config) { return candidate }
            }
        }
        return nil
    }
}

extension TrafficPlan {
    /// Adds `count` ingress rules to the first group of every instance receiving the plan's first
    /// packets, none of which admits the plan's traffic: half on other ports (more port intervals to
    /// search), half on the service port from other peers (a bigger prefix table where the traffic's rule
    /// lives). Peers come from 100.64.0.0/10. Nil when no instance receives first packets (NAT traffic
    /// goes to the internet).
    func addingRules(_ count: Int, to config: DataplaneConfig) -> DataplaneConfig? {
        guard count > 0, var fw = config.firewall else { return config }
        var changed = Set<Int>()
        for set in sets {
            guard let (receivers, service) = set.receivers else { continue }
            var rules: [SecurityRuleSpec] = []
            rules.reserveCapacity(count)
            for k in 0..<count {
                let peer = IPv4CIDR(address: IPv4Address(value: 0x6440_0000 | UInt32(k & 0x3F_FFFF)), prefixLength: 32)
                var port = UInt16(1024 + (k &* 7919) % 60000)
                if port == service { port &+= 1 }
                let ports: [ClosedRange<UInt16>] = k % 2 == 0 ? [port...port] : [service...service]
                rules.append(SecurityRuleSpec(protocolNumber: set.proto, ports: ports, peers: [peer]))
            }
            for p in receivers where Int(p) < fw.portGroups.count {
                guard let g = fw.portGroups[Int(p)].first, g < fw.groups.count, !changed.contains(g) else { continue }
                fw.groups[g].ingress += rules
                changed.insert(g)
            }
        }
        guard !changed.isEmpty else { return nil }
        var c = config
        c.firewall = fw
        return c
    }

    /// Ingress rules of the groups of the first instance receiving the plan's first packets (the rules
    /// a first packet is classified against there); nil when no instance receives them.
    func ingressRules(_ config: DataplaneConfig) -> (port: String, count: Int)? {
        guard let fw = config.firewall else { return nil }
        for set in sets {
            guard let p = set.receivers?.ports.first, Int(p) < fw.portGroups.count else { continue }
            let n = fw.portGroups[Int(p)].reduce(0) { $0 + (($1 < fw.groups.count) ? fw.groups[$1].ingress.count : 0) }
            return (portNames[Int(p)], n)
        }
        return nil
    }

    /// Egress rules of the groups of the first instance sending NAT traffic; nil count: all egress
    /// allowed (a group without egress rules).
    func egressRules(_ config: DataplaneConfig) -> (port: String, count: Int?)? {
        guard let fw = config.firewall else { return nil }
        for set in sets where set.kind == .nat {
            guard let p = set.clients.first?.port, Int(p) < fw.portGroups.count else { continue }
            var n: Int? = 0
            for g in fw.portGroups[Int(p)] where g < fw.groups.count {
                guard let e = fw.groups[g].egress else { n = nil; break }
                n = n.map { $0 + e.count }
            }
            return (portNames[Int(p)], n)
        }
        return nil
    }
}
