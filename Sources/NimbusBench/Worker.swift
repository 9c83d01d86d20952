import Histogram
import NimbusDataplane
import NimbusWire

/// Per-batch latencies of one worker and phase (nanoseconds, 3 significant digits, fixed memory:
/// recording never allocates).
struct LatencyRecorder {
    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)

    @inline(__always)
    mutating func record(_ ns: UInt64) { histogram.record(ns) }

    mutating func reset() { histogram.reset() }
}

/// What one worker measured: per repetition, packets sent and timed nanoseconds; the batch latencies.
final class WorkerReport: @unchecked Sendable {
    var error: String?
    var establishedPackets: [Int] = []
    var establishedNanoseconds: [UInt64] = []
    var newFlowPackets: [Int] = []
    var newFlowNanoseconds: [UInt64] = []
    var establishedLatency = LatencyRecorder()
    var newFlowLatency = LatencyRecorder()
    var flows = 0
    var newFlowsPerRun = 0
    var newFlowRunsPerRepetition = 0
    /// Packets sent in each phase's allocation-counting pass.
    var establishedCountedPackets = 0
    var newFlowCountedPackets = 0
    /// State after opening the established flows.
    var trackedFlows = 0
    var natMappings = 0
    var lbFlows = 0
    var lbTargets: [(name: String, flows: Int)] = []

    func fail(_ message: String) { if error == nil { error = message } }
}

/// What the workers share: a barrier to keep their phases in step, a slot each to post a calibration,
/// the resident-memory readings around the established phase's set-up, and the allocation counts of
/// the two counting passes. Each slot has one writer; the barrier orders the writes before the reads.
final class SharedState: @unchecked Sendable {
    let barrier: Barrier
    let threads: Int
    let calibration: UnsafeMutablePointer<UInt64>
    let rss: UnsafeMutablePointer<Int>
    /// Objects allocated in the established and the new-flows counting pass (all workers).
    let allocations: UnsafeMutablePointer<Int>

    init(threads: Int) {
        self.threads = threads
        barrier = Barrier(count: threads)
        calibration = .allocate(capacity: threads)
        calibration.initialize(repeating: 0, count: threads)
        rss = .allocate(capacity: 2)
        rss.initialize(repeating: 0, count: 2)
        allocations = .allocate(capacity: 2)
        allocations.initialize(repeating: 0, count: 2)
    }

    deinit {
        calibration.deallocate()
        rss.deallocate()
        allocations.deallocate()
    }

    /// Runs `body` on every worker with allocation counting on, and returns (on every worker) the
    /// objects all of them allocated in it. Counting is switched on and off by worker 0 while the others
    /// wait at the barrier.
    func countAllocations(_ worker: Int, slot: Int, _ body: () -> Void) {
        barrier.wait()
        if worker == 0 { AllocationCounter.start() }
        barrier.wait()
        body()
        barrier.wait()
        if worker == 0 { allocations[slot] = AllocationCounter.stop() }
        barrier.wait()
    }

    /// Posts this worker's figure, waits for everyone's, and returns the smallest (the fastest worker).
    func agreeOnFastest(_ worker: Int, _ value: UInt64) -> UInt64 {
        calibration[worker] = value
        barrier.wait()
        var best = UInt64.max
        for w in 0..<threads { best = min(best, max(1, calibration[w])) }
        barrier.wait()  // nobody overwrites a slot before everyone has read it
        return best
    }
}

/// One share-nothing worker: its own dataplane, flow table, batch and frames; the flows of the run that
/// the site's `FlowDispatcher` gives it (as RSS and a NAT hand-off would), with its share of the NAT ports.
struct Worker {
    let index: Int
    /// The run-wide numbers of this worker's established flows, and of its first packets of new flows.
    let flowIDs: [Int]
    let newFlowIDs: [Int]
    /// For checking that every reply would reach this worker.
    let dispatcher: FlowDispatcher
    let plan: TrafficPlan
    let config: DataplaneConfig
    let options: BenchOptions
    let newFlowsPerRun: Int
    let shared: SharedState
    let report: WorkerReport
    let pinToCPU: Int?

