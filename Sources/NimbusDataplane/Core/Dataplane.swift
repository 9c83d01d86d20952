import NimbusVPN
import NimbusWire

/// One dataplane worker: the stage pipeline of a site, its counters, clock and trace log.
///
/// The pipeline is a fixed sequence of concrete stages, called directly (static dispatch, no protocol,
/// no existentials); adding a stage means adding a call in `process`. It has three segments:
///
/// 1. Batch stages, each over the whole batch before the next (VPP's vector model): classify, anti-spoof,
///    ARP. They keep no state between packets, so nothing is lost by running them batch-wide.
/// 2. The stateful segment, packet by packet in arrival order, so that a packet sees the state its
///    predecessors in the same batch created (a reply right behind its request finds the NAT mapping and
///    the flow): VPN timers and decryption, load-balancer DNAT, NAT inbound, router, network ACLs,
///    connection tracking with the security groups, load-balancer reply SNAT, NAT outbound, VPN sealing.
///    Before the loop, conntrack, NAT and the load balancer expire what is due and prefetch the table
///    slots the batch will touch (their `beginBatch`).
/// 3. Batch stages again: local delivery (echo replies from the gateways) and egress (TTL, MACs).
///
/// A stage that decides or rewrites packets takes the batch `inout`; one that only looks takes it
/// `borrowing`. A packet stops at the first stage that decides it (`verdict` no longer `.pending`).
public struct Dataplane: ~Copyable {
    public let config: DataplaneConfig
    public private(set) var counters: Counters
    public var context: StageContext

    private var classify = ClassifyStage()
    private var antiSpoof: AntiSpoofStage
    private var arp: ARPResponderStage
    private var router: RouterStage
    private var networkACL: NetworkACLStage
    private var conntrack: ConntrackStage
    private var nat: NATStage
    private var loadBalancer: LoadBalancerStage
    private var vpn: VPNStage
    private var local: LocalStage
    private var egress: EgressStage

    /// The worker this dataplane is among its site's share-nothing workers.
    public let share: WorkerShare
    private let seed: UInt64

    /// A dataplane for `config`. One of several workers (`share`) gets an equal part of the flow-table
    /// capacity and allocates NAT ports from its own share of each gateway's range; which packets it is
    /// given is up to a `FlowDispatcher`. Every worker takes the same seed, so an instance is paired with
    /// the same public address whichever worker translates it.
    public init(config siteConfig: DataplaneConfig, seed: UInt64 = 0, share: WorkerShare = .single) {
        var config = siteConfig
        if share.count > 1, let maxFlows = config.firewall?.maxFlows {
            config.firewall?.maxFlows = share.share(of: maxFlows)
        }
        self.config = config
        self.share = share
        self.seed = seed
        counters = Counters(portCount: config.ports.count)
        context = StageContext()
        antiSpoof = AntiSpoofStage(config: config)
        arp = ARPResponderStage(config: config)
        router = RouterStage(config: config)
        networkACL = NetworkACLStage(config: config)
        conntrack = ConntrackStage(firewall: config.firewall)
        nat = NATStage(config: config, seed: seed, share: share)
        loadBalancer = LoadBalancerStage(config: config)
        vpn = VPNStage(config: config, seed: seed)
        local = LocalStage(config: config)
        egress = EgressStage(config: config)
    }

    /// Returns the dataplane to the state `init` left it in — no flows, mappings, load-balancer flows,
    /// fragments or tunnel sessions, counters at zero, targets up, the clock at zero — at the cost of what
    /// was used since, not of building it again (the load balancers' Maglev tables, the tables'
    /// allocations stay). A dataplane reset and then given some packets behaves exactly as a new one
    /// given the same packets: what the fuzz targets rely on to run an input per reset. Tunnels are built
    /// again, since their sessions hold keys (VPN topologies only).
    public mutating func reset() {
        counters.reset()
        let flowLogging = context.flowLog.enabled
        context = StageContext()
        context.flowLog.enabled = flowLogging
        router.reset()
        conntrack.reset()
        nat.reset()
        loadBalancer.reset()
        if vpn.isEnabled {
            let recordSecrets = vpn.recordSecrets
            vpn = VPNStage(config: config, seed: seed)
            vpn.recordSecrets = recordSecrets
        }
    }

