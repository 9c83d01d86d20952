import Histogram
import NimbusDataplane
import NimbusWire

/// One phase's figures: medians over the repetitions, per-batch latency percentiles over all of them.
public struct PhaseResult: Sendable {
    /// Aggregate million packets per second (all workers), the median repetition.
    public var mpps: Double
    /// Gigabits per second on the wire: frame with FCS plus 20 bytes of preamble, SFD and gap.
    public var gbps: Double
    /// CPU nanoseconds per packet on one worker: threads x 1000 / Mpps.
    public var nsPerPacket: Double
    /// Every repetition's Mpps, in order.
    public var repetitions: [Double]
    public var packetsPerRepetition: Int
    /// Timed seconds of the median repetition (the slowest worker's).
    public var seconds: Double
    /// Per-batch latency (copy in, process, reset) in nanoseconds.
    public var batchP50: UInt64
    public var batchP99: UInt64
    public var batchP999: UInt64
    public var batchMax: UInt64
}

/// Everything `nimbus bench` reports.
public struct BenchResult: Sendable {
    public var options: BenchOptions
    public var topologyName: String
    public var plan: TrafficPlan
    public var established: PhaseResult
    public var newFlows: PhaseResult
    /// New flows each fresh dataplane took in one new-flows run (all workers).
    public var newFlowsPerRun: Int
    public var newFlowRunsPerRepetition: Int
    /// Resident memory added by opening the established flows (all workers' dataplanes with flow tables
    /// sized to the flows, and the flows' state), per flow.
    public var bytesPerFlow: Double
    public var residentDelta: Int
    /// Ingress rules of the groups of the first instance receiving first packets (the rules a first
    /// packet is classified against there); nil when none does (NAT traffic goes to the internet).
    public var ingressRules: (port: String, count: Int)?
    /// Egress rules of the first NAT sender's groups (count nil: all egress allowed); nil without NAT.
    public var egressRules: (port: String, count: Int?)?
    /// Connection tracking and security groups on (every scenario but `route`).
    public var securityGroups: Bool
    /// Heap allocations per packet in an untimed pass over each phase's traffic; nil when they
    /// cannot be counted here.
    public var allocations: (established: Double, newFlows: Double)?
    /// Built with optimization. Unoptimized (debug) builds run unspecialized generic code whose
    /// coroutine frames are allocated on the heap, so only an optimized build's allocation counts tell
    /// what the dataplane itself allocates.
    public var optimized: Bool
    /// What opening the established flows left in the dataplanes (all workers).
    public var state: OpenedState
    public var cpus: Int
    public var cpuModel: String
    /// How the flows were spread (established flows per worker) and what placing one packet costs the
    /// dispatcher (ns, on the thread that receives; outside the workers' timed loops).
    public var flowsPerWorker: [Int]
    public var dispatchNanoseconds: Double
}

/// The state the established flows hold, summed over the workers' dataplanes.
public struct OpenedState: Sendable {
    /// Flows the connection tracker holds (0 without it).
    public var flows: Int
    public var natMappings: Int
    public var lbFlows: Int
    /// Load-balanced flows per target instance.
    public var lbTargets: [(name: String, flows: Int)]
}

