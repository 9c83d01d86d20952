import NimbusDataplane
import NimbusWire

/// The traffic a bench run sends: many clients on one side of the dataplane talking to one service on an
/// instance on the other side. Picked from the topology by `TrafficPlan.find`, which proves each
/// candidate with the dataplane itself (a whole handshake and a data packet each way must be forwarded).
public struct TrafficPlan: Sendable, CustomStringConvertible {
    public var proto: UInt8
    /// Where the clients' packets enter (0: the internet uplink) and the server's.
    public var clientPort: UInt16
    public var serverPort: UInt16
    public var clientName: String
    public var serverName: String
    /// Source MACs of frames entering on each side (the port's peer), and the router's MAC they go to.
    public var clientMAC: MACAddress
    public var serverMAC: MACAddress
    public var routerMAC: MACAddress
    /// The addresses clients send from (one /32 when the client is an instance: anti-spoofing).
    public var clientSources: IPv4CIDR
    public var serverAddress: IPv4Address
    public var service: UInt16

    /// Source ports a client address uses, from 1024 up.
    static let portsPerAddress = 64512

    /// Usable client addresses: the hosts of the range (all of it for a /31 or /32).
    var addressCount: Int {
        let len = clientSources.prefixLength
        return len >= 31 ? 1 << (32 - len) : (1 << (32 - len)) - 2
    }

    /// The most distinct flows the plan can make.
    public var maximumFlows: Int { addressCount * Self.portsPerAddress }

    /// The client end of flow `i`: source ports vary fastest, then addresses.
    @inline(__always)
    func client(_ i: Int) -> (address: IPv4Address, port: UInt16) {
        let a = i / Self.portsPerAddress
        let first = clientSources.prefixLength >= 31 ? clientSources.network.value : clientSources.network.value &+ 1
        return (IPv4Address(value: first &+ UInt32(a)), UInt16(1024 + i % Self.portsPerAddress))
    }

    public var protocolName: String { proto == IPProtocol.tcp ? "tcp" : proto == IPProtocol.udp ? "udp" : "ip" }

    public var description: String {
        "\(clientName) \(clientSources) -> \(serverName) \(serverAddress) \(protocolName)/\(service)"
    }

    // MARK: frames

    /// The TCP sequence numbers of every synthetic connection.
    static let clientISN: UInt32 = 1000, serverISN: UInt32 = 5000

    /// A frame of flow `i`, client to server or back; `payload` bytes of data after the L4 header.
    func frame(flow i: Int, toServer: Bool, tcpFlags: UInt8, payload: Int) -> [UInt8] {
        let (ca, cp) = client(i)
        let data = [UInt8](repeating: 0xA5, count: max(0, payload))
        let (smac, sip, sport, dip, dport) = toServer
            ? (clientMAC, ca, cp, serverAddress, service) : (serverMAC, serverAddress, service, ca, cp)
        if proto == IPProtocol.udp {
            return FrameBuilder.udpFrame(sourceMAC: smac, destinationMAC: routerMAC, source: sip, destination: dip,
                                         sourcePort: sport, destinationPort: dport, payload: data)
        }
        let synSent: UInt32 = tcpFlags & TCPHeader.syn != 0 ? 0 : 1
        let seq = toServer ? Self.clientISN &+ synSent : Self.serverISN &+ synSent
        let ack: UInt32 = tcpFlags & TCPHeader.ack == 0 ? 0 : (toServer ? Self.serverISN &+ 1 : Self.clientISN &+ 1)
        return FrameBuilder.tcpFrame(sourceMAC: smac, destinationMAC: routerMAC, source: sip, destination: dip,
                                     sourcePort: sport, destinationPort: dport, flags: tcpFlags, sequence: seq,
                                     acknowledgment: ack, payload: data)
    }

    /// L4 data bytes that make a frame of `frameLength` bytes (Ethernet header, 20-byte IPv4 header and
    /// the L4 header included).
    func payload(forFrameLength frameLength: Int) -> Int {
        frameLength - 14 - 20 - (proto == IPProtocol.udp ? 8 : 20)
    }

    /// The untimed packets that open flow `i` before the established phase: for TCP the three-way
    /// handshake, for UDP one packet each way. (Each entry: toServer, flags.)
    var opening: [(toServer: Bool, flags: UInt8)] {
        proto == IPProtocol.tcp
            ? [(true, TCPHeader.syn), (false, TCPHeader.syn | TCPHeader.ack), (true, TCPHeader.ack)]
            : [(true, 0), (false, 0)]
    }

    /// The first packet of a new flow (a SYN for TCP).
    var firstFlags: UInt8 { proto == IPProtocol.tcp ? TCPHeader.syn : 0 }
    /// A data packet of an established flow.
    var dataFlags: UInt8 { proto == IPProtocol.tcp ? TCPHeader.ack | TCPHeader.psh : 0 }

    // MARK: finding traffic in a topology

    /// Clients on the internet send from 198.18.0.0/15, the range RFC 2544 sets aside for benchmarks.
    static let benchmarkRange = IPv4CIDR(address: IPv4Address(198, 18, 0, 0), prefixLength: 15)

