#if canImport(Glibc)
import Glibc
#endif
import NimbusDataplane
import NimbusPcap
import NimbusWire

/// A replay could not run: a bad input, argument or output. The message names the culprit.
public struct ReplayError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What to replay and where to put the results.
public struct ReplayOptions: Sendable {
    /// (port name, capture path), in command-line order; that order breaks timestamp ties.
    public var inputs: [(port: String, path: String)]
    public var outputDirectory: String
    public var seed: UInt64 = 0
    /// Trace the first this-many packets.
    public var traceCount = 0
    /// Show a progress line on standard error (when it is a terminal).
    public var showProgress = false
    /// Write a flow log (JSON lines) here.
    public var flowLogPath: String?
    /// Target health changes, at capture-time offsets from the first packet (the topology's `events`).
    public var events: [(at: UInt64, loadBalancer: Int, port: UInt16, health: TargetHealth)] = []

    public init(inputs: [(port: String, path: String)], outputDirectory: String) {
        self.inputs = inputs
        self.outputDirectory = outputDirectory
    }
}

/// The replay harness: merges the input captures by timestamp, pushes them through the dataplane in
/// batches, and writes what leaves each port, every drop with its reason, and a report.
public enum Replay {
    public static func run(config: DataplaneConfig, options: ReplayOptions,
                           traceOutput: (String) -> Void = { print($0) }) throws(ReplayError) -> ReplayReport {
        var run = try ReplayRun.make(config: config, options: options)
        do {
            try run.execute(traceOutput: traceOutput)
        } catch {
            run.discardOutputs()
            throw error
        }
        return run.report
    }
}

/// A capture timestamp as exact decimal seconds (nanosecond digits).
func captureTime(_ ns: UInt64) -> String {
    let frac = String(ns % 1_000_000_000)
    return "\(ns / 1_000_000_000)." + String(repeating: "0", count: 9 - frac.count) + frac
}

/// Monotonic wall-clock seconds, for the report's timing figures only (never for dataplane decisions).
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

struct InputStream {
    let port: UInt16
    let reader: CaptureReader
    let adapter: LinkLayerAdapter
    var head: CaptureRecord?
}

struct ReplayRun: ~Copyable {
    let config: DataplaneConfig
    let options: ReplayOptions
    var dataplane: Dataplane
    var inputs: [InputStream]
    var writers: [PcapWriter?]
    let drops: PcapngWriter
    var batch: PacketBatch
    var report: ReplayReport
    var traced = 0
    var lastTimestamp: UInt64 = 0
    var firstTimestamp: UInt64? = nil
    var nextEvent = 0
    let formatter: TraceFormatter
    var progress: Progress?
    var flowLog: FlowLogWriter?

    /// Opens every input and output, or fails before anything is written.
    static func make(config: DataplaneConfig, options: ReplayOptions) throws(ReplayError) -> ReplayRun {
        let names = config.ports.map(\.name)
        var inputs: [InputStream] = []
        var totalBytes = 0
        for (portName, path) in options.inputs {
            guard let port = config.port(named: portName) else {
                throw ReplayError("--in \(portName)=\(path): no port named '\(portName)'; ports are: \(names.joined(separator: ", "))")
            }
            let reader: CaptureReader
            do throws(CaptureError) { reader = try CaptureReader(path: path) } catch { throw ReplayError(error.message) }
            let adapter = LinkLayerAdapter(sourceMAC: config.ports[Int(port)].peerMAC, routerMAC: config.routerMAC)
            inputs.append(InputStream(port: port, reader: reader, adapter: adapter, head: nil))
            var st = stat()
            if stat(path, &st) == 0 { totalBytes += Int(st.st_size) }
        }
        try ReplayRun.makeDirectory(options.outputDirectory)
        let drops: PcapngWriter
        do throws(CaptureError) {
            drops = try PcapngWriter(path: options.outputDirectory + "/drops.pcapng", interfaces: names)
        } catch {
            throw ReplayError(error.message)
        }
        var flowLog: FlowLogWriter? = nil
        if let path = options.flowLogPath {
            do throws(CaptureError) { flowLog = FlowLogWriter(file: try AtomicOutputFile(path: path)) } catch {
                drops.discard()
                throw ReplayError("--flow-log \(path): \(error.message)")
            }
        }
        let progress = options.showProgress && isatty(2) == 1 ? Progress(totalBytes: totalBytes) : nil
        return ReplayRun(config: config, options: options, inputs: inputs, drops: drops, flowLog: flowLog,
                         progress: progress)
    }

