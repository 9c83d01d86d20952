import NimbusWire

/// NAT for nat-private networks: the NAT gateway (endpoint-independent mapping and, by default,
/// address-and-port-dependent filtering, RFC 4787/5382/5508), elastic IPs (1:1, ports kept) and
/// hairpinning. It runs in two passes: `inbound` before the router rewrites destinations that are the
/// site's public NAT addresses to the instance behind them; `outbound` after the security groups
/// rewrites the private source of packets leaving for the internet (or hairpinning back in) to its
/// public mapping. Checksums are patched incrementally (RFC 1624); a UDP checksum of zero stays zero.
///
/// Reads: IPv4 addresses, L4 ports or echo identifiers (also inside ICMP errors), the ingress port, the
/// flow table (filtering asks conntrack whether the instance sent to the remote). Writes: addresses,
/// ports, identifiers and checksums through `IPv4Rewrite`; `snat`, `dnat`, `flowHint`; its mapping table.
/// Drops: `nat-no-mapping` (inbound to a public NAT endpoint nobody holds), `nat-filtered` (a remote the
/// instance never sent to), `nat-port-exhausted`, `nat-table-full` (no room for another mapping),
/// `nat-unsupported-protocol` (no ports to map through a shared gateway address), `ct-fragment-unmatched`
/// (a later fragment whose first was not translated), `no-route` (out to the internet from a port with
/// no gateway).
public struct NATStage: ~Copyable {
    private let gateways: [NATGatewayConfig]
    /// Per gateway, the fields the per-packet path reads, without the address pool: reading a whole
    /// `NATGatewayConfig` would retain its array on every packet.
    private struct Policy {
        var tcpEstablished, tcpTransitory, udp, icmp: UInt64
        var endpointIndependentFiltering: Bool
    }
    private let policies: [Policy]
    /// Per port: elastic IP (0 = none), and the NAT gateway of its network (-1 = none).
    private let portEIP: [UInt32]
    private let portGateway: [Int16]
    /// Public NAT addresses: elastic IP -> internal address (value), gateway pool address -> marker.
    private let elasticIPs: IPv4PrefixTable<UInt32>
    private let poolAddresses: IPv4PrefixTable<UInt32>
    /// Which port an internal address belongs to (for hairpin marking) is not needed: the ingress port says.
    /// Mappings by their internal endpoint, with their lifecycle; `external` finds them by the public one.
    private var table: FlowTable<UInt64, NATMapping>
    private var external: HashIndex<UInt64>
    /// Ports in use per (gateway pool address, protocol class): detects exhaustion without probing.
    private var used: [Int]
    private var fragments = FragmentTranslations()
    private let seed: UInt64
    /// This worker's share of the site: it allocates ports only from its share of each range.
    private let share: WorkerShare
    /// Mappings made and expired so far, alive now, and the most alive at once.
    public var created: UInt64 { table.entries.created }
    public var expired: UInt64 { table.entries.expired }
    public var live: Int { table.count }
    public var peak: Int { table.peak }

    public init(config: DataplaneConfig, seed: UInt64, share: WorkerShare = .single) {
        self.share = share
        gateways = config.natGateways
        policies = config.natGateways.map {
            Policy(tcpEstablished: $0.tcpEstablished, tcpTransitory: $0.tcpTransitory, udp: $0.udp, icmp: $0.icmp,
                   endpointIndependentFiltering: $0.endpointIndependentFiltering)
        }
        let capacity = max(1, config.natGateways.isEmpty ? 1 : (config.firewall?.maxFlows ?? 1_000_000))
        var gatewayOfNetwork = [Int16](repeating: -1, count: config.networks.count)
        for (g, gw) in config.natGateways.enumerated() where gw.network < gatewayOfNetwork.count {
            gatewayOfNetwork[gw.network] = Int16(g)
        }
        portEIP = config.ports.map { $0.publicIP?.value ?? 0 }
        portGateway = config.ports.map { $0.network >= 0 ? gatewayOfNetwork[$0.network] : -1 }
        elasticIPs = IPv4PrefixTable(config.ports.compactMap { p in
            p.publicIP.map { (IPv4CIDR(address: $0, prefixLength: 32), p.ip.value) }
        })
        var pool: [(IPv4CIDR, UInt32)] = []
        var index: UInt32 = 0
        for gw in config.natGateways {
            for a in gw.publicIPs {
                pool.append((IPv4CIDR(address: a, prefixLength: 32), index))
                index += 1
            }
        }
        poolAddresses = IPv4PrefixTable(pool)
        used = Array(repeating: 0, count: Int(index) * 3)
        table = FlowTable(capacity: capacity)
        external = HashIndex(capacity: capacity)
        self.seed = seed
    }

