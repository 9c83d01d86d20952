import NimbusWire

/// Router: forwards IPv4 by destination address (never by destination MAC) using longest-prefix match
/// over the topology's instances, gateways, subnets and networks; what no site prefix covers goes to the
/// internet. Addresses of a nat-private network are reachable only from inside that network.
///
/// A routed hop (between subnets, or to or from the internet) needs a TTL above 1: otherwise the packet is
/// dropped here, before any filtering, and ICMP Time Exceeded goes back to the sender (RFC 1812).
///
/// Reads: IPv4 source, destination and TTL, the ingress port. Writes: `outPort` (or the local-delivery
/// marker for the dataplane's own addresses) and `routed` (the hop crosses subnets, so the TTL drops);
/// generates ICMP errors. Drops: `not-unicast`, `no-route`, `for-router`, `ttl-exceeded`,
/// `ipv6-not-routed`.
public struct RouterStage {
    /// `outPort` value for packets addressed to the dataplane itself (handled by `LocalStage`).
    public static let localDelivery: UInt16 = .max

    public let table: IPv4PrefixTable<Route>
    private let portNetwork: [Int32]
    private let portSubnet: [Int32]
    private let networkIsPublic: [Bool]
    /// Per port: a private instance that reaches beyond its network through NAT (gateway or elastic IP).
    private let portTranslates: [Bool]
    private let routerMAC: MACAddress
    private let peerMACs: [MACAddress]
    /// The address ICMP errors are sent from, per port: the gateway of the port's subnet.
    private let portGateway: [IPv4Address]
    private let firstGateway: IPv4Address
    /// Per VPN tunnel: the network it belongs to (where its decrypted packets come from).
    private let tunnelNetwork: [Int32]
    private var icmpIdentification: UInt16 = 0

    /// Back to the first ICMP identification, as if new.
    mutating func reset() { icmpIdentification = 0 }

    public init(config: DataplaneConfig) {
        var entries: [(IPv4CIDR, Route)] = []
        for (i, p) in config.ports.enumerated().dropFirst() {
            entries.append((IPv4CIDR(address: p.ip, prefixLength: 32),
                            Route(kind: .instance, port: UInt16(i), subnet: Int32(p.subnet), network: Int32(p.network))))
            if let pub = p.publicIP {
                entries.append((IPv4CIDR(address: pub, prefixLength: 32),
                                Route(kind: .reserved, port: 0, subnet: -1, network: -1)))
            }
        }
        for (s, subnet) in config.subnets.enumerated() {
            let n = Int32(subnet.network)
            entries.append((IPv4CIDR(address: subnet.gateway, prefixLength: 32),
                            Route(kind: .router, port: 0, subnet: Int32(s), network: n)))
            entries.append((IPv4CIDR(address: subnet.cidr.lastAddress, prefixLength: 32),
                            Route(kind: .broadcast, port: 0, subnet: Int32(s), network: n)))
            entries.append((subnet.cidr, Route(kind: .unassigned, port: 0, subnet: Int32(s), network: n)))
        }
        for (n, network) in config.networks.enumerated() {
            entries.append((network.cidr, Route(kind: .unassigned, port: 0, subnet: -1, network: Int32(n))))
        }
        for (t, tunnel) in config.vpnTunnels.enumerated() {
            for peer in tunnel.peers {
                for cidr in peer.allowedIPs {
                    entries.append((cidr, Route(kind: .tunnel, port: UInt16(t), subnet: -1, network: Int32(tunnel.network))))
                }
            }
        }
        tunnelNetwork = config.vpnTunnels.map { Int32($0.network) }
        for a in config.extraPublicAddresses {
            entries.append((IPv4CIDR(address: a, prefixLength: 32), Route(kind: .reserved, port: 0, subnet: -1, network: -1)))
        }
        table = IPv4PrefixTable(entries)
        portNetwork = config.ports.map { Int32($0.network) }
        portSubnet = config.ports.map { Int32($0.subnet) }
        networkIsPublic = config.networks.map { $0.mode == .publicIP }
        let natNetworks = Set(config.natGateways.map(\.network))
        portTranslates = config.ports.map { p in
            p.network >= 0 && config.networks[p.network].mode == .natPrivate && (p.publicIP != nil || natNetworks.contains(p.network))
        }
        routerMAC = config.routerMAC
        peerMACs = config.ports.map(\.peerMAC)
        portGateway = config.ports.map { $0.subnet >= 0 ? config.subnets[$0.subnet].gateway : .any }
        firstGateway = config.subnets.first?.gateway ?? .any
    }

