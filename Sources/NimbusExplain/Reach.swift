import NimbusDataplane
import NimbusReplay
import NimbusWire

// `nimbus reach`: whether the first packet of a flow gets from FROM to TO and its reply comes back.
//
// One truth: nothing here decides what the rules allow. The question is turned into the first packet of
// the flow as a real Ethernet frame, run through a real `Dataplane` with tracing on; the reply is made
// from what actually left (addresses and ports swapped) and run through the same dataplane. The answer,
// the path and the blocking element are read off the trace and the verdicts. A replay of the same two
// frames through the same topology meets the same fate (the tests replay them to hold reach to that).

/// The transport of a reach question.
public enum ReachProtocol: String, Sendable, CaseIterable {
    case tcp, udp, icmp

    var number: UInt8 {
        switch self {
        case .tcp: IPProtocol.tcp
        case .udp: IPProtocol.udp
        case .icmp: IPProtocol.icmp
        }
    }
}

/// A FROM or TO that names nothing in the topology (or an unusable address); its message is one line
/// that lists the valid names.
public struct ReachError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The one element that stops the flow, as SPEC's `blocked-by` names it.
public struct ReachBlocker: Sendable, Equatable {
    /// `security-group`, `network-acl`, `route`, `anti-spoof`, `nat` or `load-balancer`.
    public enum Kind: String, Sendable, CaseIterable {
        case securityGroup = "security-group"
        case networkACL = "network-acl"
        case route
        case antiSpoof = "anti-spoof"
        case nat
        case loadBalancer = "load-balancer"
    }

    public var kind: Kind
    /// The element: the security groups (joined with ","), the ACL, the network, the port, the load balancer.
    public var name: String
    /// The network ACL rule number that denied it; nil for the default deny and for every other kind.
    public var rule: Int?
    /// `ingress`/`egress` (security groups), `inbound`/`outbound` (ACLs, NAT); nil otherwise.
    public var direction: String?

    public init(kind: Kind, name: String, rule: Int? = nil, direction: String? = nil) {
        self.kind = kind
        self.name = name
        self.rule = rule
        self.direction = direction
    }
}

/// One line of the path: a stage and what it decided, in the words of `--trace`.
public struct ReachStep: Sendable, Equatable {
    public var stage: String
    public var decision: String
}

/// What one frame met in the dataplane.
public struct ReachLeg: Sendable {
    /// The port it entered on and the frame as it entered.
    public var inPort: UInt16
    public var frame: [UInt8]
    /// Forwarded: the port it left on and the frame as it left. Nil when dropped or consumed.
    public var outPort: UInt16?
    public var output: [UInt8]?
    /// The drop reason (`.none` when not dropped).
    public var drop: DropReason
    /// The stage records of this frame.
    public var records: [TraceRecord]
    /// True when the dataplane itself answered (an echo reply from a gateway): `output` is the reply.
    public var answeredByRouter: Bool
}

/// The answer to one question.
public struct ReachAnswer: Sendable {
    public var reachable: Bool
    /// The first packet's stages, then the reply's, each leg opened by an `ingress` line.
    public var path: [ReachStep]
    public var blockedBy: ReachBlocker?
    public var first: ReachLeg
    /// Nil when the first packet did not get through (or the router answered it itself).
    public var reply: ReachLeg?
}

/// The question: who sends what to whom. Built by `Reach.query`.
public struct ReachQuery: Sendable {
    public var fromName: String
    public var toName: String
    public var proto: ReachProtocol
    /// The port the first packet enters on; its sender's MAC and address.
    public var inPort: UInt16
    public var sourceMAC: MACAddress
    public var source: IPv4Address
    /// The address and service port (tcp/udp) the first packet is sent to.
    public var destination: IPv4Address
    public var servicePort: UInt16
    /// Where the first packet must leave to have arrived: TO's port, a load balancer's targets, the
    /// uplink. Empty when TO is an address of the site that no instance holds (any way out counts).
    public var arrivalPorts: [UInt16]
}