    /// Forgets every mapping, as if new.
    public mutating func reset() {
        table.reset()
        external.removeAll()
        for i in used.indices { used[i] = 0 }
        fragments.reset()
    }

    /// True when a port's instance can reach beyond its private network (through the gateway or its
    /// elastic IP).
    public func canTranslate(port: UInt16) -> Bool {
        portEIP[Int(port)] != 0 || portGateway[Int(port)] >= 0
    }

    /// The public endpoint the gateway gave an instance's (protocol, private address, port or echo
    /// identifier), while that mapping is alive at `now`; nil when it holds none.
    public func gatewayMapping(protocol proto: UInt8, address: IPv4Address, port: UInt16,
                               now: UInt64) -> (address: IPv4Address, port: UInt16)? {
        guard let idx = table.find(natKey(proto, address.value, port)) else { return nil }
        let m = table[idx]
        guard !isExpired(m, now) else { return nil }
        return (IPv4Address(value: UInt32(truncatingIfNeeded: m.externalKey >> 16)), UInt16(truncatingIfNeeded: m.externalKey))
    }

    // MARK: Inbound

    /// Frees mappings that expired before the batch's first packet.
    public mutating func beginBatch(_ batch: borrowing PacketBatch, _ conntrack: borrowing ConntrackStage) {
        guard !(gateways.isEmpty && elasticIPs.isEmpty) && batch.inputCount > 0 else { return }
        expireDue(now: batch.meta[0].timestamp)
        // Measured: a net loss while the maps fit in cache.
        if table.count > 65536 { prefetch(batch, conntrack) }
    }

    /// As the flow table does: first the map slots every TCP/UDP packet of the batch will look up (replies
    /// from the internet by their public address and port, instance packets by their private ones), then
    /// the mappings those slots name, so the lookups in `inbound`/`outbound` find them in cache. Then, for
    /// replies from the internet, the flow-table slot and entry of the flow they belong to once translated
    /// (the filter and conntrack look it up; conntrack's own prefetch only knows the public address).
    @inline(__always)
    private func prefetch(_ batch: borrowing PacketBatch, _ conntrack: borrowing ConntrackStage) {
        let n = batch.inputCount
        for pass in 0..<4 {
            for i in 0..<n {
                guard let t = batch.portTuple(i) else { continue }
                let fromInternet = batch.meta[i].inPort == DataplaneConfig.internetPort
                let key = fromInternet ? natKey(t.proto, t.destination, t.destinationPort) : natKey(t.proto, t.source, t.sourcePort)
                if pass == 0 {
                    if fromInternet { external.prefetch(key) } else { table.prefetchSlot(key) }
                } else if pass == 1 {
                    if let idx = fromInternet ? external.find(key) : table.find(key) { table.entries.prefetch(idx) }
                } else if fromInternet, let idx = external.find(key) {
                    let internalKey = table[idx].internalKey
                    let (flow, _) = FlowKey.canonical(protocol: t.proto, source: t.source, sourcePort: t.sourcePort,
                                                      destination: UInt32(truncatingIfNeeded: internalKey >> 16),
                                                      destinationPort: UInt16(truncatingIfNeeded: internalKey))
                    conntrack.prefetch(flow, entry: pass == 3)
                }
            }
        }
    }

    /// Frees mappings idle past their timeout by `now` (no packet needed).
    public mutating func expire(now: UInt64) {
        if !(gateways.isEmpty && elasticIPs.isEmpty) { expireDue(now: now) }
    }

