import NimbusVPN
import NimbusWire

/// One site run by several share-nothing workers: a dataplane and a batch each, a `FlowDispatcher` that
/// places every arriving frame in the batch of the worker owning its flow, and threads that process the
/// batches side by side.
///
/// The caller fills the batches (through `dispatch`), calls `process()`, and emits the results input by
/// input in arrival order; each worker sees only its own packets, in their order, so the outcome does not
/// depend on how the threads are scheduled. With one worker there are no threads and this is exactly a
/// `Dataplane`.
public final class WorkerGroup: @unchecked Sendable {
    /// A worker's state; touched by its thread only between `process()`'s start and end.
    public final class Worker: @unchecked Sendable {
        // Touched per packet by whoever fills and empties the batch; one thread at a time by construction
        // (the hand-off's atomics order them), so the runtime's dynamic exclusivity checks (~20 ns each on
        // this path) buy nothing.
        @exclusivity(unchecked) public var dataplane: Dataplane
        @exclusivity(unchecked) public var batch = PacketBatch()
        init(_ dataplane: consuming Dataplane) { self.dataplane = dataplane }

        fileprivate func run() {
            if batch.inputCount > 0 { dataplane.process(&batch) }
        }
    }

    public let workers: [Worker]
    /// Mutated per frame (its fragment memory) by the one thread that receives.
    @exclusivity(unchecked) public var dispatcher: FlowDispatcher
    public var count: Int { workers.count }
    private let handOff: RoundHandOff
    /// `forEachEmission`'s scratch, reused round after round.
    @exclusivity(unchecked) private var order: [Int] = []
    private var threads: [WorkerThread] = []

    /// - Parameters:
    ///   - workers: how many; 1 runs everything on the caller's thread.
    ///   - threaded: process the batches on threads of their own (worker 0 on the caller's); false runs
    ///     them one after another on the caller's thread, with the same results.
    public init(config: DataplaneConfig, seed: UInt64 = 0, workers n: Int = 1, threaded: Bool = true) {
        let n = max(1, n)
        workers = (0..<n).map { Worker(Dataplane(config: config, seed: seed, share: WorkerShare(index: $0, count: n))) }
        dispatcher = FlowDispatcher(config: config, workers: n)
        handOff = RoundHandOff(helpers: n - 1)
        order.reserveCapacity(PacketBatch.metaCapacity)
        guard threaded && n > 1 else { return }
        let handOff = handOff
        for k in 1..<n {
            let worker = workers[k]
            threads.append(WorkerThread {
                var seen = 0
                while let round = handOff.awaitRound(after: seen) {
                    seen = round
                    worker.run()
                    handOff.done()
                }
            })
        }
    }

    deinit {
        guard !threads.isEmpty else { return }
        handOff.stop()
        for t in threads { t.join() }
    }

    /// The worker a frame (Ethernet) belongs to.
    @inline(__always)
    public func dispatch(frame: UnsafeRawBufferPointer) -> Int {
        count == 1 ? 0 : dispatcher.worker(frame: frame)
    }

    /// The worker an IPv4 datagram belongs to (0 for nil: not IPv4).
    @inline(__always)
    public func dispatch(ipv4: UnsafeRawBufferPointer?) -> Int {
        guard count > 1, let ipv4 else { return 0 }
        return dispatcher.worker(ipv4: ipv4)
    }

    /// Every worker processes its batch (those with inputs); returns when all are done.
    public func process() {
        if threads.isEmpty {
            for w in workers { w.run() }
            return
        }
        handOff.start()
        workers[0].run()
        handOff.finish()
    }

    /// An input's place among the workers' batches, as the caller notes it in arrival order.
    @inline(__always)
    public static func arrival(worker: Int, index: Int) -> UInt32 { UInt32(worker) << 16 | UInt32(index) }

    @inline(__always)
    public static func place(_ arrival: UInt32) -> (worker: Int, index: Int) { (Int(arrival >> 16), Int(arrival & 0xFFFF)) }