/// Answers reach questions against one site with one dataplane, reset between questions.
public final class Reach {
    /// The address a flow from `internet` comes from, and the one a flow to `internet` goes to
    /// (TEST-NET-2, RFC 5737): public, and owned by no example topology (198.51.100.2 is a VPN endpoint).
    public static let internetSource = IPv4Address(198, 51, 100, 1)
    public static let internetDestination = IPv4Address(198, 51, 100, 100)
    /// The client's source port (TCP/UDP) and ICMP echo identifier of the first packet.
    public static let clientPort: UInt16 = 49152
    public static let echoIdentifier: UInt16 = 4242
    /// Capture times of the two frames: one second in, the reply a millisecond later.
    static let firstTime: UInt64 = 1_000_000_000
    static let replyTime: UInt64 = 1_001_000_000

    public let config: DataplaneConfig
    public let formatter: TraceFormatter
    private var dataplane: Dataplane
    private var batch = PacketBatch()
    /// Whether the dataplane has carried a question since it was made or reset.
    private var used = false

    /// A dataplane for `config` with seed 0, as `nimbus replay` runs by default: a replay of the same
    /// frames makes the same choices (NAT ports, targets).
    public init(config: DataplaneConfig) {
        self.config = config
        // A question makes at most two flows (and mappings) per table, so small tables do: a reset then
        // clears a few slots instead of a million-flow index. Capacity decides nothing else (NAT ports and
        // targets are chosen by seeded hashes and weights), so the answers are those of the full-size
        // dataplane a replay runs — the agreement tests hold reach to that.
        var small = config
        small.firewall?.maxFlows = 16
        dataplane = Dataplane(config: small, seed: 0)
        formatter = TraceFormatter(portNames: config.ports.map(\.name),
                                   tunnels: config.vpnTunnels.map { ($0.name, $0.peers.map(\.publicKey.base64)) },
                                   names: TraceNames(config: config))
    }

    // MARK: The question

    /// The instances, by name, in port order.
    public var instanceNames: [String] { config.ports.dropFirst().map(\.name) }

    /// Resolves FROM and TO. FROM: an instance, `internet` or an IPv4 address (sent from the internet);
    /// TO: an instance, a load balancer, an IPv4 address or `internet`. `port` defaults to the load
    /// balancer's first listener of the protocol, else 80 (ignored for ICMP).
    public func query(from: String, to: String, protocol proto: ReachProtocol, port: UInt16?) throws(ReachError) -> ReachQuery {
        let sender: (port: UInt16, mac: MACAddress, address: IPv4Address)
        if from == "internet" {
            sender = (DataplaneConfig.internetPort, config.upstreamMAC, Self.internetSource)
        } else if let p = config.port(named: from), p != DataplaneConfig.internetPort {
            sender = (p, config.ports[Int(p)].peerMAC, config.ports[Int(p)].ip)
        } else if let a = IPv4Address(from) {
            // An address always speaks from the internet side: an instance's own address given here is a
            // stranger using it (and anti-spoofing will say so).
            sender = (DataplaneConfig.internetPort, config.upstreamMAC, a)
        } else {
            throw ReachError("no instance named '\(from)'; FROM is one of: "
                             + (["internet"] + instanceNames).joined(separator: ", ") + ", or an IPv4 address"
                             + (from.contains(":") ? " (IPv6 is not routed yet)" : ""))
        }
        var q = ReachQuery(fromName: from, toName: to, proto: proto, inPort: sender.port, sourceMAC: sender.mac,
                           source: sender.address, destination: Self.internetDestination,
                           servicePort: port ?? 80, arrivalPorts: [DataplaneConfig.internetPort])
        let senderNetwork = config.ports[Int(sender.port)].network
        if to == "internet" {
            return q
        }
        if let p = config.port(named: to), p != DataplaneConfig.internetPort {
            q.destination = address(of: p, fromNetwork: senderNetwork)
            q.arrivalPorts = [p]
            return q
        }
        if let b = config.loadBalancers.firstIndex(where: { $0.name == to }) {
            let lb = config.loadBalancers[b]
            q.destination = lb.vip
            let listeners = lb.listeners.filter { $0.protocolNumber == proto.number }
            let listener = port.map { p in listeners.first { $0.port == p } } ?? listeners.first
            if let listener {
                q.servicePort = listener.port
                q.arrivalPorts = listener.targets.map(\.port)
            } else {
                // No listener for this protocol and port: the VIP is all there is to send to.
                q.arrivalPorts = lb.listeners.flatMap { $0.targets.map(\.port) }
            }
            return q
        }
        if let a = IPv4Address(to) {
            q.destination = a
            q.arrivalPorts = arrivalPorts(for: a, protocol: proto, port: port)
            return q
        }
        throw ReachError("no instance or load balancer named '\(to)'; TO is one of: "
                         + (["internet"] + instanceNames + config.loadBalancers.map(\.name)).joined(separator: ", ")
                         + ", or an IPv4 address" + (to.contains(":") ? " (IPv6 is not routed yet)" : ""))
    }