    /// Routes one pending packet.
    @inline(__always)
    public mutating func handle(_ batch: inout PacketBatch, _ i: Int, _ ctx: inout StageContext) {
        switch batch.meta[i].etherType {
        case EtherType.ipv4:
            route(&batch, i, &ctx)
        case EtherType.ipv6:
            batch.drop(i, .ipv6NotRouted)
            ctx.trace.record(i, .router, .dropped, UInt32(DropReason.ipv6NotRouted.rawValue))
        default:
            break
        }
    }

    @inline(__always)
    private mutating func route(_ batch: inout PacketBatch, _ i: Int, _ ctx: inout StageContext) {
        let ip = IPv4Header(unchecked: batch.bytes(i).suffix(from: Int(batch.meta[i].l3Offset)))
        let src = ip.source
        let dst = ip.destination
        let inPort = batch.meta[i].inPort
        let tunnel = Int(batch.meta[i].fromTunnel)
        // A decrypted packet arrived on the uplink but comes from inside the tunnel's network.
        let fromInternet = inPort == DataplaneConfig.internetPort && tunnel == 0
        let srcNet = tunnel == 0 ? portNetwork[Int(inPort)] : tunnelNetwork[tunnel - 1]
        if dst.isMulticast || dst.isLimitedBroadcast || dst == .any || src.isMulticast || src.isLimitedBroadcast {
            return fail(&batch, i, .notUnicast, &ctx)
        }
        var found = table.lookup(dst)
        if let (r, prefix) = found, r.kind == .tunnel {
            // A tunnel's remote prefixes are routes of its own network only; elsewhere they are internet.
            if r.network == srcNet {
                batch.meta[i].outPort = DataplaneConfig.internetPort
                batch.meta[i].toTunnel = UInt8(r.port + 1)
                batch.meta[i].routed = true
                if ip.ttl <= 1 { return expire(&batch, i, &ctx) }
                ctx.trace.record(i, .router, .intoTunnel, UInt32(r.port), UInt32(prefix))
                return
            }
            found = nil
        }
        if tunnel != 0, found == nil || found!.0.kind != .instance {
            // Out of a tunnel, only the tunnel's network is reachable (no transit to the internet, no
            // traffic for the router itself).
            return fail(&batch, i, .noRoute, &ctx)
        }
        guard let (r, prefix) = found else {
            // Beyond every site prefix: the internet, for senders whose address is public.
            let lbReply = batch.meta[i].lbReply
            if !fromInternet && (networkIsPublic[Int(srcNet)] || portTranslates[Int(inPort)] || lbReply) {
                batch.meta[i].outPort = DataplaneConfig.internetPort
                batch.meta[i].routed = true
                // A target's reply leaves from the VIP (the load balancer rewrites it), not through NAT.
                if portTranslates[Int(inPort)] && !lbReply { batch.meta[i].snat = true }
                if ip.ttl <= 1 { return expire(&batch, i, &ctx) }
                ctx.trace.record(i, .router, .routed, 0, 0)
                return
            }
            return fail(&batch, i, .noRoute, &ctx)
        }
        // A private network is closed to everyone outside it; a public one is open to public senders.
        let translated = !fromInternet && tunnel == 0 && r.network != srcNet && portTranslates[Int(inPort)] && !batch.meta[i].lbReply
        // A destination the NAT or a load balancer rewrote is reachable: the public address was the way
        // in; so is the client of a target's reply.
        let reachable = r.network == srcNet || batch.meta[i].dnat || batch.meta[i].lbReply
            || (r.network >= 0 && networkIsPublic[Int(r.network)] && (fromInternet || networkIsPublic[Int(srcNet)] || translated))
        if translated && r.kind == .instance && reachable { batch.meta[i].snat = true }
        switch r.kind {
        case .instance where reachable:
            batch.meta[i].outPort = r.port
            batch.meta[i].routed = fromInternet || tunnel != 0 || portSubnet[Int(inPort)] != r.subnet
            if batch.meta[i].routed && ip.ttl <= 1 { return expire(&batch, i, &ctx) }
            ctx.trace.record(i, .router, .routed, UInt32(r.port), UInt32(prefix))
        case .router where reachable:
            let isEcho = batch.meta[i].ipProtocol == IPProtocol.icmp && batch.meta[i].hasL4
                && ICMPHeader(unchecked: batch.bytes(i).suffix(from: Int(batch.meta[i].l4Offset))).type == ICMPHeader.echoRequest
            guard isEcho else { return fail(&batch, i, .forRouter, &ctx) }
            batch.meta[i].outPort = RouterStage.localDelivery
            ctx.trace.record(i, .router, .toRouter, dst.value)
        case .broadcast:
            fail(&batch, i, .notUnicast, &ctx)
        default:
            // The destination's network goes into the trace: what tells "private, closed to outsiders"
            // from "nothing there".
            fail(&batch, i, .noRoute, &ctx, detail: r.network >= 0 ? UInt32(r.network) + 1 : 0)
        }
    }