    /// The run-wide number of this worker's `local`-th established flow.
    @inline(__always)
    func global(_ local: Int) -> Int { flowIDs[local] }

    /// A dataplane of this worker, its tables sized for `flows` flows of its own.
    func makeDataplane(flows: Int) -> Dataplane {
        Dataplane(config: config.withFlowCapacity(max(1, flows) * shared.threads),
                  share: WorkerShare(index: index, count: shared.threads))
    }

    func run() {
        var dispatcher = self.dispatcher
        if let cpu = pinToCPU { SystemInfo.pinCurrentThread(to: cpu) }
        let barrier = shared.barrier
        let flows = flowIDs.count
        let newFlows = newFlowIDs.count
        report.flows = flows
        report.newFlowsPerRun = newFlows

        // Frames, built before anything is timed. Established: both directions of every flow, in a
        // shuffled order so consecutive packets hit unrelated flow-table slots. The replies are written
        // once the flows are open and their translated addresses known; until then their slots are zeros
        // (the pool is zeroed when made, so its memory is resident before the memory reading).
        let established = FramePool(frameLength: options.frameLength, count: 2 * flows)
        var order = Array(0..<(2 * flows))
        var rng = SplitMix64(seed: 0x5EED_0000 &+ UInt64(index))
        if flows > 1 { order.shuffle(using: &rng) }
        for (position, item) in order.enumerated() where item & 1 == 0 {
            let flow = global(item >> 1)
            let set = plan.set(of: flow)
            let t = plan.forward(flow)
            established.set(position, plan.frame(t, proto: set.proto, toServer: true, tcpFlags: set.dataFlags,
                                                 payload: set.payload(forFrameLength: options.frameLength)),
                            port: t.port)
        }
        let replies = UnsafeMutablePointer<FlowTuple>.allocate(capacity: max(1, flows))
        replies.initialize(repeating: .none, count: max(1, flows))
        defer { replies.deallocate() }
        // New flows: one first packet (a SYN) per flow.
        let firsts = FramePool(frameLength: options.frameLength, count: newFlows)
        var natFirsts = 0, lbFirsts = 0
        for j in 0..<newFlows {
            let set = plan.set(of: newFlowIDs[j])
            let t = plan.forward(newFlowIDs[j])
            firsts.set(j, plan.frame(t, proto: set.proto, toServer: true, tcpFlags: set.firstFlags,
                                     payload: set.payload(forFrameLength: options.frameLength)),
                       port: t.port)
            if set.kind == .nat { natFirsts += 1 }
            if set.kind == .lb { lbFirsts += 1 }
        }

        barrier.wait()
        if index == 0 { shared.rss[0] = SystemInfo.residentBytes() }
        barrier.wait()

        // Established phase: open every flow untimed, then time data packets both ways.
        var batch = PacketBatch()
        var timestamp = BenchClock.baseTimestamp
        do {
            var dataplane = makeDataplane(flows: flows)
            open(&dataplane, &batch, flows: flows, replies: replies, timestamp: &timestamp)
            barrier.wait()
            if index == 0 { shared.rss[1] = SystemInfo.residentBytes() }
            // The replies, addressed as the dataplane translated each flow's first packet. Each must be one
            // the dispatcher sends to this worker, which holds its flow (and NAT mapping).
            var misplaced = 0
            for (position, item) in order.enumerated() where item & 1 == 1 {
                let local = item >> 1
                let set = plan.set(of: global(local))
                let frame = plan.frame(replies[local], proto: set.proto, toServer: false, tcpFlags: set.dataFlags,
                                       payload: set.payload(forFrameLength: options.frameLength))
                if shared.threads > 1 && frame.withUnsafeBytes({ dispatcher.worker(frame: $0) }) != index { misplaced += 1 }
                established.set(position, frame, port: replies[local].port)
            }
            if misplaced > 0 {
                report.fail("the dispatcher sends \(misplaced) replies to another worker than their flow's")
            }
            order = []

            var latency = LatencyRecorder()
            var cursor = 0
            // Calibrate: batches of this worker for ~0.1 s (or what --packets asks for, once).
            var batches: Int
            if let packets = options.packets {
                batches = max(1, (packets + shared.threads * PacketBatch.inputCapacity - 1)
                    / (shared.threads * PacketBatch.inputCapacity))
                _ = Pump.run(&dataplane, &batch, established, cursor: &cursor, batches: batches, timestamp: &timestamp,
                             histogram: &latency)
                _ = shared.agreeOnFastest(index, 1)
            } else {
                var probe = 16, elapsed: UInt64 = 0
                while true {
                    elapsed = Pump.run(&dataplane, &batch, established, cursor: &cursor, batches: probe,
                                       timestamp: &timestamp, histogram: &latency)
                    if elapsed >= 100_000_000 || probe >= 1 << 26 { break }
                    probe *= 4
                }
                let fastest = shared.agreeOnFastest(index, elapsed * 1000 / UInt64(probe))  // ps per batch
                batches = max(1, Int((options.minimumSeconds * 1e12 / Double(fastest)).rounded(.up)))
            }
            latency.reset()
            let droppedBefore = dataplane.counters.packetsDropped
            for _ in 0..<options.repetitions {
                barrier.wait()
                let ns = Pump.run(&dataplane, &batch, established, cursor: &cursor, batches: batches,
                                  timestamp: &timestamp, histogram: &latency)
                report.establishedPackets.append(batches * PacketBatch.inputCapacity)
                report.establishedNanoseconds.append(ns)
            }
            report.establishedLatency = latency
            // Allocations: every established frame once more (at least 16 batches, at most 4096), untimed.
            let counted = min(4096, max(16, (established.count + PacketBatch.inputCapacity - 1) / PacketBatch.inputCapacity))
            var scratch = LatencyRecorder()
            shared.countAllocations(index, slot: 0) {
                _ = Pump.run(&dataplane, &batch, established, cursor: &cursor, batches: counted, timestamp: &timestamp,
                             histogram: &scratch)
            }
            report.establishedCountedPackets = counted * PacketBatch.inputCapacity
            let dropped = dataplane.counters.packetsDropped - droppedBefore
            if dropped > 0 {
                report.fail("\(dropped) established-flow packets were dropped in the timed loop (\(firstDropReason(dataplane)))"
                            + firstDropped(&dataplane, &batch, established, timestamp: &timestamp))
            }
        }

        // New-flows phase: each run is a fresh dataplane (untimed) taking `newFlows` first packets (timed).
        do {
            let runFlows = newFlows
            var latency = LatencyRecorder()
            var warm: UInt64 = .max
            for _ in 0..<2 {
                var dataplane = makeDataplane(flows: runFlows)
                warm = min(warm, Pump.once(&dataplane, &batch, firsts, count: newFlows, timestamp: &timestamp,
                                           histogram: &latency))
            }
            let fastest = shared.agreeOnFastest(index, warm)
            let runs = options.packets != nil || newFlows == 0
                ? 1 : max(1, Int((options.minimumSeconds * 1e9 / Double(fastest)).rounded(.up)))
            report.newFlowRunsPerRepetition = runs
            latency.reset()
            for _ in 0..<options.repetitions {
                barrier.wait()
                var total: UInt64 = 0
                for _ in 0..<runs {
                    var dataplane = makeDataplane(flows: runFlows)
                    total += Pump.once(&dataplane, &batch, firsts, count: newFlows, timestamp: &timestamp,
                                       histogram: &latency)
                    checkNewFlows(dataplane, newFlows: newFlows, natFirsts: natFirsts, lbFirsts: lbFirsts)
                }
                report.newFlowPackets.append(runs * newFlows)
                report.newFlowNanoseconds.append(total)
            }
            report.newFlowLatency = latency
            // Allocations: one more run on a fresh dataplane (made before counting starts), untimed.
            var dataplane = makeDataplane(flows: runFlows)
            var scratch = LatencyRecorder()
            shared.countAllocations(index, slot: 1) {
                _ = Pump.once(&dataplane, &batch, firsts, count: newFlows, timestamp: &timestamp, histogram: &scratch)
            }
            report.newFlowCountedPackets = newFlows
        }
    }