    /// The address a sender in `network` (-1: the internet) uses for the instance on `port`: its private
    /// address from inside its network; from outside, its public one (elastic IP, or its own address in a
    /// public-ip network). A nat-private instance without a public address has none, so outsiders can
    /// only try its private address.
    public func address(of port: UInt16, fromNetwork network: Int) -> IPv4Address {
        let p = config.ports[Int(port)]
        if network == p.network && network >= 0 { return p.ip }
        return p.publicIP ?? p.ip
    }

    /// Where a packet to address `a` must leave to have arrived: the instance holding it (private or
    /// public), a load balancer's targets, or the uplink when no network of the site contains it.
    func arrivalPorts(for a: IPv4Address, protocol proto: ReachProtocol, port: UInt16?) -> [UInt16] {
        if let p = config.ports.indices.dropFirst().first(where: { config.ports[$0].ip == a || config.ports[$0].publicIP == a }) {
            return [UInt16(p)]
        }
        if let lb = config.loadBalancers.first(where: { $0.vip == a }) {
            let listener = lb.listeners.first { $0.protocolNumber == proto.number && (port == nil || $0.port == port) }
            return (listener.map { [$0] } ?? lb.listeners).flatMap { $0.targets.map(\.port) }
        }
        let owned = config.networks.contains { $0.cidr.contains(a) } || config.extraPublicAddresses.contains(a)
        return owned ? [] : [DataplaneConfig.internetPort]
    }

    // MARK: Asking the dataplane

    /// Runs the question's first packet, then the reply to what left, through the dataplane (reset
    /// first, so every answer is that of a new dataplane).
    /// `explain: false` leaves the path empty (the matrix needs only the verdicts).
    public func answer(_ q: ReachQuery, explain: Bool = true) -> ReachAnswer {
        if used { dataplane.reset() }
        used = true
        let first = run(firstFrame(q), port: q.inPort, at: Self.firstTime)
        var path = explain ? steps(first, title: "first packet") : []
        guard let out = first.outPort, let output = first.output else {
            let blocker = blocker(first, q)
            return ReachAnswer(reachable: false, path: annotate(path, blocker.note), blockedBy: blocker.element,
                               first: first, reply: nil)
        }
        if first.answeredByRouter {
            // The gateway answered an echo itself: its reply is already on its way back.
            let back = out == q.inPort
            return ReachAnswer(reachable: back, path: path,
                               blockedBy: back ? nil : ReachBlocker(kind: .route, name: sourceNetworkName(q.inPort)),
                               first: first, reply: nil)
        }
        if !q.arrivalPorts.isEmpty && !q.arrivalPorts.contains(out) {
            // Forwarded, but somewhere else than TO: the routes led it astray.
            let b = ReachBlocker(kind: .route, name: sourceNetworkName(q.inPort))
            let note = "left on \(config.ports[Int(out)].name), not on \(q.arrivalPorts.map { config.ports[Int($0)].name }.joined(separator: " or "))"
            return ReachAnswer(reachable: false, path: annotate(path, note), blockedBy: b, first: first, reply: nil)
        }
        guard let replyFrame = Self.reply(to: output, from: config.ports[Int(out)].peerMAC, to: config.routerMAC) else {
            return ReachAnswer(reachable: false, path: path, blockedBy: ReachBlocker(kind: .route, name: "reply"),
                               first: first, reply: nil)
        }
        let reply = run(replyFrame, port: out, at: Self.replyTime)
        if explain { path += steps(reply, title: "reply") }
        if reply.outPort == q.inPort {
            return ReachAnswer(reachable: true, path: path, blockedBy: nil, first: first, reply: reply)
        }
        var blocker = blocker(reply, q)
        if let left = reply.outPort {
            blocker = (ReachBlocker(kind: .route, name: sourceNetworkName(out)),
                       "the reply left on \(config.ports[Int(left)].name), not on \(config.ports[Int(q.inPort)].name)")
        }
        return ReachAnswer(reachable: false, path: annotate(path, blocker.note), blockedBy: blocker.element,
                           first: first, reply: reply)
    }