    /// Runs every stage over the batch and counts the outcome. Afterwards every packet of the batch is
    /// decided: `.forward` on `outPort` or `.drop` with a reason.
    public mutating func process(_ batch: inout PacketBatch) {
        let inputs = batch.inputCount
        if inputs == 0 { return }
        context.now = batch.meta[inputs - 1].timestamp
        for i in 0..<inputs {
            counters.countIn(port: batch.meta[i].inPort, bytes: Int(batch.meta[i].length))
        }
        classify.process(&batch, &context)
        antiSpoof.process(&batch, &context)
        arp.process(&batch, &context)
        // The stateful stages run packet by packet, in arrival order, so that a packet sees the state its
        // predecessors in the same batch created (a reply right behind its request finds the NAT mapping
        // and the flow); each stage is still a concrete, statically dispatched call.
        conntrack.beginBatch(batch, &context)
        nat.beginBatch(batch, conntrack)
        loadBalancer.beginBatch(batch, conntrack)
        let n = batch.count
        let tunnels = vpn.isEnabled
        for i in 0..<n {
            if tunnels {
                vpn.beforePacket(&batch, i, &context)
                if batch.meta[i].verdict != .pending { continue }
                vpn.inbound(&batch, i, &context)
            }
            if batch.meta[i].verdict != .pending { continue }
            loadBalancer.inbound(&batch, i, &context)
            if batch.meta[i].verdict != .pending { continue }
            nat.inbound(&batch, i, &context, conntrack)
            if batch.meta[i].verdict != .pending { continue }
            router.handle(&batch, i, &context)
            if batch.meta[i].verdict != .pending || batch.meta[i].etherType != EtherType.ipv4 { continue }
            networkACL.handle(&batch, i, &context)
            if batch.meta[i].verdict != .pending { continue }
            conntrack.handle(&batch, i, &context)
            if batch.meta[i].verdict != .pending { continue }
            loadBalancer.outbound(&batch, i, &context)
            nat.outbound(&batch, i, &context)
            if tunnels && batch.meta[i].verdict == .pending { vpn.outbound(&batch, i, &context) }
        }
        local.process(&batch, &context)
        egress.process(&batch, &context)
        for i in 0..<batch.count {
            switch batch.meta[i].verdict {
            case .forward:
                counters.countOut(port: batch.meta[i].outPort, bytes: Int(batch.meta[i].length))
            case .drop:
                counters.countDrop(batch.meta[i].drop)
            case .consumed:
                counters.countConsumed()
            case .pending:
                // A packet no stage decided is a bug, but never a crash: count it as unrouted.
                batch.drop(i, .noRoute)
                counters.countDrop(.noRoute)
            }
        }
    }

    /// Flow-table figures: flows created and expired so far, the most tracked at once, and now.
    public var flowStatistics: (created: UInt64, expired: UInt64, peak: Int, live: Int) {
        (conntrack.created, conntrack.expired, conntrack.table.peak, conntrack.table.count)
    }

    /// Runs the timers up to capture time `now` without traffic: flows and NAT mappings idle past their
    /// timeouts are expired (and logged). A replay calls it at its last timestamp; live mode periodically.
    public mutating func advanceClock(to now: UInt64) {
        conntrack.expire(now: now, &context)
        nat.expire(now: now)
        loadBalancer.expire(now: now)
        vpn.advanceClock(to: now)
    }

