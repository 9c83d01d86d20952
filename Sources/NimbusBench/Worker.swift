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

    func fail(_ message: String) { if error == nil { error = message } }
}

/// What the workers share: a barrier to keep their phases in step, a slot each to post a calibration,
/// and the resident-memory readings around the established phase's set-up. Each slot has one writer;
/// the barrier orders the writes before the reads.
final class SharedState: @unchecked Sendable {
    let barrier: Barrier
    let threads: Int
    let calibration: UnsafeMutablePointer<UInt64>
    let rss: UnsafeMutablePointer<Int>

    init(threads: Int) {
        self.threads = threads
        barrier = Barrier(count: threads)
        calibration = .allocate(capacity: threads)
        calibration.initialize(repeating: 0, count: threads)
        rss = .allocate(capacity: 2)
        rss.initialize(repeating: 0, count: 2)
    }

    deinit {
        calibration.deallocate()
        rss.deallocate()
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

/// One share-nothing worker: its own dataplane, flow table, batch and frames; flows `index`,
/// `index + threads`, ... of the run.
struct Worker {
    let index: Int
    let plan: TrafficPlan
    let config: DataplaneConfig
    let options: BenchOptions
    let newFlowsPerRun: Int
    let shared: SharedState
    let report: WorkerReport
    let pinToCPU: Int?

    /// How many of `total` items (dealt round-robin) fall to this worker.
    func share(of total: Int) -> Int {
        let t = shared.threads
        return total > index ? (total - index + t - 1) / t : 0
    }

    /// The run-wide number of the `local`-th item dealt to this worker.
    @inline(__always)
    func global(_ local: Int) -> Int { index + local * shared.threads }

    func run() {
        if let cpu = pinToCPU { SystemInfo.pinCurrentThread(to: cpu) }
        let barrier = shared.barrier
        let flows = share(of: options.flows)
        let newFlows = share(of: newFlowsPerRun)
        report.flows = flows
        report.newFlowsPerRun = newFlows
        let payload = plan.payload(forFrameLength: options.frameLength)

        // Frames, built before anything is timed. Established: both directions of every flow, in a
        // shuffled order so consecutive packets hit unrelated flow-table slots.
        let established = FramePool(frameLength: options.frameLength, count: 2 * flows)
        var order = Array(0..<(2 * flows))
        var rng = SeededRandom(seed: 0x5EED_0000 &+ UInt64(index))
        if flows > 1 { order.shuffle(using: &rng) }
        for (position, item) in order.enumerated() {
            let toServer = item & 1 == 0
            established.set(position, plan.frame(flow: global(item >> 1), toServer: toServer, tcpFlags: plan.dataFlags,
                                                 payload: payload),
                            port: toServer ? plan.clientPort : plan.serverPort)
        }
        order = []
        // New flows: one first packet (a SYN) per flow.
        let firsts = FramePool(frameLength: options.frameLength, count: newFlows)
        for j in 0..<newFlows {
            firsts.set(j, plan.frame(flow: global(j), toServer: true, tcpFlags: plan.firstFlags, payload: payload),
                       port: plan.clientPort)
        }

        barrier.wait()
        if index == 0 { shared.rss[0] = SystemInfo.residentBytes() }
        barrier.wait()

        // Established phase: open every flow untimed, then time data packets both ways.
        var batch = PacketBatch()
        var timestamp = BenchClock.baseTimestamp
        do {
            var dataplane = Dataplane(config: config.withFlowCapacity(flows))
            open(&dataplane, &batch, flows: flows, timestamp: &timestamp)
            barrier.wait()
            if index == 0 { shared.rss[1] = SystemInfo.residentBytes() }

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
            let dropped = dataplane.counters.packetsDropped - droppedBefore
            if dropped > 0 {
                report.fail("\(dropped) established-flow packets were dropped in the timed loop (\(firstDropReason(dataplane)))")
            }
            report.establishedLatency = latency
        }

        // New-flows phase: each run is a fresh dataplane (untimed) taking `newFlows` first packets (timed).
        do {
            let runConfig = config.withFlowCapacity(newFlows)
            var latency = LatencyRecorder()
            var warm: UInt64 = .max
            for _ in 0..<2 {
                var dataplane = Dataplane(config: runConfig)
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
                    var dataplane = Dataplane(config: runConfig)
                    total += Pump.once(&dataplane, &batch, firsts, count: newFlows, timestamp: &timestamp,
                                       histogram: &latency)
                    let dropped = dataplane.counters.packetsDropped
                    if dropped > 0 {
                        report.fail("\(dropped) new-flow packets were dropped (\(firstDropReason(dataplane)))")
                    }
                    if config.firewall != nil && dataplane.flowStatistics.created != UInt64(newFlows) {
                        report.fail("a new-flows run created \(dataplane.flowStatistics.created) flows, not \(newFlows)")
                    }
                }
                report.newFlowPackets.append(runs * newFlows)
                report.newFlowNanoseconds.append(total)
            }
            report.newFlowLatency = latency
        }
    }

    /// Opens this worker's flows (untimed): the TCP handshake, or one UDP packet each way; checks that
    /// every packet was forwarded and every flow is tracked.
    private func open(_ dataplane: inout Dataplane, _ batch: inout PacketBatch, flows: Int, timestamp: inout UInt64) {
        var first = 0
        while first < flows {
            let last = min(flows, first + PacketBatch.inputCapacity)
            for step in plan.opening {
                for f in first..<last {
                    let frame = plan.frame(flow: global(f), toServer: step.toServer, tcpFlags: step.flags, payload: 0)
                    _ = frame.withUnsafeBytes {
                        batch.append($0, timestamp: timestamp, port: step.toServer ? plan.clientPort : plan.serverPort)
                    }
                }
                dataplane.process(&batch)
                batch.reset()
                timestamp &+= BenchClock.batchInterval
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
    }

    private func firstDropReason(_ dataplane: borrowing Dataplane) -> String {
        for r in DropReason.allCases where r != .none && dataplane.counters.drops(r) > 0 {
            return "\(r.name): \(dataplane.counters.drops(r))"
        }
        return "no reason counted"
    }
}