    /// One frame through the dataplane, traced.
    func run(_ frame: [UInt8], port: UInt16, at time: UInt64) -> ReachLeg {
        batch.reset()
        _ = frame.withUnsafeBytes { batch.append($0, timestamp: time, port: port) }
        dataplane.context.trace.clear()
        dataplane.context.trace.limit = 1
        dataplane.process(&batch)
        let m = batch.meta[0]
        let records = dataplane.context.trace.records.filter { $0.packet == 0 }
        let forwarded = m.verdict == .forward
        return ReachLeg(inPort: port, frame: frame, outPort: forwarded ? m.outPort : nil,
                        output: forwarded ? batch.bytes(0).array : nil, drop: m.verdict == .drop ? m.drop : .none,
                        records: records, answeredByRouter: records.contains { $0.event == .echoReplied })
    }

    /// The first packet of the flow: a TCP SYN, a UDP datagram or an ICMP echo request, from the sender's
    /// MAC to the router's.
    public func firstFrame(_ q: ReachQuery) -> [UInt8] {
        switch q.proto {
        case .tcp:
            FrameBuilder.tcpFrame(sourceMAC: q.sourceMAC, destinationMAC: config.routerMAC, source: q.source,
                                  destination: q.destination, sourcePort: Self.clientPort, destinationPort: q.servicePort,
                                  flags: TCPHeader.syn, sequence: 1000)
        case .udp:
            FrameBuilder.udpFrame(sourceMAC: q.sourceMAC, destinationMAC: config.routerMAC, source: q.source,
                                  destination: q.destination, sourcePort: Self.clientPort, destinationPort: q.servicePort,
                                  payload: Array("nimbus reach".utf8))
        case .icmp:
            FrameBuilder.echoFrame(sourceMAC: q.sourceMAC, destinationMAC: config.routerMAC, source: q.source,
                                   destination: q.destination, identifier: Self.echoIdentifier, sequence: 1)
        }
    }

    /// The answer to a forwarded first packet, as its receiver (MAC `mac`) would send it back to the router:
    /// addresses and ports swapped; a SYN-ACK, a UDP datagram or an echo reply. Nil for anything else.
    public static func reply(to forwarded: [UInt8], from mac: MACAddress, to routerMAC: MACAddress) -> [UInt8]? {
        var bytes = forwarded
        return bytes.withUnsafeMutableBytes { buffer -> [UInt8]? in
            guard let eth = try? EthernetFrame(RawBytes(buffer)), eth.etherType == EtherType.ipv4,
                  let ip = try? IPv4Header(eth.payload) else { return nil }
            let l4 = ip.payload
            switch ip.protocol {
            case IPProtocol.tcp:
                guard let tcp = try? TCPHeader(l4) else { return nil }
                return FrameBuilder.tcpFrame(sourceMAC: mac, destinationMAC: routerMAC, source: ip.destination,
                                             destination: ip.source, sourcePort: tcp.destinationPort,
                                             destinationPort: tcp.sourcePort, flags: TCPHeader.syn | TCPHeader.ack,
                                             sequence: 5000, acknowledgment: tcp.sequenceNumber &+ 1)
            case IPProtocol.udp:
                guard let ports = try? TransportPortsView(l4) else { return nil }
                return FrameBuilder.udpFrame(sourceMAC: mac, destinationMAC: routerMAC, source: ip.destination,
                                             destination: ip.source, sourcePort: ports.destinationPort,
                                             destinationPort: ports.sourcePort, payload: Array("reply".utf8))
            case IPProtocol.icmp:
                guard let icmp = try? ICMPHeader(l4), icmp.type == ICMPHeader.echoRequest else { return nil }
                return FrameBuilder.echoFrame(sourceMAC: mac, destinationMAC: routerMAC, source: ip.destination,
                                              destination: ip.source, reply: true, identifier: icmp.identifier,
                                              sequence: icmp.sequence)
            default:
                return nil
            }
        }
    }