    /// Calls `body` for every packet of the processed batches, in the order they leave: each worker's
    /// timer output first, then input by input in `arrivals` order (`arrival(worker:index:)`), each with
    /// what was generated before and in answer to it. What leaves thus does not depend on which worker
    /// finished first.
    public func forEachEmission<E: Error>(_ arrivals: [UInt32], _ body: (Worker, Int) throws(E) -> Void) throws(E) {
        for w in workers {
            order.removeAll(keepingCapacity: true)
            w.batch.appendLeads(to: &order)
            for i in order { try body(w, i) }
        }
        for a in arrivals {
            let (k, i) = WorkerGroup.place(a)
            order.removeAll(keepingCapacity: true)
            workers[k].batch.appendEmission(ofInput: i, to: &order)
            for j in order { try body(workers[k], j) }
        }
    }

    /// Empties every batch.
    public func resetBatches() {
        for w in workers { w.batch.reset() }
    }

    // MARK: The site as a whole

    /// All workers' counters added up.
    public var counters: Counters {
        var c = workers[0].dataplane.counters
        for w in workers.dropFirst() { c.merge(w.dataplane.counters) }
        return c
    }

    /// Flow-table figures added up over the workers (the peak is the sum of the workers' peaks).
    public var flowStatistics: (created: UInt64, expired: UInt64, peak: Int, live: Int) {
        workers.reduce((0, 0, 0, 0)) { s, w in
            let f = w.dataplane.flowStatistics
            return (s.0 + f.created, s.1 + f.expired, s.2 + f.peak, s.3 + f.live)
        }
    }

    /// NAT figures added up over the workers (the peak is the sum of the workers' peaks).
    public var natStatistics: (created: UInt64, peak: Int, live: Int, expired: UInt64) {
        workers.reduce((0, 0, 0, 0)) { s, w in
            let n = w.dataplane.natStatistics
            return (s.0 + n.created, s.1 + n.peak, s.2 + n.live, s.3 + n.expired)
        }
    }

    /// Per load-balancer target, its counters added up over the workers (health is the same on all).
    public var loadBalancerTargets: [(lb: Int, port: UInt16, health: TargetHealth, counters: TargetCounters)] {
        var targets = workers[0].dataplane.loadBalancerTargets
        for w in workers.dropFirst() {
            for (k, t) in w.dataplane.loadBalancerTargets.enumerated() where k < targets.count {
                targets[k].counters.flows += t.counters.flows
                targets[k].counters.packets += t.counters.packets
                targets[k].counters.bytes += t.counters.bytes
            }
        }
        return targets
    }

    /// The VPN tunnels' state: worker 0 runs every tunnel (the dispatcher sends it all their traffic).
    public var vpnStatistics: [(name: String, stats: WireGuardStats, peers: [(publicKey: WireGuardKey, status: WireGuardPeerStatus)])] {
        workers[0].dataplane.vpnStatistics
    }

    /// Where a flow the instance on `port` opened meets the internet (`Dataplane.publicEndpoint`), from
    /// whichever worker holds its NAT mapping.
    public func publicEndpoint(port: UInt16, protocol proto: UInt8,
                               localPort: UInt16) -> (address: IPv4Address, port: UInt16)? {
        for w in workers {
            if let e = w.dataplane.publicEndpoint(port: port, protocol: proto, localPort: localPort) { return e }
        }
        return nil
    }

    /// Sets a load-balancer target's health on every worker.
    public func setTargetHealth(loadBalancer lb: Int, port: UInt16, _ health: TargetHealth) {
        for w in workers { w.dataplane.setTargetHealth(loadBalancer: lb, port: port, health) }
    }

    /// Runs every worker's timers up to `now` (see `Dataplane.advanceClock`).
    public func advanceClock(to now: UInt64) {
        for w in workers { w.dataplane.advanceClock(to: now) }
    }

    /// Every flow still tracked, worker by worker.
    public func openFlows() -> [FlowRecord] {
        workers.flatMap { $0.dataplane.openFlows() }
    }
}
