import NimbusWire

/// Chooses the worker for each packet entering a site run by several share-nothing workers, so that
/// every packet of a flow — both directions, before and after translation, its fragments and the ICMP
/// errors about it — reaches the one worker that holds the flow's state. The role RSS plus VPP's
/// NAT hand-off play in a hardware dataplane.
///
/// The rules, first match wins; each is symmetric in the two endpoints, and an ICMP error is placed by the
/// datagram it quotes:
/// 1. WireGuard traffic (to or from a tunnel's listen endpoint) and traffic to or from a tunnel's
///    allowed-ips: worker 0, which alone runs the tunnels' sessions.
/// 2. An endpoint on a NAT gateway's public address: the worker whose share of the port range holds its
///    port (`WorkerShare.ports`: every n-th port), since that worker made the mapping.
/// 3. An endpoint that is a load-balancer listener (VIP, port) or a target (instance, target port): a hash
///    of the other endpoint, the client, which the load balancer leaves unchanged in both directions.
/// 4. An instance that reaches beyond its network through a NAT gateway (no elastic IP), talking to an
///    address outside that network: the worker owning the instance's port in the gateway's range (or
///    ICMP identifier), else a hash of its endpoint. All of one endpoint's flows thus share a worker and
///    its mapping stays endpoint-independent (RFC 4787 REQ-1), and that worker may keep the instance's
///    port, so translations come out the same whatever the number of workers.
/// 5. Anything else: a hash of both endpoints in canonical order; an elastic IP counts as the private
///    address behind it.
/// Non-first fragments follow the worker of their first fragment (remembered by source, destination,
/// protocol and identification); one that arrives first goes by its addresses. Frames that are not IPv4
/// go to worker 0.
///
/// Mutating only through the fragment memory: a fixed direct-mapped table, so dispatching never allocates.
public struct FlowDispatcher: Sendable {
    public let count: Int

    /// A NAT gateway's pool address -> its TCP/UDP port range (ICMP identifiers use all 16 bits).
    private let poolRanges: IPv4PrefixTable<(lo: Int, size: Int)>
    /// Elastic IP -> the instance's private address.
    private let elasticIPs: IPv4PrefixTable<UInt32>
    /// An instance that translates through its network's gateway -> that network's CIDR and the gateway's
    /// port range.
    private let gatewayInstances: IPv4PrefixTable<(network: IPv4CIDR, lo: Int, size: Int)>
    /// Load-balancer listeners and targets, as (protocol, address, port) keys.
    private let balancedEndpoints: EndpointSet
    private let tunnelEndpoints: EndpointSet
    private let tunnelPrefixes: IPv4PrefixTable<Bool>
    private let hasTunnels: Bool
    private var fragments: [FragmentOwner]

    private struct FragmentOwner: Sendable {
        var addresses: UInt64 = 0
        var idProto: UInt32 = 0
        var worker: UInt32 = 0
    }

    private static let fragmentSlots = 4096

    public init(config: DataplaneConfig, workers: Int) {
        count = max(1, workers)
        var pool: [(IPv4CIDR, (lo: Int, size: Int))] = []
        for gw in config.natGateways {
            let lo = Int(gw.ports.lowerBound)
            for a in gw.publicIPs {
                pool.append((IPv4CIDR(address: a, prefixLength: 32), (lo, Int(gw.ports.upperBound) - lo + 1)))
            }
        }
        poolRanges = IPv4PrefixTable(pool)
        elasticIPs = IPv4PrefixTable(config.ports.dropFirst().compactMap { p in
            p.publicIP.map { (IPv4CIDR(address: $0, prefixLength: 32), p.ip.value) }
        })
        gatewayInstances = IPv4PrefixTable(config.ports.dropFirst().compactMap { p in
            guard p.publicIP == nil, p.network < config.networks.count,
                  let gw = config.natGateways.first(where: { $0.network == p.network }) else { return nil }
            let lo = Int(gw.ports.lowerBound)
            return (IPv4CIDR(address: p.ip, prefixLength: 32), (config.networks[p.network].cidr, lo, Int(gw.ports.upperBound) - lo + 1))
        })
        var balanced: [UInt64] = []
        for lb in config.loadBalancers {
            for l in lb.listeners {
                balanced.append(natKey(l.protocolNumber, lb.vip.value, l.port))
                for t in l.targets where Int(t.port) < config.ports.count {
                    balanced.append(natKey(l.protocolNumber, config.ports[Int(t.port)].ip.value, l.targetPort))
                }
            }
        }
        balancedEndpoints = EndpointSet(balanced)
        tunnelEndpoints = EndpointSet(config.vpnTunnels.map { natKey(IPProtocol.udp, $0.listen.address.value, $0.listen.port) })
        tunnelPrefixes = IPv4PrefixTable(config.vpnTunnels.flatMap { t in t.peers.flatMap { $0.allowedIPs.map { ($0, true) } } })
        hasTunnels = !config.vpnTunnels.isEmpty
        fragments = Array(repeating: FragmentOwner(), count: count > 1 ? FlowDispatcher.fragmentSlots : 0)
    }