    // MARK: Reading the answer

    /// The IPv4 destination of an Ethernet frame (read through the wire views).
    static func destination(of frame: [UInt8]) -> IPv4Address? {
        var bytes = frame
        return bytes.withUnsafeMutableBytes { buffer -> IPv4Address? in
            guard let eth = try? EthernetFrame(RawBytes(buffer)), eth.etherType == EtherType.ipv4,
                  let ip = try? IPv4Header(eth.payload) else { return nil }
            return ip.destination
        }
    }

    /// The leg's trace as path steps, opened by the frame as it entered.
    func steps(_ leg: ReachLeg, title: String) -> [ReachStep] {
        var copy = leg.frame
        let summary = copy.withUnsafeMutableBytes { summarize(frame: RawBytes($0)) }
        return [ReachStep(stage: StageID.ingress.name, decision: "\(title) in \(config.ports[Int(leg.inPort)].name), \(summary)")]
            + leg.records.map { ReachStep(stage: $0.stage.name, decision: formatter.decision($0)) }
    }

    /// Appends reach's own explanation to the last step (the one that stopped the flow).
    func annotate(_ path: [ReachStep], _ note: String?) -> [ReachStep] {
        guard let note, !path.isEmpty else { return path }
        var p = path
        p[p.count - 1].decision += " — " + note
        return p
    }

    /// The name a `route` blocker gets: the network of the port the packet came from (its routes are the
    /// ones that lack the way), or `internet`.
    func sourceNetworkName(_ port: UInt16) -> String {
        let n = config.ports[Int(port)].network
        return n >= 0 ? config.networks[n].name : "internet"
    }

    /// The element that stopped a leg, from the drop reason the dataplane gave and what the stage recorded
    /// (see `ReachBlocker.kinds` for the whole mapping), and reach's note when the reason alone would
    /// mislead.
    func blocker(_ leg: ReachLeg, _ q: ReachQuery) -> (element: ReachBlocker, note: String?) {
        let record = leg.records.last { $0.event == .dropped }
        let reason = leg.drop == .none ? (record.flatMap { DropReason(rawValue: UInt16(truncatingIfNeeded: $0.a)) } ?? .none) : leg.drop
        let detail = record?.b ?? 0
        let destination = Self.destination(of: leg.frame) ?? .any
        guard leg.drop != .none || record != nil else {
            // Consumed (a VPN tunnel holds it for a handshake): it went into a tunnel, not to TO.
            return (ReachBlocker(kind: .route, name: sourceNetworkName(leg.inPort)), "taken into a VPN tunnel")
        }
        switch ReachBlocker.kind(of: reason) {
        case .securityGroup:
            let port = UInt32(detail)
            let groups = formatter.portGroups(port).joined(separator: ",")
            let direction = reason == .sgEgressDenied ? "egress" : reason == .sgIngressDenied ? "ingress" : nil
            if direction == nil {
                return (ReachBlocker(kind: .securityGroup, name: "conntrack"), "connection tracking refused it (\(reason.name))")
            }
            return (ReachBlocker(kind: .securityGroup, name: groups, direction: direction), nil)
        case .networkACL:
            let outbound = reason == .naclOutboundDenied
            guard let (acl, position) = NetworkACLStage.decodeTraceDetail(detail), acl < config.networkACLs.count else {
                return (ReachBlocker(kind: .networkACL, name: "?", direction: outbound ? "outbound" : "inbound"), nil)
            }
            let spec = config.networkACLs[acl]
            let rules = outbound ? spec.outbound : spec.inbound
            return (ReachBlocker(kind: .networkACL, name: spec.name, rule: position.map { rules[$0].number },
                                 direction: outbound ? "outbound" : "inbound"), nil)
        case .antiSpoof:
            return (ReachBlocker(kind: .antiSpoof, name: config.ports[Int(leg.inPort)].name), nil)
        case .loadBalancer:
            let name = detail > 0 && Int(detail) - 1 < config.loadBalancers.count ? config.loadBalancers[Int(detail) - 1].name
                : config.loadBalancers.first { $0.vip == destination }?.name ?? "?"
            return (ReachBlocker(kind: .loadBalancer, name: name), nil)
        case .nat:
            let gateway = config.natGateways.first { $0.publicIPs.contains(destination) }
            let network = gateway.map { config.networks[$0.network].name } ?? sourceNetworkName(leg.inPort)
            let inbound = record?.stage == .natIn
            return (ReachBlocker(kind: .nat, name: network, direction: inbound ? "inbound" : "outbound"), nil)
        case .route:
            let destinationNetwork = record?.stage == .router && reason == .noRoute && detail > 0 ? Int(detail) - 1 : nil
            if leg.inPort == DataplaneConfig.internetPort {
                if let n = destinationNetwork, config.networks[n].mode == .natPrivate {
                    // The router refuses private addresses from the internet; what would let a flow in is
                    // NAT (an elastic IP, or a mapping the instance opened), so NAT is what blocks it.
                    let note = "\(destination) is a private address of nat-private network \(config.networks[n].name): "
                        + "from the internet only an elastic IP or a mapping the instance opened leads in"
                    return (ReachBlocker(kind: .nat, name: config.networks[n].name, direction: "inbound"), note)
                }
                return (ReachBlocker(kind: .route, name: destinationNetwork.map { config.networks[$0].name } ?? "internet"), nil)
            }
            return (ReachBlocker(kind: .route, name: sourceNetworkName(leg.inPort)), nil)
        }
    }