    /// Rewrites a destination that is a public NAT address to the instance behind it.
    @inline(__always)
    public mutating func inbound(_ batch: inout PacketBatch, _ i: Int, _ ctx: inout StageContext,
                                 _ conntrack: borrowing ConntrackStage) {
        if gateways.isEmpty && elasticIPs.isEmpty { return }
        guard batch.meta[i].etherType == EtherType.ipv4 else { return }
        let ip = batch.bytes(i).suffix(from: Int(batch.meta[i].l3Offset))
        let dst = IPv4Header(unchecked: ip).destination.value
        let reason: DropReason
        if let (internalAddress, _) = elasticIPs.lookup(IPv4Address(value: dst)) {
            reason = translateInboundElastic(&batch, i, ip, internalAddress, &ctx)
        } else if poolAddresses.lookup(IPv4Address(value: dst)) != nil {
            reason = translateInboundGateway(&batch, i, ip, &ctx, conntrack)
        } else {
            return
        }
        if reason != .none {
            batch.drop(i, reason)
            ctx.trace.record(i, .natIn, .dropped, UInt32(reason.rawValue))
            return
        }
        batch.meta[i].dnat = true
        if batch.meta[i].inPort != DataplaneConfig.internetPort {
            // Hairpin: an instance reached a public NAT address of the site; the source goes out
            // translated too, so the replies come back through here (RFC 4787 REQ-9).
            batch.meta[i].snat = true
        }
    }

    @inline(__always)
    private mutating func translateInboundElastic(_ batch: inout PacketBatch, _ i: Int, _ ip: RawBytes,
                                                  _ internalAddress: UInt32, _ ctx: inout StageContext) -> DropReason {
        let m = batch.meta[i]
        let proto = m.ipProtocol
        if !m.hasL4 {
            // Later fragments carry no ports: the address alone is translated.
            rewrite(.destination, ip, internalAddress, port: nil, m)
            return .none
        }
        if proto == IPProtocol.icmp && isICMPError(batch, i) {
            // An error about what the instance sent from its elastic IP: restore the quoted source.
            let l4 = batch.bytes(i).suffix(from: Int(m.l4Offset))
            guard IPv4Rewrite.rewriteQuoted(.source, icmpMessage: l4, to: IPv4Address(value: internalAddress), port: nil) else {
                return .natNoMapping
            }
            rewrite(.destination, ip, internalAddress, port: nil, m)
            ICMPHeader(unchecked: l4).updateChecksum()
            return .none
        }
        if IPv4Header(unchecked: ip).moreFragments {
            fragments.record(IPv4Header(unchecked: ip), replacement: internalAddress, now: m.timestamp)
        }
        rewrite(.destination, ip, internalAddress, port: nil, m)
        ctx.trace.record(i, .natIn, .natTranslated, internalAddress, 0)
        return .none
    }

    @inline(__always)
    private mutating func translateInboundGateway(_ batch: inout PacketBatch, _ i: Int, _ ip: RawBytes,
                                                  _ ctx: inout StageContext, _ conntrack: borrowing ConntrackStage) -> DropReason {
        let m = batch.meta[i]
        let proto = m.ipProtocol
        let now = m.timestamp
        if !m.hasL4 {
            guard let to = fragments.find(IPv4Header(unchecked: ip), now: now) else {
                return .ctFragmentUnmatched
            }
            rewrite(.destination, ip, to, port: nil, m)
            return .none
        }
        let l4 = batch.bytes(i).suffix(from: Int(m.l4Offset))
        if proto == IPProtocol.icmp && isICMPError(batch, i) {
            return translateInboundICMPError(ip, l4, m, &ctx, i)
        }
        guard let port = NATStage.mappedPort(proto, l4, inbound: true) else { return .natNoMapping }
        guard let idx = external.find(natKey(proto, IPv4Header(unchecked: ip).destination.value, port)) else { return .natNoMapping }
        var mapping = table[idx]
        guard !isExpired(mapping, now) else {
            removeExpired(idx)
            return .natNoMapping
        }
        let internalAddress = UInt32(truncatingIfNeeded: mapping.internalKey >> 16)
        let internalPort = UInt16(truncatingIfNeeded: mapping.internalKey)
        if !policies[Int(mapping.gateway)].endpointIndependentFiltering {
            // Only a remote the instance has sent to may answer (the flow it opened is still tracked).
            let remotePort = proto == IPProtocol.icmp ? internalPort : TransportPortsView(unchecked: l4).sourcePort
            let localPort = internalPort
            let (key, _) = FlowKey.canonical(protocol: proto, source: IPv4Header(unchecked: ip).source.value, sourcePort: remotePort,
                                             destination: internalAddress, destinationPort: localPort)
            if conntrack.isEnabled {
                guard let e = conntrack.liveFlow(key, now: now) else { return .natFiltered }
                batch.meta[i].flowHint = UInt32(e + 1)
            }
        }
        if IPv4Header(unchecked: ip).moreFragments {
            fragments.record(IPv4Header(unchecked: ip), replacement: internalAddress, now: now)
        }
        mapping.lastSeen = now
        mapping.seenInbound = true
        if proto == IPProtocol.tcp { mapping.teardown.observe(TCPHeader(unchecked: l4).flags, fromOriginator: false) }
        table[idx] = mapping
        rewrite(.destination, ip, internalAddress, port: internalPort, m)
        ctx.trace.record(i, .natIn, .natTranslated, internalAddress, UInt32(internalPort))
        return .none
    }