    /// Drops the packet; `detail` (the trace record's `b`) is, for `no-route`, the destination's network + 1
    /// (0: outside every network).
    @inline(__always)
    private func fail(_ batch: inout PacketBatch, _ i: Int, _ reason: DropReason, _ ctx: inout StageContext,
                      detail: UInt32 = 0) {
        batch.drop(i, reason)
        ctx.trace.record(i, .router, .dropped, UInt32(reason.rawValue), detail)
    }

    private mutating func expire(_ batch: inout PacketBatch, _ i: Int, _ ctx: inout StageContext) {
        fail(&batch, i, .ttlExceeded, &ctx)
        // The answer to a packet out of a tunnel would have to go back sealed; it is not sent.
        if batch.meta[i].fromTunnel == 0 { sendTimeExceeded(&batch, i, &ctx) }
    }

    /// Sends ICMP Time Exceeded (type 11, code 0) back to packet `i`'s source, from the gateway of the
    /// sender's subnet (or of the destination's, for a sender from the internet).
    private mutating func sendTimeExceeded(_ batch: inout PacketBatch, _ i: Int, _ ctx: inout StageContext) {
        let inPort = batch.meta[i].inPort
        var from = portGateway[Int(inPort)]
        if from == .any {
            let out = batch.meta[i].outPort
            from = out != RouterStage.localDelivery ? portGateway[Int(out)] : firstGateway
        }
        guard let g = ICMPError.send(&batch, about: i, type: ICMPHeader.timeExceeded, code: 0, from: from,
                                     routerMAC: routerMAC, to: peerMACs[Int(inPort)],
                                     identification: icmpIdentification &+ 1) else { return }
        icmpIdentification &+= 1
        ctx.trace.record(i, .router, .icmpGenerated, UInt32(ICMPHeader.timeExceeded), UInt32(g))
    }
}

/// Where a destination address leads, as the router's prefix table stores it.
public struct Route: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        /// An instance's address: deliver on `port`.
        case instance
        /// A subnet gateway: the dataplane's own address.
        case router
        /// A subnet's directed broadcast address.
        case broadcast
        /// Inside a subnet or network, but no instance has it.
        case unassigned
        /// A public address of the site served by a stage this build does not route to.
        case reserved
        /// A VPN peer's allowed-ips: into tunnel `port` (its index), from inside `network` only.
        case tunnel
    }
    public var kind: Kind
    public var port: UInt16
    public var subnet: Int32
    public var network: Int32
}
