import NimbusWire

/// L4 load balancing: a listener on VIP:port sends each new flow to a target — round-robin (smooth,
/// weighted) or source-hash (a consistent Maglev table) — and every later packet of the flow to the same
/// target. Targets see the client's real address (DNAT only); their replies leave from the VIP. Works
/// from the internet and from instances (hairpin), for public and private (internal) VIPs.
///
/// Runs in two places: `inbound` before the router (DNAT of client packets; recognising targets'
/// replies), `outbound` after connection tracking (rewriting the replies' source to the VIP), so the
/// tracker and the targets' security groups see the real client and target.
///
/// Reads: IPv4 destination and L4 ports (client packets to a VIP listener), source and ports (targets'
/// replies), target health. Writes: destination or source address, port and checksums through
/// `IPv4Rewrite`; `dnat`, `lbReply`, `lbFlow`; its flow table.
/// Drops: `lb-no-healthy-target` (a new flow and no target up), `lb-target-down` (a packet of a flow whose
/// target went down: the flow is forgotten, so the client's next attempt finds a healthy target — a TCP
/// connection cannot move to another server, and failing it fast lets the client reconnect),
/// `lb-table-full` (no room for another flow).
public struct LoadBalancerStage: ~Copyable {
    private struct ListenerState {
        var lb: Int
        var vip: UInt32
        var proto: UInt8
        var port: UInt16
        var targetPort: UInt16
        var sourceHash: Bool
        var hashPort: Bool
        var targetPorts: [UInt16]
        var targetAddresses: [UInt32]
        var weights: [Int]
        /// Per target: index into `health` and `counters` (one slot per load balancer and instance).
        var slots: [Int]
        var roundRobin: SmoothRoundRobin
        var maglev: MaglevTable?
    }

    private var listeners: [ListenerState] = []
    private let listenerIndex: HashIndex<UInt64>
    private var health: [TargetHealth] = []
    public private(set) var counters: [TargetCounters] = []
    /// Per slot: (load balancer, instance port) — for reports and events.
    public private(set) var slotOwners: [(lb: Int, port: UInt16)] = []
    /// Flows by their client side (client endpoint and listener), with their lifecycle; `reverseMap`
    /// finds them by the target side.
    private var flows: FlowTable<UInt64, LBFlow>
    private var reverseMap: HashIndex<UInt64>
    private var fragments = FragmentTranslations()
    private let enabled: Bool
    private let portAddress: [UInt32]

    public init(config: DataplaneConfig) {
        let capacity = config.loadBalancers.isEmpty ? 1 : (config.firewall?.maxFlows ?? 1_000_000)
        var index = HashIndex<UInt64>(capacity: 1024)
        var slotOf: [String: Int] = [:]
        for (b, lb) in config.loadBalancers.enumerated() {
            for l in lb.listeners {
                var slots: [Int] = []
                for t in l.targets {
                    let key = "\(b)/\(t.port)"
                    if slotOf[key] == nil {
                        slotOf[key] = health.count
                        health.append(.up)
                        counters.append(TargetCounters())
                        slotOwners.append((b, t.port))
                    }
                    slots.append(slotOf[key]!)
                }
                let weights = l.targets.map { max(1, $0.weight) }
                var maglev: MaglevTable? = nil
                if l.sourceHash {
                    maglev = MaglevTable(keys: l.targets.map { stableHash(config.ports[Int($0.port)].name) }, weights: weights)
                }
                index.insert(LoadBalancerStage.listenerKey(lb.vip.value, l.protocolNumber, l.port), listeners.count)
                listeners.append(ListenerState(
                    lb: b, vip: lb.vip.value, proto: l.protocolNumber, port: l.port, targetPort: l.targetPort,
                    sourceHash: l.sourceHash, hashPort: l.hashPort, targetPorts: l.targets.map(\.port),
                    targetAddresses: l.targets.map { config.ports[Int($0.port)].ip.value }, weights: weights,
                    slots: slots, roundRobin: SmoothRoundRobin(count: l.targets.count), maglev: maglev))
            }
        }
        listenerIndex = index
        enabled = !listeners.isEmpty
        flows = FlowTable(capacity: capacity)
        reverseMap = HashIndex(capacity: capacity)
        portAddress = config.ports.map(\.ip.value)
    }