    /// An ICMP error from the internet about a flow the gateway translated: the quoted datagram is what we
    /// sent (public source); restore the instance's address and port inside it and on the outer header.
    private mutating func translateInboundICMPError(_ ip: RawBytes, _ icmp: RawBytes, _ m: PacketMeta,
                                                   _ ctx: inout StageContext, _ i: Int) -> DropReason {
        guard let quoted = QuotedIPv4Datagram(icmpMessage: icmp) else { return .natNoMapping }
        let innerProto = quoted.protocol
        guard let port = NATStage.mappedPort(innerProto, quoted.payload, inbound: false) else { return .natNoMapping }
        guard let idx = external.find(natKey(innerProto, quoted.source, port)) else { return .natNoMapping }
        let mapping = table[idx]
        let internalAddress = UInt32(truncatingIfNeeded: mapping.internalKey >> 16)
        let internalPort = UInt16(truncatingIfNeeded: mapping.internalKey)
        guard IPv4Rewrite.rewriteQuoted(.source, icmpMessage: icmp, to: IPv4Address(value: internalAddress), port: internalPort) else {
            return .natNoMapping
        }
        rewrite(.destination, ip, internalAddress, port: nil, m)
        ICMPHeader(unchecked: icmp).updateChecksum()
        ctx.trace.record(i, .natIn, .natTranslated, internalAddress, UInt32(internalPort))
        return .none
    }

    // MARK: Outbound

    /// Rewrites the private source of a packet marked for translation to its public mapping.
    @inline(__always)
    public mutating func outbound(_ batch: inout PacketBatch, _ i: Int, _ ctx: inout StageContext) {
        guard batch.meta[i].snat else { return }
        let reason = translateOutbound(&batch, i, &ctx)
        if reason != .none {
            batch.drop(i, reason)
            ctx.trace.record(i, .natOut, .dropped, UInt32(reason.rawValue))
        }
    }

    @inline(__always)
    private mutating func translateOutbound(_ batch: inout PacketBatch, _ i: Int, _ ctx: inout StageContext) -> DropReason {
        let m = batch.meta[i]
        let ip = batch.bytes(i).suffix(from: Int(m.l3Offset))
        let proto = m.ipProtocol
        let src = IPv4Header(unchecked: ip).source.value
        let now = m.timestamp
        // The instance that sent it: the ingress port, or for a hairpinned reply, the owner of the source.
        let port = Int(m.inPort)
        let eip = portEIP[port]
        if !m.hasL4 {
            let to = eip != 0 ? eip : fragments.find(IPv4Header(unchecked: ip), now: now)
            guard let to else { return .ctFragmentUnmatched }
            rewrite(.source, ip, to, port: nil, m)
            return .none
        }
        let l4 = batch.bytes(i).suffix(from: Int(m.l4Offset))
        if proto == IPProtocol.icmp && isICMPError(batch, i) {
            return translateOutboundICMPError(ip, l4, m, eip: eip, &ctx, i)
        }
        if eip != 0 {
            if IPv4Header(unchecked: ip).moreFragments { fragments.record(IPv4Header(unchecked: ip), replacement: eip, now: now) }
            rewrite(.source, ip, eip, port: nil, m)
            ctx.trace.record(i, .natOut, .natTranslated, eip, 0)
            return .none
        }
        let g = portGateway[port]
        guard g >= 0 else { return .noRoute }
        guard let localPort = NATStage.mappedPort(proto, l4, inbound: false) else { return .natUnsupportedProtocol }
        let key = natKey(proto, src, localPort)
        var idx = table.find(key)
        if let found = idx, isExpired(table[found], now) {
            removeExpired(found)
            idx = nil
        }
        if idx == nil {
            let (made, reason) = allocate(key, proto: proto, gateway: Int(g), now: now)
            guard let made else { return reason }
            idx = made
        }
        var mapping = table[idx!]
        mapping.lastSeen = now
        if proto == IPProtocol.tcp { mapping.teardown.observe(TCPHeader(unchecked: l4).flags, fromOriginator: true) }
        table[idx!] = mapping
        let external = UInt32(truncatingIfNeeded: mapping.externalKey >> 16)
        let externalPort = UInt16(truncatingIfNeeded: mapping.externalKey)
        if IPv4Header(unchecked: ip).moreFragments { fragments.record(IPv4Header(unchecked: ip), replacement: external, now: now) }
        rewrite(.source, ip, external, port: externalPort, m)
        ctx.trace.record(i, .natOut, .natTranslated, external, UInt32(externalPort))
        return .none
    }