/// Runs `nimbus bench`: finds the traffic, starts the workers, gathers their figures.
public enum BenchRunner {
    public static func run(config: DataplaneConfig, options: BenchOptions) throws(BenchError) -> BenchResult {
        if let problem = options.problem() { throw BenchError(problem, badInput: true) }
        let scenarioConfig = config.forScenario(options.scenario)
        // The plan is found on the topology as written, so that `route` carries the very packets `sg`
        // does and the two compare (`route` falls back to what routing alone carries).
        var found = TrafficPlan.make(options.scenario, config: config)
        if options.scenario == .route, case .failure = found { found = TrafficPlan.make(.route, config: scenarioConfig) }
        let plan: TrafficPlan
        switch found {
        case .success(let p): plan = p
        case .failure(let e): throw e
        }
        guard options.flows <= plan.maximumFlows else {
            throw BenchError("--flows \(options.flows): traffic \(plan) has room for at most \(plan.maximumFlows) "
                             + "distinct flows", badInput: true)
        }
        guard let runConfig = plan.addingRules(options.extraRules, to: scenarioConfig) else {
            throw BenchError("--extra-rules: no instance receives the first packets of the \(options.scenario.rawValue) "
                             + "traffic (it goes to the internet)", badInput: true)
        }
        let newFlowsPerRun = max(options.threads, min(options.packets ?? options.newFlowsPerRun, plan.maximumNewFlows))

        SystemInfo.keepFreedMemoryMapped()
        _ = AllocationCounter.isAvailable  // installs the counting hook before any worker starts
        let shared = SharedState(threads: options.threads)
        let cpus = SystemInfo.onlineCPUs
        let reports = (0..<options.threads).map { _ in WorkerReport() }
        let dispatcher = FlowDispatcher(config: runConfig, workers: options.threads)
        let flowIDs = deal(options.flows, plan, dispatcher, options.threads)
        let newFlowIDs = deal(newFlowsPerRun, plan, dispatcher, options.threads)
        let threads = (0..<options.threads).map { w in
            let worker = Worker(index: w, flowIDs: flowIDs[w], newFlowIDs: newFlowIDs[w], dispatcher: dispatcher,
                                plan: plan, config: runConfig, options: options, newFlowsPerRun: newFlowsPerRun,
                                shared: shared, report: reports[w], pinToCPU: options.threads <= cpus ? w : nil)
            return WorkerThread { worker.run() }
        }
        for t in threads { t.join() }
        if let error = reports.compactMap(\.error).first {
            throw BenchError("the dataplane did not carry the benchmark traffic: \(error)", badInput: false)
        }

        let residentDelta = max(0, shared.rss[1] - shared.rss[0])
        return BenchResult(
            options: options, topologyName: config.name, plan: plan,
            established: phase(reports.map(\.establishedPackets), reports.map(\.establishedNanoseconds),
                               reports.map(\.establishedLatency), options),
            newFlows: phase(reports.map(\.newFlowPackets), reports.map(\.newFlowNanoseconds),
                            reports.map(\.newFlowLatency), options),
            newFlowsPerRun: reports.reduce(0) { $0 + $1.newFlowsPerRun },
            newFlowRunsPerRepetition: reports.first?.newFlowRunsPerRepetition ?? 0,
            bytesPerFlow: Double(residentDelta) / Double(options.flows), residentDelta: residentDelta,
            ingressRules: plan.ingressRules(runConfig), egressRules: plan.egressRules(runConfig),
            securityGroups: runConfig.firewall != nil,
            allocations: allocations(shared, reports), optimized: !_isDebugAssertConfiguration(),
            state: OpenedState(
                flows: reports.reduce(0) { $0 + $1.trackedFlows }, natMappings: reports.reduce(0) { $0 + $1.natMappings },
                lbFlows: reports.reduce(0) { $0 + $1.lbFlows },
                lbTargets: mergeTargets(reports.map(\.lbTargets))),
            cpus: cpus, cpuModel: SystemInfo.cpuModel,
            flowsPerWorker: flowIDs.map(\.count), dispatchNanoseconds: dispatchCost(options.flows, plan, dispatcher))
    }

    /// Nanoseconds the dispatcher takes to place one packet: up to 4,096 flows' first packets, placed over
    /// and over for about 20 ms.
    static func dispatchCost(_ flows: Int, _ plan: TrafficPlan, _ dispatcher: FlowDispatcher) -> Double {
        let frames = (0..<min(flows, 4096)).map { f in
            let set = plan.set(of: f)
            return plan.frame(plan.forward(f), proto: set.proto, toServer: true, tcpFlags: set.firstFlags, payload: 0)
        }
        guard !frames.isEmpty else { return 0 }
        var d = dispatcher
        var sink = 0, placed = 0
        let start = BenchClock.now()
        var elapsed: UInt64 = 0
        repeat {
            for f in frames { sink &+= f.withUnsafeBytes { d.worker(frame: $0) } }
            placed += frames.count
            elapsed = BenchClock.now() - start
        } while elapsed < 20_000_000
        if sink == .min { print(sink) }  // keeps the loop from being optimized away
        return Double(elapsed) / Double(placed)
    }