    /// Forgets every flow, marks every target up, zeroes the counters and restarts round-robin turns,
    /// as if new (the Maglev tables depend on the configuration alone and stay).
    public mutating func reset() {
        flows.reset()
        reverseMap.removeAll()
        fragments.reset()
        if health.contains(where: { $0 != .up }) {
            for i in health.indices { health[i] = .up }
            for l in listeners.indices where listeners[l].maglev != nil { listeners[l].maglev!.update { _ in true } }
        }
        for i in counters.indices { counters[i] = TargetCounters() }
        for l in listeners.indices { listeners[l].roundRobin.reset() }
    }

    static func listenerKey(_ vip: UInt32, _ proto: UInt8, _ port: UInt16) -> UInt64 {
        1 << 63 | UInt64(vip) << 24 | UInt64(proto) << 16 | UInt64(port)
    }

    @inline(__always)
    static func flowKey(_ a: UInt32, _ pa: UInt16, _ b: UInt32, _ pb: UInt16, _ proto: UInt8, _ tag: UInt64) -> UInt64 {
        // Ports in bits 16-47, protocol in 0-7, the tag above them all (a tag overlapping port A once made
        // client ports 1024 and 1280 one flow).
        let k = mix64(UInt64(a) << 32 | UInt64(b)) ^ mix64(UInt64(pa) << 32 | UInt64(pb) << 16 | UInt64(proto) | tag << 56)
        return k == 0 ? 1 : k
    }

    /// Sets a target's health (events in replay, health checks live). Returns false when the load
    /// balancer has no such target.
    @discardableResult
    public mutating func setHealth(loadBalancer: Int, port: UInt16, _ h: TargetHealth) -> Bool {
        guard let slot = slotOwners.firstIndex(where: { $0.lb == loadBalancer && $0.port == port }) else { return false }
        health[slot] = h
        for l in listeners.indices where listeners[l].lb == loadBalancer && listeners[l].maglev != nil {
            let slots = listeners[l].slots
            let current = health
            listeners[l].maglev!.update { current[slots[$0]] == .up }
        }
        return true
    }

    public func health(slot: Int) -> TargetHealth { health[slot] }

    // MARK: Per packet

    public mutating func beginBatch(_ batch: borrowing PacketBatch, _ conntrack: borrowing ConntrackStage) {
        guard enabled && batch.inputCount > 0 else { return }
        expire(now: batch.meta[0].timestamp)
        if flows.count > 65536 { prefetch(batch, conntrack) }  // as the NAT: only once out of cache
    }

    /// The NAT's batch prefetch for the load balancer: the map slots of every TCP/UDP packet to a listener
    /// (forward key) or from an instance (reverse key), then the flows they name, then for client packets
    /// the flow-table slot and entry of the flow as it will be tracked, after the rewrite to the target.
    @inline(__always)
    private func prefetch(_ batch: borrowing PacketBatch, _ conntrack: borrowing ConntrackStage) {
        let n = batch.inputCount
        for pass in 0..<4 {
            for i in 0..<n {
                guard let (proto, src, sport, dst, dport) = batch.portTuple(i) else { continue }
                let listener = listenerIndex.find(LoadBalancerStage.listenerKey(dst, proto, dport))
                guard listener != nil || batch.meta[i].inPort != DataplaneConfig.internetPort else { continue }
                let key = listener.map { LoadBalancerStage.flowKey(src, sport, UInt32($0), 0, proto, 1) }
                    ?? LoadBalancerStage.flowKey(src, sport, dst, dport, proto, 2)
                if pass == 0 {
                    if listener != nil { flows.prefetchSlot(key) } else { reverseMap.prefetch(key) }
                } else if let f = listener != nil ? flows.find(key) : reverseMap.find(key) {
                    if pass == 1 {
                        flows.entries.prefetch(f)
                    } else if let l = listener {
                        let (flow, _) = FlowKey.canonical(protocol: proto, source: src, sourcePort: sport,
                                                          destination: flows[f].targetAddress,
                                                          destinationPort: listeners[Int(l)].targetPort)
                        conntrack.prefetch(flow, entry: pass == 3)
                    }
                }
            }
        }
    }