    /// An ICMP error an instance sends about a packet it received through NAT: the quoted datagram's
    /// destination is the instance's private endpoint; show the public one instead.
    private mutating func translateOutboundICMPError(_ ip: RawBytes, _ icmp: RawBytes, _ m: PacketMeta, eip: UInt32,
                                                    _ ctx: inout StageContext, _ i: Int) -> DropReason {
        guard let quoted = QuotedIPv4Datagram(icmpMessage: icmp) else { return .natNoMapping }
        let innerProto = quoted.protocol
        var external = eip
        var externalPort: UInt16? = nil
        if eip == 0 {
            guard let port = NATStage.mappedPort(innerProto, quoted.payload, inbound: true),
                  let idx = table.find(natKey(innerProto, quoted.destination, port)) else { return .natNoMapping }
            external = UInt32(truncatingIfNeeded: table[idx].externalKey >> 16)
            externalPort = UInt16(truncatingIfNeeded: table[idx].externalKey)
        }
        // Quoted destination (the instance) -> public endpoint.
        IPv4Rewrite.rewriteQuoted(.destination, icmpMessage: icmp, to: IPv4Address(value: external), port: externalPort)
        rewrite(.source, ip, external, port: nil, m)
        ICMPHeader(unchecked: icmp).updateChecksum()
        ctx.trace.record(i, .natOut, .natTranslated, external, UInt32(externalPort ?? 0))
        return .none
    }

    // MARK: Mappings

    /// The port a mapping is keyed on: TCP/UDP source (outbound) or destination (inbound) port, the ICMP
    /// echo identifier; nil for protocols without one.
    @inline(__always)
    static func mappedPort(_ proto: UInt8, _ l4: RawBytes, inbound: Bool) -> UInt16? {
        switch proto {
        case IPProtocol.tcp, IPProtocol.udp:
            guard let ports = try? TransportPortsView(l4) else { return nil }
            return inbound ? ports.destinationPort : ports.sourcePort
        case IPProtocol.icmp:
            guard let icmp = try? ICMPHeader(l4), icmp.isEcho else { return nil }
            return icmp.identifier
        default:
            return nil
        }
    }

    @inline(__always)
    private func timeout(_ m: NATMapping) -> UInt64 { NATStage.timeout(m, policies) }

    private static func timeout(_ m: NATMapping, _ policies: [Policy]) -> UInt64 {
        let g = policies[Int(m.gateway)]
        switch UInt8(truncatingIfNeeded: m.internalKey >> 48) {
        case IPProtocol.tcp:
            // Established once both directions have been seen, until FIN both ways or RST.
            return m.seenInbound && !m.teardown.isClosed ? g.tcpEstablished : g.tcpTransitory
        case IPProtocol.udp: return g.udp
        default: return g.icmp
        }
    }

    /// When an idle mapping is gone: its last use plus its timeout.
    private static func deadline(_ m: NATMapping, _ policies: [Policy]) -> UInt64 { m.lastSeen + timeout(m, policies) }

    @inline(__always)
    private func isExpired(_ m: NATMapping, _ now: UInt64) -> Bool { now >= m.lastSeen + timeout(m) }