    /// The first candidate (internet clients before instance clients, HTTPS and HTTP before other
    /// services, TCP before UDP) whose handshake and data the dataplane forwards under `config`.
    public static func find(config: DataplaneConfig) -> TrafficPlan? {
        var probe = config.withFlowCapacity(16)
        probe.firewall?.maxFlows = 16
        for plan in candidates(config) where works(plan, probe) { return plan }
        return nil
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

    static func candidates(_ config: DataplaneConfig) -> [TrafficPlan] {
        var out: [TrafficPlan] = []
        let ports = config.ports
        guard ports.count > 1 else { return [] }
        // Internet clients first: the bulk of a cloud's new flows.
        for p in 1..<ports.count {
            for s in services(config, port: p) {
                var ranges: [IPv4CIDR] = []
                if s.peers.contains(where: { $0.covers(benchmarkRange) }) { ranges.append(benchmarkRange) }
                for peer in s.peers where peer.prefixLength <= 30 && !peer.covers(benchmarkRange) { ranges.append(peer) }
                for r in ranges {
                    out.append(plan(config, client: 0, server: p, proto: s.proto, service: s.port, sources: r))
                }
            }
        }
        // Then instance to instance.
        for p in 1..<ports.count {
            for s in services(config, port: p) {
                for q in 1..<ports.count where q != p && s.peers.contains(where: { $0.contains(ports[q].ip) }) {
                    out.append(plan(config, client: q, server: p, proto: s.proto, service: s.port,
                                    sources: IPv4CIDR(address: ports[q].ip, prefixLength: 32)))
                }
            }
        }
        return out
    }

    static func plan(_ config: DataplaneConfig, client: Int, server: Int, proto: UInt8, service: UInt16,
                     sources: IPv4CIDR) -> TrafficPlan {
        TrafficPlan(proto: proto, clientPort: UInt16(client), serverPort: UInt16(server),
                    clientName: config.ports[client].name, serverName: config.ports[server].name,
                    clientMAC: config.ports[client].peerMAC, serverMAC: config.ports[server].peerMAC,
                    routerMAC: config.routerMAC, clientSources: sources, serverAddress: config.ports[server].ip,
                    service: service)
    }

    /// Does the dataplane carry this plan's traffic: the opening packets and one data packet each way of
    /// the first and the last client address, every one forwarded out of the right port?
    static func works(_ plan: TrafficPlan, _ config: DataplaneConfig) -> Bool {
        var dp = Dataplane(config: config)
        var batch = PacketBatch(arenaSize: 1 << 16)
        var now: UInt64 = BenchClock.baseTimestamp
        let last = plan.addressCount > 1 ? (plan.addressCount - 1) * TrafficPlan.portsPerAddress : 1
        for flow in [0, last] {
            let steps = plan.opening + [(toServer: true, flags: plan.dataFlags), (toServer: false, flags: plan.dataFlags)]
            for step in steps {
                let f = plan.frame(flow: flow, toServer: step.toServer, tcpFlags: step.flags, payload: 6)
                let inPort = step.toServer ? plan.clientPort : plan.serverPort
                let outPort = step.toServer ? plan.serverPort : plan.clientPort
                now += 1000
                guard let i = f.withUnsafeBytes({ batch.append($0, timestamp: now, port: inPort) }) else { return false }
                dp.process(&batch)
                let ok = batch.meta[i].verdict == .forward && batch.meta[i].outPort == outPort
                batch.reset()
                if !ok { return false }
            }
        }
        return true
    }
}

extension TrafficPlan {
    /// Adds `count` ingress rules to the first group of the server's port, none of which admits the plan's
    /// traffic: half on other ports (more port intervals to search), half on the service port from
    /// other peers (a bigger prefix table where the traffic's rule lives). Peers come from 100.64.0.0/10.
    func addingRules(_ count: Int, to config: DataplaneConfig) -> DataplaneConfig {
        guard count > 0, var fw = config.firewall, Int(serverPort) < fw.portGroups.count else { return config }
        var rules: [SecurityRuleSpec] = []
        rules.reserveCapacity(count)
        for k in 0..<count {
            let peer = IPv4CIDR(address: IPv4Address(value: 0x6440_0000 | UInt32(k & 0x3F_FFFF)), prefixLength: 32)
            var port = UInt16(1024 + (k &* 7919) % 60000)
            if port == service { port &+= 1 }
            let ports: [ClosedRange<UInt16>] = k % 2 == 0 ? [port...port] : [service...service]
            rules.append(SecurityRuleSpec(protocolNumber: proto, ports: ports, peers: [peer]))
        }
        guard let g = fw.portGroups[Int(serverPort)].first, g < fw.groups.count else { return config }
        fw.groups[g].ingress += rules
        var c = config
        c.firewall = fw
        return c
    }

    /// Rules of the server port's groups in the direction the traffic's first packet is checked.
    func ingressRuleCount(_ config: DataplaneConfig) -> Int {
        guard let fw = config.firewall, Int(serverPort) < fw.portGroups.count else { return 0 }
        return fw.portGroups[Int(serverPort)].reduce(0) { $0 + (($1 < fw.groups.count) ? fw.groups[$1].ingress.count : 0) }
    }
}