    /// Client packets to a listener: pick or find the target, DNAT. Target packets of a balanced flow:
    /// mark them for the source rewrite after tracking.
    @inline(__always)
    public mutating func inbound(_ batch: inout PacketBatch, _ i: Int, _ ctx: inout StageContext) {
        guard enabled, batch.meta[i].etherType == EtherType.ipv4 else { return }
        let m = batch.meta[i]
        let ip = batch.bytes(i).suffix(from: Int(m.l3Offset))
        let proto = m.ipProtocol
        let dst = IPv4Header(unchecked: ip).destination.value, src = IPv4Header(unchecked: ip).source.value
        if !m.hasL4 {
            // Later fragments: to a VIP, follow their first fragment's target.
            if let to = fragments.find(IPv4Header(unchecked: ip), now: m.timestamp) {
                IPv4Header(unchecked: ip).setDestination(IPv4Address(value: to))
                batch.meta[i].dnat = true
            }
            return
        }
        guard proto == IPProtocol.tcp || proto == IPProtocol.udp else { return }
        let l4 = batch.bytes(i).suffix(from: Int(m.l4Offset))
        let ports = TransportPortsView(unchecked: l4)
        let sport = ports.sourcePort, dport = ports.destinationPort
        if let l = listenerIndex.find(LoadBalancerStage.listenerKey(dst, proto, dport)) {
            let reason = forward(&batch, i, ip, l4, Int(l), src: src, sport: sport, &ctx)
            if reason != .none {
                batch.drop(i, reason)
                // b: which load balancer refused it (index + 1), for the trace to name.
                ctx.trace.record(i, .loadBalancer, .dropped, UInt32(reason.rawValue), UInt32(listeners[Int(l)].lb + 1))
            }
            return
        }
        guard m.inPort != DataplaneConfig.internetPort else { return }
        let rkey = LoadBalancerStage.flowKey(src, sport, dst, dport, proto, 2)
        guard let f = reverseMap.find(rkey) else { return }
        let flow = flows[f]
        guard flow.targetAddress == src && flow.client == dst && flow.clientPort == dport && flow.proto == proto else { return }
        batch.meta[i].lbReply = true
        batch.meta[i].lbFlow = UInt32(f + 1)
    }

    private mutating func forward(_ batch: inout PacketBatch, _ i: Int, _ ip: RawBytes, _ l4: RawBytes, _ l: Int,
                                  src: UInt32, sport: UInt16, _ ctx: inout StageContext) -> DropReason {
        let m = batch.meta[i]
        let now = m.timestamp
        let proto = m.ipProtocol
        let key = LoadBalancerStage.flowKey(src, sport, UInt32(l), 0, proto, 1)
        var index: Int? = nil
        if let f = flows.find(key) {
            let flow = flows[f]
            if flow.client == src && flow.clientPort == sport && flow.proto == proto && Int(flow.listener) == l {
                if now >= LoadBalancerStage.deadline(flow) {
                    remove(f)
                } else if health[listeners[l].slots[Int(flow.target)]] == .down {
                    remove(f)
                    return .lbTargetDown
                } else {
                    index = f
                }
            }
        }
        if index == nil {
            guard let t = pick(l, client: src, clientPort: sport, clientPortNumber: m.inPort) else { return .lbNoHealthyTarget }
            let targetAddress = listeners[l].targetAddresses[t]
            let rkey = LoadBalancerStage.flowKey(targetAddress, listeners[l].targetPort, src, sport, proto, 2)
            let flow = LBFlow(client: src, clientPort: sport, proto: proto, teardown: TCPTeardown(), listener: UInt16(l),
                              target: UInt16(t), targetAddress: targetAddress, lastSeen: now, forwardKey: key, reverseKey: rkey)
            guard let f = flows.insert(key, flow, deadline: LoadBalancerStage.deadline(flow)) else { return .lbTableFull }
            reverseMap.insert(rkey, f)
            counters[listeners[l].slots[t]].flows += 1
            index = f
        }
        let f = index!
        var flow = flows[f]
        flow.lastSeen = now
        if proto == IPProtocol.tcp { flow.teardown.observe(TCPHeader(unchecked: l4).flags, fromOriginator: true) }
        flows[f] = flow
        let slot = listeners[l].slots[Int(flow.target)]
        counters[slot].packets += 1
        counters[slot].bytes += UInt64(m.length)
        if IPv4Header(unchecked: ip).moreFragments {
            fragments.record(IPv4Header(unchecked: ip), replacement: flow.targetAddress, now: now)
        }
        rewrite(ip, l4, proto, address: flow.targetAddress, port: listeners[l].targetPort, destination: true)
        batch.meta[i].dnat = true
        batch.meta[i].lbFlow = UInt32(f + 1)
        ctx.trace.record(i, .loadBalancer, .lbBalanced, flow.targetAddress, UInt32(listeners[l].targetPort))
        return .none
    }