    /// Creates a mapping: the gateway address is chosen by the internal address alone ("paired", RFC 4787
    /// REQ-2); the port is the instance's own when free, else the first free one after a seeded hash.
    private mutating func allocate(_ key: UInt64, proto: UInt8, gateway g: Int, now: UInt64) -> (Int?, DropReason) {
        guard !table.isFull else { return (nil, .natTableFull) }
        let gw = gateways[g]
        guard !gw.publicIPs.isEmpty else { return (nil, .natPortExhausted) }
        let internalAddress = UInt32(truncatingIfNeeded: key >> 16)
        let internalPort = UInt16(truncatingIfNeeded: key)
        let external = NATStage.pairedAddress(for: IPv4Address(value: internalAddress), pool: gw.publicIPs, seed: seed).value
        guard let (poolIndex, _) = poolAddresses.lookup(IPv4Address(value: external)) else { return (nil, .natPortExhausted) }
        let usedSlot = Int(poolIndex) * 3 + (proto == IPProtocol.tcp ? 0 : proto == IPProtocol.udp ? 1 : 2)
        // The port range is for TCP and UDP; ICMP echo identifiers may use the whole 16-bit space, so
        // they are kept as they are whenever free (as Linux does).
        // With several workers each allocates from its own share of the range (every n-th port), so a
        // reply's port names its owner; the dispatcher sends an endpoint whose port is in the range to the
        // worker owning that port, so keeping the instance's port works with any number of workers.
        let isICMP = proto == IPProtocol.icmp
        let lo = isICMP ? 0 : Int(gw.ports.lowerBound)
        let mine = share.ports(lo: lo, size: isICMP ? 65536 : Int(gw.ports.upperBound) - lo + 1)
        guard used[usedSlot] < mine.ports else { return (nil, .natPortExhausted) }
        var port = Int(internalPort)
        let keep = port >= mine.first && (port - mine.first) % mine.stride == 0 && (port - mine.first) / mine.stride < mine.ports
        if !keep || self.external.find(natKey(proto, external, UInt16(port))) != nil {
            var k = Int(mix(key ^ seed &* 0x9E37_79B9) % UInt64(mine.ports))
            var tries = 0
            while self.external.find(natKey(proto, external, UInt16(mine.first + k * mine.stride))) != nil {
                k = (k + 1) % mine.ports
                tries += 1
                if tries >= mine.ports { return (nil, .natPortExhausted) }
            }
            port = mine.first + k * mine.stride
        }
        let externalKey = natKey(proto, external, UInt16(port))
        let mapping = NATMapping(internalKey: key, externalKey: externalKey, lastSeen: now, gateway: UInt16(g),
                                 poolIndex: UInt16(poolIndex), seenInbound: false, teardown: TCPTeardown())
        let idx = table.insert(key, mapping, deadline: now + timeout(mapping))!  // not full: checked above
        self.external.insert(externalKey, idx)
        used[usedSlot] += 1
        return (idx, .none)
    }

    /// Forgets a mapping found expired on use, before its timer fired.
    private mutating func removeExpired(_ idx: Int) {
        table.entries.countExpired()
        remove(idx)
    }

    private mutating func remove(_ idx: Int) {
        let m = table[idx]
        external.remove(m.externalKey)
        table.remove(idx, key: m.internalKey)
        let proto = UInt8(truncatingIfNeeded: m.internalKey >> 48)
        used[Int(m.poolIndex) * 3 + (proto == IPProtocol.tcp ? 0 : proto == IPProtocol.udp ? 1 : 2)] -= 1
    }

    /// Frees mappings idle past their timeout (the wheel reminds; the mapping's last use decides).
    private mutating func expireDue(now: UInt64) {
        let policies = self.policies
        table.entries.expire(now: now) { NATStage.deadline($0, policies) }
        for k in 0..<table.entries.expiredCount { remove(table.entries.expiredEntry(k)) }
    }

    /// The pool address an internal address is paired with: a seeded hash of the internal address alone,
    /// so every mapping of one instance uses one public IP (RFC 4787 REQ-2) and replays are reproducible.
    public static func pairedAddress(for internalAddress: IPv4Address, pool: [IPv4Address], seed: UInt64) -> IPv4Address {
        pool[Int(mixBits(UInt64(internalAddress.value) ^ seed) % UInt64(pool.count))]
    }