    /// Checks one new-flows run: nothing dropped, one tracked flow per packet, and one NAT mapping or
    /// load-balanced flow per packet of those kinds.
    private func checkNewFlows(_ dataplane: borrowing Dataplane, newFlows: Int, natFirsts: Int, lbFirsts: Int) {
        let dropped = dataplane.counters.packetsDropped
        if dropped > 0 {
            report.fail("\(dropped) new-flow packets were dropped (\(firstDropReason(dataplane)))")
        }
        if config.firewall != nil && dataplane.flowStatistics.created != UInt64(newFlows) {
            report.fail("a new-flows run created \(dataplane.flowStatistics.created) flows, not \(newFlows)")
        }
        if natFirsts > 0 && dataplane.natStatistics.created != UInt64(natFirsts) {
            report.fail("a new-flows run created \(dataplane.natStatistics.created) NAT mappings, not \(natFirsts)")
        }
        if lbFirsts > 0 {
            let balanced = dataplane.loadBalancerTargets.reduce(0) { $0 + Int($1.counters.flows) }
            if balanced != lbFirsts { report.fail("a new-flows run balanced \(balanced) flows, not \(lbFirsts)") }
        }
    }

    /// Opens this worker's flows (untimed), a batch of flows at a time: the TCP handshake, or one UDP
    /// packet each way; learns every flow's reply tuple into `replies` (by local index); checks that
    /// every packet was forwarded and translated as its kind promises, and what state the flows hold.
    private func open(_ dataplane: inout Dataplane, _ batch: inout PacketBatch, flows: Int,
                      replies: UnsafeMutablePointer<FlowTuple>, timestamp: inout UInt64) {
        var first = 0
        while first < flows {
            let last = min(flows, first + PacketBatch.inputCapacity)
            let base = first
            if let problem = plan.open((first..<last).map(global), &dataplane, &batch, timestamp: &timestamp,
                                       learned: { k, reply in replies[base + k] = reply }) {
                report.fail(problem)
                return
            }
            first = last
        }
        let dropped = dataplane.counters.packetsDropped
        if dropped > 0 {
            report.fail("\(dropped) packets opening the flows were dropped (\(firstDropReason(dataplane)))")
        }
        if config.firewall != nil && dataplane.flowStatistics.live != flows {
            report.fail("\(dataplane.flowStatistics.live) flows tracked after opening \(flows)")
        }
        report.trackedFlows = dataplane.flowStatistics.live
        report.natMappings = dataplane.natStatistics.live
        let targets = dataplane.loadBalancerTargets
        report.lbFlows = targets.reduce(0) { $0 + Int($1.counters.flows) }
        report.lbTargets = targets.filter { $0.counters.flows > 0 }
            .map { (name: plan.portNames[Int($0.port)], flows: Int($0.counters.flows)) }
    }

