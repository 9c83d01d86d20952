import NimbusDataplane
import NimbusWire

/// One direction of a flow as it enters the dataplane: the port it enters on, addresses and L4 ports.
/// The source MAC is the port's peer's, the destination MAC the router's.
struct FlowTuple: Equatable, Sendable {
    var port: UInt16
    var sourcePort: UInt16
    var destinationPort: UInt16
    var source: UInt32
    var destination: UInt32

    static let none = FlowTuple(port: 0, sourcePort: 0, destinationPort: 0, source: 0, destination: 0)

    /// The tuple of the answer to a packet that left on `outPort` as `self` describes it.
    var mirrored: FlowTuple {
        FlowTuple(port: port, sourcePort: destinationPort, destinationPort: sourcePort, source: destination,
                  destination: source)
    }

    var text: String {
        "\(IPv4Address(value: source)):\(sourcePort) -> \(IPv4Address(value: destination)):\(destinationPort)"
    }
}

/// The clients behind one dataplane port: the addresses they send from and the source ports they use.
public struct ClientGroup: Sendable {
    public var name: String
    public var port: UInt16
    /// One /32 when the clients are an instance (anti-spoofing), a range for internet clients.
    public var sources: IPv4CIDR
    public var sourcePorts: ClosedRange<UInt16>
    /// Endpoints vary the address fastest (many clients with a connection or a few each), rather than
    /// the source port (a few clients with many connections each).
    public var addressesFirst = false

    var addressCount: Int { hostCount(sources) }
    var endpointCount: Int { addressCount * sourcePorts.count }

    /// Endpoint `k`: source ports vary fastest, then addresses (or the other way round).
    @inline(__always)
    func endpoint(_ k: Int) -> (address: UInt32, port: UInt16) {
        if addressesFirst {
            let n = addressCount
            return (host(sources, k % n), UInt16(Int(sourcePorts.lowerBound) + k / n))
        }
        let n = sourcePorts.count
        return (host(sources, k / n), UInt16(Int(sourcePorts.lowerBound) + k % n))
    }
}

/// Usable host addresses of a range: all of a /31 or /32, else without network and broadcast.
func hostCount(_ c: IPv4CIDR) -> Int {
    c.prefixLength >= 31 ? 1 << (32 - c.prefixLength) : (1 << (32 - c.prefixLength)) - 2
}

/// Host `k` of a range (see `hostCount`).
@inline(__always)
func host(_ c: IPv4CIDR, _ k: Int) -> UInt32 {
    (c.prefixLength >= 31 ? c.network.value : c.network.value &+ 1) &+ UInt32(truncatingIfNeeded: k)
}

/// What a kind of flow goes through.
public enum FlowKind: String, Sendable {
    /// To an instance's own address: routing, network ACLs, connection tracking, security groups.
    case direct
    /// From private instances out to the internet through a NAT gateway, and the replies back.
    case nat
    /// From clients to a load balancer's VIP, answered by the target each flow was given.
    case lb
}

/// One family of flows: clients (one or more groups) to a service, and what the dataplane must do to
/// the clients' packets on the way (checked on every flow opened).
public struct FlowSet: Sendable, CustomStringConvertible {
    /// What the dataplane must have done to a client's packet by the time it leaves on the server side.
    public enum Translation: Sendable {
        /// Nothing: addresses and ports as sent.
        case none
        /// Source NAT to an address of the pool (any port); destination kept.
        case source(pool: [IPv4Address])
        /// Destination rewritten to the target that left port carries, at the target port; source kept.
        case loadBalanced(targets: [(port: UInt16, address: IPv4Address)], targetPort: UInt16)
    }

    public var kind: FlowKind
    public var proto: UInt8
    public var clients: [ClientGroup]
    /// Endpoints taken from each group: the same number from each, dealt round-robin over the groups.
    public var endpointsPerGroup: Int
    /// What the clients send to: destination `d` is host `d` of this range (a /32: one address).
    public var destinations: IPv4CIDR
    public var service: UInt16
    public var serverName: String
    /// Ports the clients' packets may leave on (the servers' side); the replies enter there.
    public var serverPorts: [UInt16]
    public var translation: Translation

