import CNetlink
import NimbusDataplane
import NimbusPcap
import NimbusWire
#if canImport(Glibc)
import Glibc
#endif

/// Set by SIGINT/SIGTERM; the loop checks it between batches.
nonisolated(unsafe) var stopRequested: sig_atomic_t = 0

/// Options of `nimbus up`.
public struct LiveOptions: Sendable {
    public var pcapDirectory: String?
    /// Print a one-line status every second (on a terminal).
    public var status = true
    public var seed: UInt64 = 0
    /// Share-nothing dataplane workers, each on a thread of its own.
    public var workers = 1
    /// Serve Prometheus metrics on this IPv4 address and TCP port.
    public var metrics: (host: String, port: UInt16)?
    /// Called once traffic can flow.
    public var onReady: @Sendable () -> Void = {}
    public init() {}
}

/// Runs a site's dataplane on real links until SIGINT/SIGTERM, then removes everything it made.
public enum LiveRunner {
    public static func run(config: DataplaneConfig, internetHosts: [(name: String, ip: IPv4Address)],
                           options: LiveOptions) throws(LiveError) {
        if let problem = config.problem(forWorkers: options.workers) { throw LiveError("--workers \(options.workers): \(problem)") }
        let plan = LivePlan(config: config, internetHosts: internetHosts)
        try LiveNetwork.build(plan)
        defer {
            LiveNetwork.teardown(namespaces: plan.namespaces, links: plan.links.map(\.rootSide))
            unlink(plan.stateFile)
        }
        var ports: [PacketPort] = []
        for l in plan.links { ports.append(try PacketPort(interface: l.rootSide, port: l.port)) }
        var writers: [PcapWriter?] = Array(repeating: nil, count: ports.count)
        if let dir = options.pcapDirectory {
            mkdir(dir, 0o755)
            for (i, p) in config.ports.enumerated() {
                writers[i] = try? PcapWriter(path: "\(dir)/\(p.name).pcap")
            }
        }
        signal(SIGINT) { _ in stopRequested = 1 }
        signal(SIGTERM) { _ in stopRequested = 1 }
        unblockSignals()
        let group = WorkerGroup(config: config, seed: options.seed, workers: options.workers)
        var arrivals: [UInt32] = []
        arrivals.reserveCapacity(options.workers * PacketBatch.inputCapacity)
        var metrics: LiveMetrics? = nil
        if let m = options.metrics {
            let registry = LiveMetrics(config: config)
            _ = try MetricsServer(host: m.host, port: m.port, metrics: registry)
            metrics = registry
        }
        var fds = ports.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        options.onReady()
        var lastStatus = realtime()
        var lastIn: UInt64 = 0
        let showStatus = options.status && isatty(2) == 1
        var order: [Int] = []
        order.reserveCapacity(PacketBatch.metaCapacity)
        while stopRequested == 0 {
            _ = poll(&fds, nfds_t(fds.count), 100)
            let now = realtime()
            var any = true
            while any {
                any = false
                for p in ports where p.receive(into: group, arrivals: &arrivals, now: now) > 0 { any = true }
                if arrivals.isEmpty { break }
                group.process()
                group.forEachEmission(arrivals) { w, i in emit(w.batch, i, ports, &writers) }
                // One sendmmsg per port per round: the frames still lie in the batches until now.
                for p in ports { p.flush() }
                group.resetBatches()
                arrivals.removeAll(keepingCapacity: true)
            }
            // Timers run even when nothing arrives: handshake retransmissions, keepalives. The VPN lives on
            // worker 0.
            let first = group.workers[0]
            first.dataplane.runTimers(now: realtime(), &first.batch)
            if first.batch.count > 0 {
                first.batch.emissionOrder(into: &order)
                for i in order { emit(first.batch, i, ports, &writers) }
                for p in ports { p.flush() }
                first.batch.reset()
            }
            if now - lastStatus >= 1_000_000_000 {
                group.advanceClock(to: now)
                if let metrics {
                    metrics.update(group.counters, flows: group.flowStatistics.live,
                                   natMappings: group.natStatistics.live,
                                   vpn: group.vpnStatistics.map { t in
                                       (t.stats.handshakesCompleted + t.stats.handshakesResponded,
                                        t.peers.filter { $0.status.hasSession }.count)
                                   })
                }
                let c = group.counters
                if showStatus {
                    let rate = Double(c.packetsIn - lastIn) / (Double(now - lastStatus) / 1e9)
                    let drops = DropReason.allCases.filter { c.drops($0) > 0 }.map { "\($0.name) \(c.drops($0))" }
                    let line = "\r\(config.name): in \(c.packetsIn) out \(c.packetsOut) (\(Int(rate)) pps) dropped \(c.packetsDropped)"
                        + (drops.isEmpty ? "" : " [" + drops.prefix(4).joined(separator: ", ") + "]") + "\u{1B}[K"
                    _ = line.withCString { write(2, $0, strlen($0)) }
                }
                lastIn = c.packetsIn
                lastStatus = now
            }
        }
        if showStatus { _ = "\n".withCString { write(2, $0, 1) } }
        for w in writers { try? w?.commit() }
    }

    private static func emit(_ batch: borrowing PacketBatch, _ i: Int, _ ports: [PacketPort], _ writers: inout [PcapWriter?]) {
        let m = batch.meta[i]
        guard m.verdict == .forward else { return }
        let frame = batch.bytes(i)
        let bytes = UnsafeRawBufferPointer(start: frame.base, count: frame.count)
        ports[Int(m.outPort)].enqueue(bytes)
        try? writers[Int(m.outPort)]?.write(timestamp: m.timestamp, bytes: bytes)
    }

    /// A parent may start us with signals blocked (a test runner's thread, say); SIGINT and SIGTERM are
    /// how `nimbus up` is stopped, so they must get through.
    static func unblockSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    static func realtime() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