    /// Runs the VPN's timers at `now` while no traffic flows (live mode calls it several times a second):
    /// what they send (handshake retransmissions, keepalives) is put into `batch`, decided and counted,
    /// ahead of any inputs. `batch` must not have been processed. (Flow and mapping expiry is
    /// `advanceClock`.)
    public mutating func runTimers(now: UInt64, _ batch: inout PacketBatch) {
        guard vpn.isEnabled else { return }
        let first = batch.count
        vpn.runTimers(now: now, &batch)
        for i in first..<batch.count where batch.meta[i].verdict == .forward {
            counters.countOut(port: batch.meta[i].outPort, bytes: Int(batch.meta[i].length))
        }
    }

    /// Per VPN tunnel: its WireGuard counters and each peer's state.
    public var vpnStatistics: [(name: String, stats: WireGuardStats, peers: [(publicKey: WireGuardKey, status: WireGuardPeerStatus)])] {
        vpn.statistics
    }

    /// Whether the secrets of completed WireGuard handshakes are kept for a key log (`takeHandshakeSecrets`).
    public var recordsHandshakeSecrets: Bool {
        get { vpn.recordSecrets }
        set { vpn.recordSecrets = newValue }
    }

    /// The secrets of the WireGuard handshakes completed since the last call (when recording is on).
    public mutating func takeHandshakeSecrets() -> [(tunnel: Int, secrets: WireGuardHandshakeSecrets)] {
        vpn.takeHandshakeSecrets()
    }

    /// Sets the health of load balancer `loadBalancer`'s target on `port` (replay events, health checks).
    @discardableResult
    public mutating func setTargetHealth(loadBalancer lb: Int, port: UInt16, _ health: TargetHealth) -> Bool {
        loadBalancer.setHealth(loadBalancer: lb, port: port, health)
    }

    /// Per load-balancer target: (load balancer, instance port, health, counters).
    public var loadBalancerTargets: [(lb: Int, port: UInt16, health: TargetHealth, counters: TargetCounters)] {
        loadBalancer.slotOwners.indices.map {
            (loadBalancer.slotOwners[$0].lb, loadBalancer.slotOwners[$0].port, loadBalancer.health(slot: $0), loadBalancer.counters[$0])
        }
    }

    /// NAT figures: mappings created, the most alive at once, alive now, and expired.
    public var natStatistics: (created: UInt64, peak: Int, live: Int, expired: UInt64) {
        (nat.created, nat.peak, nat.live, nat.expired)
    }

    /// Where a flow that the instance on `port` opened from its `localPort` (TCP/UDP port, ICMP echo
    /// identifier) meets the internet: its elastic IP, its own address in a public-ip network, or the
    /// live NAT gateway mapping (as of the last packet this worker processed). Nil when the flow has no
    /// public endpoint (yet): a nat-private instance that has sent nothing out on that port.
    public func publicEndpoint(port: UInt16, protocol proto: UInt8,
                               localPort: UInt16) -> (address: IPv4Address, port: UInt16)? {
        guard Int(port) < config.ports.count, port != DataplaneConfig.internetPort else { return nil }
        let p = config.ports[Int(port)]
        if let eip = p.publicIP { return (eip, localPort) }
        if p.network >= 0, config.networks[p.network].mode == .publicIP { return (p.ip, localPort) }
        return nat.gatewayMapping(protocol: proto, address: p.ip, port: localPort, now: context.now)
    }

    /// Every flow still tracked, as flow-log records (at the end of a replay).
    public func openFlows() -> [FlowRecord] {
        var out: [FlowRecord] = []
        conntrack.table.forEach { out.append(FlowRecord(conntrack.table[$0], end: .open)) }
        return out
    }

    /// Counts a packet the I/O side refused before it reached a batch (too large, unknown link layer).
    public mutating func countRejectedInput(port: UInt16, bytes: Int, reason: DropReason) {
        counters.countIn(port: port, bytes: bytes)
        counters.countDrop(reason)
    }
}