    public var endpointCount: Int { clients.count * endpointsPerGroup }
    public var destinationCount: Int { hostCount(destinations) }
    /// Distinct flows: every client endpoint to every destination.
    public var maximumFlows: Int { endpointCount * destinationCount }
    /// Distinct new flows that each make all the state a new flow of this kind makes: through NAT, a
    /// new mapping as well as a tracked flow, so one per client endpoint (a later flow from the same
    /// endpoint reuses the endpoint-independent mapping).
    public var maximumNewFlows: Int { kind == .nat ? endpointCount : maximumFlows }

    /// Flow `i` of this set as the client sends it: endpoints vary fastest (groups round-robin), then
    /// destinations.
    @inline(__always)
    func forward(_ i: Int) -> FlowTuple {
        let e = i % endpointCount, d = i / endpointCount
        let g = clients[e % clients.count]
        let (address, port) = g.endpoint(e / clients.count)
        return FlowTuple(port: g.port, sourcePort: port, destinationPort: service, source: address,
                         destination: host(destinations, d))
    }

    public var protocolName: String { proto == IPProtocol.tcp ? "tcp" : proto == IPProtocol.udp ? "udp" : "ip" }

    public var clientNames: String { clients.map(\.name).joined(separator: ", ") }
    public var clientSources: String { clients.map { $0.sources.description }.joined(separator: ", ") }
    public var destinationText: String {
        destinations.prefixLength == 32 ? destinations.network.description : destinations.description
    }

    /// How the packets are translated, for people.
    public func via(_ portNames: [String]) -> String? {
        switch translation {
        case .none: return nil
        case .source(let pool):
            return "NAT gateway " + pool.map(\.description).joined(separator: ", ")
        case .loadBalanced(let targets, let targetPort):
            return "targets " + targets.map { portNames[Int($0.port)] }.joined(separator: ", ") + " port \(targetPort)"
        }
    }

    public var description: String {
        "\(clientNames) \(clientSources) -> \(serverName) \(destinationText) \(protocolName)/\(service)"
    }

    /// Is `out` (a client packet as it left on `outPort`) what this set's translation promises for `sent`?
    func isTranslated(_ sent: FlowTuple, to out: FlowTuple, outPort: UInt16) -> Bool {
        guard serverPorts.contains(outPort) else { return false }
        switch translation {
        case .none:
            return out.source == sent.source && out.sourcePort == sent.sourcePort
                && out.destination == sent.destination && out.destinationPort == sent.destinationPort
        case .source(let pool):
            return pool.contains { $0.value == out.source } && out.destination == sent.destination
                && out.destinationPort == sent.destinationPort
        case .loadBalanced(let targets, let targetPort):
            return out.source == sent.source && out.sourcePort == sent.sourcePort && out.destinationPort == targetPort
                && targets.contains { $0.port == outPort && $0.address.value == out.destination }
        }
    }

    /// The instance ports that receive this set's first packets, with the service port as they see it.
    var receivers: (ports: [UInt16], service: UInt16)? {
        switch translation {
        case .none: return serverPorts.allSatisfy({ $0 != DataplaneConfig.internetPort }) ? (serverPorts, service) : nil
        case .source: return nil
        case .loadBalanced(let targets, let targetPort): return (targets.map(\.port), targetPort)
        }
    }

    // MARK: TCP and UDP conversations

    /// The TCP sequence numbers of every synthetic connection.
    static let clientISN: UInt32 = 1000, serverISN: UInt32 = 5000

    /// The untimed packets that open a flow before the established phase: for TCP the three-way
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

    /// L4 data bytes that make a frame of `frameLength` bytes (Ethernet header, 20-byte IPv4 header and
    /// the L4 header included).
    func payload(forFrameLength frameLength: Int) -> Int {
        frameLength - 14 - 20 - (proto == IPProtocol.udp ? 8 : 20)
    }
}