    /// The first packet of the pool the dataplane drops (one more pass, after the failure): for the
    /// error message.
    private func firstDropped(_ dataplane: inout Dataplane, _ batch: inout PacketBatch, _ pool: borrowing FramePool,
                              timestamp: inout UInt64) -> String {
        var k = 0
        while k < pool.count {
            let first = k
            while k < pool.count && !batch.isFull {
                _ = batch.append(pool.frame(k), timestamp: timestamp, port: pool.ports[k])
                k += 1
            }
            var originals: [FlowTuple?] = []
            for i in 0..<batch.inputCount { originals.append(TrafficPlan.output(batch, i)) }
            dataplane.process(&batch)
            timestamp &+= BenchClock.batchInterval
            for i in 0..<batch.inputCount where batch.meta[i].verdict == .drop {
                let what = originals[i].map { "\($0.text) entering on \(plan.portNames[Int(pool.ports[first + i])])" } ?? "?"
                let reason = batch.meta[i].drop.name
                batch.reset()
                return "; first: \(what), \(reason)"
            }
            batch.reset()
        }
        return ""
    }

    /// Every drop reason counted so far, with its count.
    private func firstDropReason(_ dataplane: borrowing Dataplane) -> String {
        var parts: [String] = []
        for r in DropReason.allCases where r != .none && dataplane.counters.drops(r) > 0 {
            parts.append("\(r.name): \(dataplane.counters.drops(r))")
        }
        return parts.isEmpty ? "no reason counted" : parts.joined(separator: ", ")
    }
}