    private init(config: DataplaneConfig, options: ReplayOptions, inputs: [InputStream], drops: PcapngWriter,
                 flowLog: FlowLogWriter?, progress: Progress?) {
        self.config = config
        self.options = options
        self.inputs = inputs
        self.drops = drops
        self.flowLog = flowLog
        self.progress = progress
        let names = config.ports.map(\.name)
        formatter = TraceFormatter(portNames: names)
        report = ReplayReport(counters: Counters(portCount: names.count), portNames: names)
        writers = Array(repeating: nil, count: names.count)
        dataplane = Dataplane(config: config, seed: options.seed)
        batch = PacketBatch()
        dataplane.context.flowLog.enabled = flowLog != nil
    }

    static func makeDirectory(_ path: String) throws(ReplayError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part + "/"
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw ReplayError("--out \(path): cannot create directory: \(String(cString: strerror(errno)))")
            }
        }
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw ReplayError("--out \(path): not a directory")
        }
        guard access(path, W_OK) == 0 else {
            throw ReplayError("--out \(path): not writable: \(String(cString: strerror(errno)))")
        }
    }

    mutating func execute(traceOutput: (String) -> Void) throws(ReplayError) {
        let start = monotonicSeconds()
        for k in inputs.indices { try advance(k) }
        while let k = nextInput() {
            guard let record = inputs[k].head else { break }
            // Capture time never runs backwards: a record older than the one before it is taken as arriving
            // at that time, so timers stay monotonic and the replay stays deterministic.
            let ts = max(record.timestamp, lastTimestamp)
            lastTimestamp = ts
            try applyEvents(upTo: ts, traceOutput: traceOutput)
            let port = inputs[k].port
            switch inputs[k].adapter.append(record.bytes, linkType: record.linkType, timestamp: ts, port: port, to: &batch) {
            case .appended:
                try advance(k)
            case .rejected(let reason):
                // Keep drops.pcapng in arrival order: finish the batch before recording this one.
                try flush(traceOutput: traceOutput)
                dataplane.countRejectedInput(port: port, bytes: record.bytes.count, reason: reason)
                let capped = UnsafeRawBufferPointer(rebasing: record.bytes.prefix(Int(PcapWriter.snaplen)))
                do throws(CaptureError) {
                    try drops.write(interface: Int(port), timestamp: ts, bytes: capped, comment: reason.name)
                } catch { throw ReplayError(error.message) }
                if traced < options.traceCount {
                    traced += 1
                    traceOutput("packet \(traced) at \(captureTime(ts))s in \(config.ports[Int(port)].name), \(record.bytes.count) bytes\n  ingress     DROP \(reason.name): \(reason.explanation)")
                }
                try advance(k)
            case .batchFull:
                try flush(traceOutput: traceOutput)
            }
            if batch.isFull { try flush(traceOutput: traceOutput) }
            progress?.update(bytes: record.bytes.count + 16, packets: 1)
        }
        try flush(traceOutput: traceOutput)
        // Let the timers catch up with the last packet's time, so what expired by then is counted (and
        // logged) as expired rather than open.
        dataplane.advanceClock(to: lastTimestamp)
        if flowLog != nil {
            flowLog?.add(dataplane.context.flowLog.records)
            dataplane.context.flowLog.clear()
        }
        progress?.finish()
        report.counters = dataplane.counters
        let flows = dataplane.flowStatistics
        report.flowsCreated = flows.created
        report.flowsExpired = flows.expired
        report.flowsPeak = UInt64(flows.peak)
        let nat = dataplane.natStatistics
        report.natMappingsCreated = nat.created
        report.natPeak = UInt64(nat.peak)
        report.natExpired = nat.expired
        report.loadBalancers = config.loadBalancers.enumerated().map { b, lb in
            (lb.name, dataplane.loadBalancerTargets.filter { $0.lb == b }.map {
                (config.ports[Int($0.port)].name, "\($0.health)", $0.counters)
            })
        }
        flowLog?.add(dataplane.openFlows())
        report.seconds = monotonicSeconds() - start
        try commitOutputs()
    }

    /// Applies the events due by capture time `ts`, finishing the batch first so that the packets before
    /// an event see the state before it.
    mutating func applyEvents(upTo ts: UInt64, traceOutput: (String) -> Void) throws(ReplayError) {
        if firstTimestamp == nil { firstTimestamp = ts }
        let start = firstTimestamp!
        while nextEvent < options.events.count && ts >= start &+ options.events[nextEvent].at {
            try flush(traceOutput: traceOutput)
            let e = options.events[nextEvent]
            dataplane.setTargetHealth(loadBalancer: e.loadBalancer, port: e.port, e.health)
            if traced < options.traceCount {
                traceOutput("event at \(captureTime(start &+ e.at))s: load balancer \(config.loadBalancers[e.loadBalancer].name) target \(config.ports[Int(e.port)].name) is \(e.health)")
            }
            nextEvent += 1
        }
    }

    /// Reads the next record of input `k` into its head (nil at the end).
    mutating func advance(_ k: Int) throws(ReplayError) {
        do throws(CaptureError) { inputs[k].head = try inputs[k].reader.next() } catch { throw ReplayError(error.message) }
    }

    /// The input whose head is earliest; ties go to the input named first.
    func nextInput() -> Int? {
        var best: Int? = nil
        for k in inputs.indices {
            guard let h = inputs[k].head else { continue }
            if let b = best, let bh = inputs[b].head, bh.timestamp <= h.timestamp { continue }
            best = k
        }
        return best
    }

    mutating func flush(traceOutput: (String) -> Void) throws(ReplayError) {
        guard batch.inputCount > 0 else { return }
        var summaries: [String] = []
        let tracing = min(batch.inputCount, options.traceCount - traced)
        if tracing > 0 {
            for i in 0..<tracing { summaries.append(summarize(frame: batch.bytes(i))) }
        }
        dataplane.context.trace.limit = max(0, tracing)
        dataplane.process(&batch)
        if tracing > 0 {
            let records = dataplane.context.trace.records
            var r = 0
            for i in 0..<tracing {
                traced += 1
                let m = batch.meta[i]
                var lines = ["packet \(traced) at \(captureTime(m.timestamp))s in \(config.ports[Int(m.inPort)].name), \(summaries[i])"]
                while r < records.count && Int(records[r].packet) < i { r += 1 }
                var j = r
                while j < records.count {
                    if Int(records[j].packet) == i { lines.append(formatter.line(records[j])) }
                    j += 1
                }
                traceOutput(lines.joined(separator: "\n"))
            }
            dataplane.context.trace.clear()
        }
        do throws(CaptureError) {
            for i in 0..<batch.inputCount {
                try emit(i)
                let child = batch.meta[i].child
                if child != PacketMeta.noChild { try emit(Int(child)) }
            }
        } catch { throw ReplayError(error.message) }
        if flowLog != nil {
            flowLog?.add(dataplane.context.flowLog.records)
            dataplane.context.flowLog.clear()
        }
        batch.reset()
    }

    mutating func emit(_ i: Int) throws(CaptureError) {
        if flowLog != nil && batch.meta[i].verdict == .drop { flowLog?.reject(batch, i) }
        let m = batch.meta[i]
        let frame = batch.bytes(i)
        let bytes = UnsafeRawBufferPointer(start: frame.base, count: frame.count)
        switch m.verdict {
        case .forward:
            let port = Int(m.outPort)
            if writers[port] == nil {
                writers[port] = try PcapWriter(path: options.outputDirectory + "/" + config.ports[port].name + ".pcap")
            }
            try writers[port]!.write(timestamp: m.timestamp, bytes: bytes)
        case .drop:
            try drops.write(interface: Int(m.inPort), timestamp: m.timestamp, bytes: bytes, comment: m.drop.name)
        case .pending:
            break
        }
    }

    mutating func commitOutputs() throws(ReplayError) {
        do throws(CaptureError) {
            for w in writers { try w?.commit() }
            try drops.commit()
            // A port pcap left by an earlier run into the same directory would now be stale.
            for (port, w) in writers.enumerated() where w == nil {
                unlink(options.outputDirectory + "/" + config.ports[port].name + ".pcap")
            }
            try flowLog?.commit()
            let file = try AtomicOutputFile(path: options.outputDirectory + "/report.json")
            try file.write(Array(report.json().utf8))
            try file.commit()
        } catch { throw ReplayError(error.message) }
    }

    func discardOutputs() {
        for w in writers { w?.discard() }
        drops.discard()
        flowLog?.file.discard()
    }
}