/// The traffic a bench run sends: one or more flow sets, interleaved flow by flow (flow `i` belongs to
/// set `i mod sets`), so every batch mixes them. Every flow is opened through the dataplane before it
/// is timed, and its replies are addressed as the dataplane translated its first packet (the NAT
/// gateway's public address and port, the load balancer's target), as a real server would see it.
public struct TrafficPlan: Sendable, CustomStringConvertible {
    public var sets: [FlowSet]
    public var routerMAC: MACAddress
    /// Per dataplane port: the MAC of the machine on the other end (source MAC of frames entering there).
    var peerMACs: [MACAddress]
    public var portNames: [String]

    init(sets: [FlowSet], config: DataplaneConfig) {
        self.sets = sets
        routerMAC = config.routerMAC
        peerMACs = config.ports.map(\.peerMAC)
        portNames = config.ports.map(\.name)
    }

    public var maximumFlows: Int { sets.count * (sets.map(\.maximumFlows).min() ?? 0) }
    public var maximumNewFlows: Int { sets.count * (sets.map(\.maximumNewFlows).min() ?? 0) }

    public var description: String { sets.map(\.description).joined(separator: " + ") }

    @inline(__always)
    func locate(_ i: Int) -> (set: Int, local: Int) { (i % sets.count, i / sets.count) }

    @inline(__always)
    func set(of i: Int) -> FlowSet { sets[i % sets.count] }

    /// Flow `i` (run-wide) as its client sends it.
    func forward(_ i: Int) -> FlowTuple {
        let (s, local) = locate(i)
        return sets[s].forward(local)
    }

    /// A frame of `tuple`, entering on its port; `toServer` picks the TCP sequence numbers.
    func frame(_ t: FlowTuple, proto: UInt8, toServer: Bool, tcpFlags: UInt8, payload: Int) -> [UInt8] {
        let data = [UInt8](repeating: 0xA5, count: max(0, payload))
        let mac = peerMACs[Int(t.port)]
        let source = IPv4Address(value: t.source), destination = IPv4Address(value: t.destination)
        if proto == IPProtocol.udp {
            return FrameBuilder.udpFrame(sourceMAC: mac, destinationMAC: routerMAC, source: source,
                                         destination: destination, sourcePort: t.sourcePort,
                                         destinationPort: t.destinationPort, payload: data)
        }
        let synSent: UInt32 = tcpFlags & TCPHeader.syn != 0 ? 0 : 1
        let seq = toServer ? FlowSet.clientISN &+ synSent : FlowSet.serverISN &+ synSent
        let ack: UInt32 = tcpFlags & TCPHeader.ack == 0
            ? 0 : (toServer ? FlowSet.serverISN &+ 1 : FlowSet.clientISN &+ 1)
        return FrameBuilder.tcpFrame(sourceMAC: mac, destinationMAC: routerMAC, source: source,
                                     destination: destination, sourcePort: t.sourcePort,
                                     destinationPort: t.destinationPort, flags: tcpFlags, sequence: seq,
                                     acknowledgment: ack, payload: data)
    }

    /// Addresses and ports of packet `i` of a processed batch, as it leaves (`port`: its out port).
    static func output(_ batch: borrowing PacketBatch, _ i: Int) -> FlowTuple? {
        guard let eth = try? EthernetFrame(batch.bytes(i)), eth.vlanID == nil, eth.etherType == EtherType.ipv4,
              let ip = try? IPv4Header(headerOf: eth.payload), let ports = try? TransportPortsView(ip.payload) else { return nil }
        return FlowTuple(port: batch.meta[i].outPort, sourcePort: ports.sourcePort, destinationPort: ports.destinationPort,
                         source: ip.source.value, destination: ip.destination.value)
    }