    /// The worker for an Ethernet frame (one 802.1Q tag allowed; 802.1ad-tagged frames go to worker 0).
    public mutating func worker(frame: UnsafeRawBufferPointer) -> Int {
        guard count > 1, let eth = try? EthernetFrame(RawBytes(readOnly: frame)), eth.etherType == EtherType.ipv4,
              eth.tagProtocolIdentifier != EtherType.qinq else { return 0 }
        return worker(ipv4: eth.payload)
    }

    /// The worker for an IPv4 datagram (its header first; a capture may cut it short).
    public mutating func worker(ipv4 p: UnsafeRawBufferPointer) -> Int {
        guard count > 1 else { return 0 }
        return worker(ipv4: RawBytes(readOnly: p))
    }

    private mutating func worker(ipv4 bytes: RawBytes) -> Int {
        guard let ip = try? IPv4Header(headerOf: bytes) else { return 0 }
        let proto = ip.protocol
        let src = ip.source.value, dst = ip.destination.value
        let id = ip.identification
        if ip.fragmentOffset != 0 {
            if let w = fragmentOwner(src, dst, proto, id) { return w }
            return bucket(FlowDispatcher.ordered(UInt64(src), UInt64(dst)) ^ UInt64(id) << 8 ^ UInt64(proto))
        }
        var w: Int
        if proto == IPProtocol.icmp, let icmp = try? ICMPHeader(ip.payload), icmp.isError,
           let inner = quoted(icmp.body) {
            w = choose(inner.src, inner.srcPort, inner.dst, inner.dstPort, inner.proto)
        } else {
            let (sp, dp) = FlowDispatcher.ports(proto, ip.payload)
            w = choose(src, sp, dst, dp, proto)
        }
        if ip.moreFragments { rememberFragment(src, dst, proto, id, worker: w) }
        return w
    }

    // MARK: Rules

    private func choose(_ a: UInt32, _ pa: UInt16, _ b: UInt32, _ pb: UInt16, _ proto: UInt8) -> Int {
        if hasTunnels {
            if proto == IPProtocol.udp && (tunnelEndpoints.contains(natKey(proto, a, pa))
                                          || tunnelEndpoints.contains(natKey(proto, b, pb))) { return 0 }
            if tunnelPrefixes.lookup(IPv4Address(value: a)) != nil || tunnelPrefixes.lookup(IPv4Address(value: b)) != nil {
                return 0
            }
        }
        if let r = poolRanges.lookup(IPv4Address(value: a))?.value { return owner(pa, r, proto) }
        if let r = poolRanges.lookup(IPv4Address(value: b))?.value { return owner(pb, r, proto) }
        if !balancedEndpoints.isEmpty {
            if balancedEndpoints.contains(natKey(proto, b, pb)) { return bucket(UInt64(a) << 16 | UInt64(pa)) }
            if balancedEndpoints.contains(natKey(proto, a, pa)) { return bucket(UInt64(b) << 16 | UInt64(pb)) }
        }
        let ea = UInt64(a) << 16 | UInt64(pa), eb = UInt64(b) << 16 | UInt64(pb)
        let ga = gatewayInstances.lookup(IPv4Address(value: a))?.value, gb = gatewayInstances.lookup(IPv4Address(value: b))?.value
        let aTranslates = ga.map { !$0.network.contains(IPv4Address(value: b)) } ?? false
        let bTranslates = gb.map { !$0.network.contains(IPv4Address(value: a)) } ?? false
        if aTranslates || bTranslates {
            // Both only when two gateway networks talk: pick one endpoint by order so both directions agree.
            let (port, e, g) = aTranslates && (!bTranslates || ea < eb) ? (pa, ea, ga!) : (pb, eb, gb!)
            if proto == IPProtocol.icmp { return owner(port, (0, 65536), proto) }
            if (proto == IPProtocol.tcp || proto == IPProtocol.udp) && Int(port) >= g.lo && Int(port) < g.lo + g.size {
                return WorkerShare.owner(of: Int(port), lo: g.lo, size: g.size, count: count)
            }
            return bucket(e)
        }
        let ca = elasticIPs.lookup(IPv4Address(value: a))?.value ?? a
        let cb = elasticIPs.lookup(IPv4Address(value: b))?.value ?? b
        let x = UInt64(ca) << 16 | UInt64(pa), y = UInt64(cb) << 16 | UInt64(pb)
        return bucket(FlowDispatcher.ordered(x, y) ^ UInt64(proto) << 56)
    }