    /// Deals flows `0..<count` to the workers the dispatcher sends their first packets to (untimed, as a
    /// NIC's RSS would before the dataplane sees them).
    static func deal(_ count: Int, _ plan: TrafficPlan, _ dispatcher: FlowDispatcher, _ threads: Int) -> [[Int]] {
        guard threads > 1 else { return [Array(0..<count)] }
        var d = dispatcher
        var out = [[Int]](repeating: [], count: threads)
        for f in 0..<count {
            let set = plan.set(of: f)
            let frame = plan.frame(plan.forward(f), proto: set.proto, toServer: true, tcpFlags: set.firstFlags, payload: 0)
            out[frame.withUnsafeBytes { d.worker(frame: $0) }].append(f)
        }
        return out
    }

    /// Heap allocations per packet in each phase's counting pass (all workers), or nil where the
    /// allocations cannot be counted.
    static func allocations(_ shared: SharedState, _ reports: [WorkerReport]) -> (established: Double, newFlows: Double)? {
        guard AllocationCounter.isAvailable else { return nil }
        let e = reports.reduce(0) { $0 + $1.establishedCountedPackets }
        let n = reports.reduce(0) { $0 + $1.newFlowCountedPackets }
        return (Double(shared.allocations[0]) / Double(max(1, e)), Double(shared.allocations[1]) / Double(max(1, n)))
    }

    /// Load-balanced flows per target over all workers, in the order the first worker lists them.
    static func mergeTargets(_ lists: [[(name: String, flows: Int)]]) -> [(name: String, flows: Int)] {
        var out: [(name: String, flows: Int)] = []
        for list in lists {
            for (name, flows) in list {
                if let i = out.firstIndex(where: { $0.name == name }) { out[i].flows += flows } else { out.append((name, flows)) }
            }
        }
        return out
    }

    /// Aggregates workers: per repetition, all packets over the slowest worker's timed seconds.
    static func phase(_ packets: [[Int]], _ nanoseconds: [[UInt64]], _ latencies: [LatencyRecorder],
                      _ options: BenchOptions) -> PhaseResult {
        let reps = packets.map(\.count).min() ?? 0
        var rates: [Double] = []
        var totals: [Int] = []
        var seconds: [Double] = []
        for r in 0..<reps {
            let total = packets.reduce(0) { $0 + $1[r] }
            let slowest = nanoseconds.map { $0[r] }.max() ?? 1
            let s = Double(max(1, slowest)) / 1e9
            rates.append(Double(total) / s / 1e6)
            totals.append(total)
            seconds.append(s)
        }
        let ranked = rates.indices.sorted { rates[$0] < rates[$1] }
        let mid = ranked.isEmpty ? 0 : ranked[ranked.count / 2]
        let mpps = ranked.isEmpty ? 0 : (ranked.count % 2 == 1 ? rates[mid]
            : (rates[ranked[ranked.count / 2 - 1]] + rates[mid]) / 2)
        var merged = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        for l in latencies { merged.add(l.histogram) }
        let empty = merged.totalCount == 0
        return PhaseResult(
            mpps: mpps, gbps: mpps * 1e6 * Double(options.wireBytes) * 8 / 1e9,
            nsPerPacket: mpps > 0 ? Double(options.threads) * 1000 / mpps : 0,
            repetitions: rates, packetsPerRepetition: totals.isEmpty ? 0 : totals[mid],
            seconds: seconds.isEmpty ? 0 : seconds[mid],
            batchP50: empty ? 0 : merged.valueAtPercentile(50), batchP99: empty ? 0 : merged.valueAtPercentile(99),
            batchP999: empty ? 0 : merged.valueAtPercentile(99.9), batchMax: empty ? 0 : merged.max)
    }
}