    /// Opens `flows` (run-wide indices, at most one batch of them) through `dataplane`: their opening
    /// packets in order, each step one batch. A flow's replies are addressed from how its first packet
    /// came out (`learned(k, reply)` gets the reply tuple of `flows[k]`). Every packet must be forwarded,
    /// the first translated as the flow's set promises, and the first reply delivered to the client as
    /// the exact mirror of what it sent. With `data`, one data packet each way follows and is checked
    /// the same way. Returns what went wrong, or nil.
    func open(_ flows: [Int], _ dataplane: inout Dataplane, _ batch: inout PacketBatch, timestamp: inout UInt64,
              payload: Int = 0, data: Bool = false, learned: (Int, FlowTuple) -> Void) -> String? {
        precondition(flows.count <= PacketBatch.inputCapacity)
        var replies = [FlowTuple](repeating: .none, count: flows.count)
        let steps = 3 + (data ? 2 : 0)
        for step in 0..<steps {
            var sent: [(k: Int, toServer: Bool, first: Bool, index: Int)] = []
            for (k, flow) in flows.enumerated() {
                let s = set(of: flow)
                var conversation = s.opening.map { (toServer: $0.toServer, flags: $0.flags) }
                if data {
                    conversation += [(toServer: true, flags: s.dataFlags), (toServer: false, flags: s.dataFlags)]
                }
                guard step < conversation.count else { continue }
                let (toServer, flags) = conversation[step]
                let tuple = toServer ? forward(flow) : replies[k]
                let f = frame(tuple, proto: s.proto, toServer: toServer, tcpFlags: flags, payload: payload)
                guard let i = f.withUnsafeBytes({ batch.append($0, timestamp: timestamp, port: tuple.port) }) else {
                    return "a frame of \(f.count) bytes does not fit a batch"
                }
                sent.append((k, toServer, step == 0, i))
            }
            dataplane.process(&batch)
            defer {
                batch.reset()
                timestamp &+= BenchClock.batchInterval
            }
            for p in sent {
                let flow = flows[p.k]
                let s = set(of: flow)
                let what = p.toServer ? "client packet" : "reply"
                let m = batch.meta[p.index]
                let sentTuple = p.toServer ? forward(flow) : replies[p.k]
                guard m.verdict == .forward else {
                    return "\(s.kind.rawValue) flow \(flow) \(sentTuple.text): \(what) dropped (\(m.drop.name))"
                }
                guard let out = TrafficPlan.output(batch, p.index) else {
                    return "\(s.kind.rawValue) flow \(flow): \(what) left as something other than IPv4"
                }
                if p.toServer {
                    guard s.isTranslated(sentTuple, to: out, outPort: m.outPort) else {
                        return "\(s.kind.rawValue) flow \(flow) \(sentTuple.text) left on \(portNames[Int(m.outPort)]) "
                            + "as \(out.text), not as the \(s.kind.rawValue) traffic should"
                    }
                    if p.first {
                        replies[p.k] = out.mirrored
                        learned(p.k, out.mirrored)
                    }
                } else {
                    let client = forward(flow)
                    guard out == client.mirrored else {
                        return "\(s.kind.rawValue) flow \(flow) \(client.text): the reply \(sentTuple.text) reached "
                            + "\(portNames[Int(m.outPort)]) as \(out.text), not as the answer the client expects"
                    }
                }
            }
        }
        return nil
    }

    /// Does the dataplane carry this set's traffic: a few flows (the first of every client group, the
    /// last endpoint, the last destination) opened, translated and answered as promised, and one data
    /// packet each way?
    static func proves(_ set: FlowSet, _ config: DataplaneConfig) -> Bool {
        let plan = TrafficPlan(sets: [set], config: config)
        guard set.maximumFlows > 0 else { return false }
        var probe = config.withFlowCapacity(16)
        probe.firewall?.maxFlows = 16
        var dp = Dataplane(config: probe)
        var batch = PacketBatch(arenaSize: 1 << 16)
        var now: UInt64 = BenchClock.baseTimestamp
        var sample = Array(0..<min(set.clients.count, 8))
        for f in [set.endpointCount - 1, set.maximumFlows - 1] where !sample.contains(f) { sample.append(f) }
        return plan.open(sample, &dp, &batch, timestamp: &now, payload: 6, data: true) { _, _ in } == nil
    }
}