    @inline(__always)
    private func owner(_ port: UInt16, _ range: (lo: Int, size: Int), _ proto: UInt8) -> Int {
        proto == IPProtocol.icmp
            ? WorkerShare.owner(of: Int(port), lo: 0, size: 65536, count: count)
            : WorkerShare.owner(of: Int(port), lo: range.lo, size: range.size, count: count)
    }

    @inline(__always)
    private func bucket(_ x: UInt64) -> Int { Int(NATStage.mixBits(x) % UInt64(count)) }

    /// An order-independent combination of two endpoints.
    @inline(__always)
    static func ordered(_ x: UInt64, _ y: UInt64) -> UInt64 {
        let (lo, hi) = x < y ? (x, y) : (y, x)
        return NATStage.mixBits(lo) ^ hi
    }

    // MARK: Parsing

    /// Source and destination port; an ICMP echo's identifier stands for both.
    @inline(__always)
    static func ports(_ proto: UInt8, _ l4: RawBytes) -> (UInt16, UInt16) {
        switch proto {
        case IPProtocol.tcp, IPProtocol.udp:
            guard let ports = try? TransportPortsView(l4) else { return (0, 0) }
            return (ports.sourcePort, ports.destinationPort)
        case IPProtocol.icmp:
            guard let icmp = try? ICMPHeader(l4), icmp.isEcho else { return (0, 0) }
            return (icmp.identifier, icmp.identifier)
        default:
            return (0, 0)
        }
    }

    /// The endpoints of the datagram an ICMP error quotes (`q`: the error's body), as far as it is quoted.
    private func quoted(_ q: RawBytes) -> (src: UInt32, srcPort: UInt16, dst: UInt32, dstPort: UInt16, proto: UInt8)? {
        guard let ip = try? IPv4Header(headerOf: q) else { return nil }
        let (sp, dp) = FlowDispatcher.ports(ip.protocol, ip.payload)
        return (ip.source.value, sp, ip.destination.value, dp, ip.protocol)
    }

    // MARK: Fragments

    @inline(__always)
    private func fragmentSlot(_ addresses: UInt64, _ idProto: UInt32) -> Int {
        Int(truncatingIfNeeded: NATStage.mixBits(addresses ^ UInt64(idProto) << 20) >> 40) & (FlowDispatcher.fragmentSlots - 1)
    }

    private mutating func rememberFragment(_ src: UInt32, _ dst: UInt32, _ proto: UInt8, _ id: UInt16, worker: Int) {
        let a = UInt64(src) << 32 | UInt64(dst), b = UInt32(id) << 8 | UInt32(proto)
        fragments[fragmentSlot(a, b)] = FragmentOwner(addresses: a, idProto: b, worker: UInt32(worker))
    }

    private func fragmentOwner(_ src: UInt32, _ dst: UInt32, _ proto: UInt8, _ id: UInt16) -> Int? {
        let a = UInt64(src) << 32 | UInt64(dst), b = UInt32(id) << 8 | UInt32(proto)
        let s = fragments[fragmentSlot(a, b)]
        return s.addresses == a && s.idProto == b ? Int(s.worker) : nil
    }
}

/// A small, fixed set of non-zero 64-bit keys: open addressing over an array, built once.
struct EndpointSet: Sendable {
    private let slots: [UInt64]
    private let mask: Int
    var isEmpty: Bool { mask == 0 }

    init(_ keys: [UInt64]) {
        guard !keys.isEmpty else {
            slots = [0]
            mask = 0
            return
        }
        var n = 8
        while n < keys.count * 4 { n <<= 1 }
        var s = [UInt64](repeating: 0, count: n)
        for k in keys where k != 0 {
            var h = EndpointSet.home(k) & (n - 1)
            while s[h] != 0 && s[h] != k { h = (h + 1) & (n - 1) }
            s[h] = k
        }
        slots = s
        mask = n - 1
    }

    @inline(__always)
    static func home(_ k: UInt64) -> Int { Int(truncatingIfNeeded: NATStage.mixBits(k) >> 20) }

    @inline(__always)
    func contains(_ k: UInt64) -> Bool {
        guard mask != 0 else { return false }
        var h = EndpointSet.home(k) & mask
        while true {
            let s = slots[h]
            if s == k { return true }
            if s == 0 { return false }
            h = (h + 1) & mask
        }
    }
}