    @inline(__always)
    private func mix(_ x: UInt64) -> UInt64 { NATStage.mixBits(x) }

    @inline(__always)
    static func mixBits(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    // MARK: Header rewriting

    @inline(__always)
    private func isICMPError(_ batch: borrowing PacketBatch, _ i: Int) -> Bool {
        ICMPHeader(unchecked: batch.bytes(i).suffix(from: Int(batch.meta[i].l4Offset))).isError
    }

    /// New address (and port or echo identifier) on one side, every checksum patched (RFC 1624).
    @inline(__always)
    private func rewrite(_ side: IPEndpointSide, _ ip: RawBytes, _ address: UInt32, port: UInt16?, _ m: PacketMeta) {
        IPv4Rewrite.rewrite(side, of: IPv4Header(unchecked: ip),
                            transport: m.hasL4 ? ip.suffix(from: Int(m.l4Offset - m.l3Offset)) : nil,
                            protocol: m.ipProtocol, to: IPv4Address(value: address), port: port)
    }
}

/// The address a translated datagram's later fragments are rewritten to, remembered from its first
/// fragment (virtual reassembly keyed on source, destination, protocol and IP id). Direct-mapped and
/// fixed in size, like `FragmentCache`.
struct FragmentTranslations {
    private struct Slot {
        var addresses: UInt64 = 0
        var idProto: UInt32 = 0
        var replacement: UInt32 = 0
        var expires: UInt64 = 0
    }
    private var slots = [Slot](repeating: Slot(), count: 4096)
    private var used = false

    @inline(__always)
    private func index(_ a: UInt64, _ b: UInt32) -> Int {
        Int(truncatingIfNeeded: ((a ^ UInt64(b) &* 0x9E37_79B9_7F4A_7C15) &* 0xBF58_476D_1CE4_E5B9) >> 52)
    }

    mutating func record(_ src: UInt32, _ dst: UInt32, _ proto: UInt8, _ id: UInt16, replacement: UInt32, now: UInt64) {
        let a = UInt64(src) << 32 | UInt64(dst), b = UInt32(id) << 8 | UInt32(proto)
        slots[index(a, b)] = Slot(addresses: a, idProto: b, replacement: replacement, expires: now + FragmentCache.lifetime)
        used = true
    }

    mutating func reset() {
        if used {
            for i in slots.indices { slots[i] = Slot() }
            used = false
        }
    }

    /// Remembers the address datagram `ip`'s later fragments are rewritten to (from its first fragment,
    /// before the rewrite).
    mutating func record(_ ip: IPv4Header, replacement: UInt32, now: UInt64) {
        record(ip.source.value, ip.destination.value, ip.protocol, ip.identification, replacement: replacement, now: now)
    }

    /// The address a later fragment of `ip`'s datagram is rewritten to, if its first fragment was.
    func find(_ ip: IPv4Header, now: UInt64) -> UInt32? {
        find(ip.source.value, ip.destination.value, ip.protocol, ip.identification, now: now)
    }

    func find(_ src: UInt32, _ dst: UInt32, _ proto: UInt8, _ id: UInt16, now: UInt64) -> UInt32? {
        let a = UInt64(src) << 32 | UInt64(dst), b = UInt32(id) << 8 | UInt32(proto)
        let s = slots[index(a, b)]
        return s.addresses == a && s.idProto == b && s.expires > now ? s.replacement : nil
    }
}

/// One translation of the NAT gateway: an internal endpoint and the public endpoint it appears as.
struct NATMapping: BitwiseCopyable {
    /// protocol << 48 | address << 16 | port, for both sides.
    var internalKey: UInt64
    var externalKey: UInt64
    var lastSeen: UInt64
    /// The gateway (index into the NAT configs) whose port pool it holds a port of.
    var gateway: UInt16
    var poolIndex: UInt16
    /// The remote side has answered through it.
    var seenInbound: Bool
    /// TCP: FINs and RSTs seen (the instance opened the connection).
    var teardown: TCPTeardown
}

@inline(__always) func natKey(_ proto: UInt8, _ address: UInt32, _ port: UInt16) -> UInt64 {
    UInt64(proto) << 48 | UInt64(address) << 16 | UInt64(port)
}