    /// Targets' replies leave from the VIP and listener port.
    @inline(__always)
    public mutating func outbound(_ batch: inout PacketBatch, _ i: Int, _ ctx: inout StageContext) {
        guard batch.meta[i].lbReply else { return }
        let m = batch.meta[i]
        let f = Int(m.lbFlow) - 1
        var flow = flows[f]
        // Field by field: a copy of the whole listener would retain and release its arrays per packet.
        let l = Int(flow.listener)
        let vip = listeners[l].vip, port = listeners[l].port
        let ip = batch.bytes(i).suffix(from: Int(m.l3Offset))
        let l4 = batch.bytes(i).suffix(from: Int(m.l4Offset))
        flow.lastSeen = m.timestamp
        if flow.proto == IPProtocol.tcp { flow.teardown.observe(TCPHeader(unchecked: l4).flags, fromOriginator: false) }
        flows[f] = flow
        let slot = listeners[l].slots[Int(flow.target)]
        counters[slot].packets += 1
        counters[slot].bytes += UInt64(m.length)
        rewrite(ip, l4, flow.proto, address: vip, port: port, destination: false)
        ctx.trace.record(i, .loadBalancer, .lbReplied, vip, UInt32(port))
    }

    // MARK: Choosing

    private mutating func pick(_ l: Int, client: UInt32, clientPort: UInt16, clientPortNumber: UInt16) -> Int? {
        let h = health
        let slots = listeners[l].slots
        if listeners[l].sourceHash {
            let key = listeners[l].hashPort ? UInt64(client) << 16 | UInt64(clientPort) : UInt64(client)
            return listeners[l].maglev?.lookup(mix64(key))
        }
        // An instance reaching its own load balancer is not sent to itself while another target is up:
        // it could not tell its own reply from the request.
        let selfTarget = listeners[l].targetPorts.firstIndex(of: clientPortNumber)
        let others = listeners[l].targetPorts.indices.contains { $0 != selfTarget && h[slots[$0]] == .up }
        let weights = listeners[l].weights
        return listeners[l].roundRobin.next(weights: weights) { t in
            h[slots[t]] == .up && (!others || t != selfTarget)
        }
    }

    // MARK: Flows

    /// When an idle flow is gone: TCP 7440 s (10 s once closed), others 300 s after its last packet.
    @inline(__always)
    private static func deadline(_ f: LBFlow) -> UInt64 {
        let s: UInt64 = 1_000_000_000
        if f.proto == IPProtocol.tcp { return f.lastSeen + (f.teardown.isClosed ? 10 * s : 7440 * s) }
        return f.lastSeen + 300 * s
    }

    private mutating func remove(_ f: Int) {
        let flow = flows[f]
        reverseMap.remove(flow.reverseKey)
        flows.remove(f, key: flow.forwardKey)
    }

    /// Forgets flows idle past their timeout by `now`.
    public mutating func expire(now: UInt64) {
        guard enabled else { return }
        flows.entries.expire(now: now) { LoadBalancerStage.deadline($0) }
        for k in 0..<flows.entries.expiredCount { remove(flows.entries.expiredEntry(k)) }
    }

    @inline(__always)
    private func rewrite(_ ip: RawBytes, _ l4: RawBytes, _ proto: UInt8, address: UInt32, port: UInt16, destination: Bool) {
        IPv4Rewrite.rewrite(destination ? .destination : .source, of: IPv4Header(unchecked: ip), transport: l4,
                            protocol: proto, to: IPv4Address(value: address), port: port)
    }
}

/// One client's flow through a listener, pinned to the target its first packet picked.
struct LBFlow: BitwiseCopyable {
    var client: UInt32
    var clientPort: UInt16
    var proto: UInt8
    /// TCP: FINs and RSTs seen (the client opened the connection).
    var teardown: TCPTeardown
    var listener: UInt16
    var target: UInt16
    var targetAddress: UInt32
    var lastSeen: UInt64
    var forwardKey: UInt64
    var reverseKey: UInt64
}