    // MARK: The matrix

    /// Every instance and `internet` (rows) against every instance (columns): `ok` or the blocker's kind.
    public func matrix(protocol proto: ReachProtocol, port: UInt16?) -> (rows: [String], columns: [String], cells: [[String]]) {
        let columns = instanceNames
        let rows = columns + ["internet"]
        var cells: [[String]] = []
        for from in rows {
            var row: [String] = []
            for to in columns {
                // Names come from the config itself, so they resolve.
                guard let q = try? query(from: from, to: to, protocol: proto, port: port) else { row.append("?"); continue }
                let a = answer(q, explain: false)
                row.append(a.reachable ? "ok" : a.blockedBy?.kind.rawValue ?? "?")
            }
            cells.append(row)
        }
        return (rows, columns, cells)
    }
}

extension ReachBlocker {
    /// The kind of element each drop reason points at: the one table from the dataplane's words to
    /// reach's (README "Explaining a network" repeats it).
    ///
    /// | drop reasons | kind |
    /// |---|---|
    /// | `sg-ingress-denied`, `sg-egress-denied` (and `ct-*`, connection tracking) | security-group |
    /// | `nacl-inbound-denied`, `nacl-outbound-denied` | network-acl |
    /// | `spoofed-source` | anti-spoof |
    /// | `nat-no-mapping`, `nat-filtered`, `nat-port-exhausted`, `nat-table-full`, `nat-unsupported-protocol`; `no-route` from the internet to a nat-private network | nat |
    /// | `lb-no-healthy-target`, `lb-target-down`, `lb-table-full` | load-balancer |
    /// | `no-route`, `for-router`, `not-unicast`, `ttl-exceeded`, and anything else | route |
    public static func kind(of reason: DropReason) -> Kind {
        switch reason {
        case .sgIngressDenied, .sgEgressDenied, .ctInvalid, .ctTableFull, .ctFragmentUnmatched: .securityGroup
        case .naclInboundDenied, .naclOutboundDenied: .networkACL
        case .spoofedSource: .antiSpoof
        case .natNoMapping, .natFiltered, .natPortExhausted, .natTableFull, .natUnsupportedProtocol: .nat
        case .lbNoHealthyTarget, .lbTargetDown, .lbTableFull: .loadBalancer
        default: .route
        }
    }
}
