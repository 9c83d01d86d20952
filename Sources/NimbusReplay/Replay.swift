#if canImport(Glibc)
import Glibc
#endif
import NimbusDataplane
import NimbusPcap
import NimbusVPN
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
    /// Write the secrets of every WireGuard handshake here, in the key-log format Wireshark reads.
    public var wireGuardKeyLogPath: String?
    /// Target health changes, at capture-time offsets from the first packet (the topology's `events`), for
    /// a single-site replay (`Replay.run(config:…)`).
    public var events: [ReplayEvent] = []
    /// Share-nothing workers per site (each with its own flow tables and share of the NAT ports); the
    /// outputs are deterministic for a given count.
    public var workers = 1
    public static let maximumWorkers = 64
    /// Hosts of the captures and the instances that play them (`--map`).
    public var maps: [HostMapping] = []
    /// With maps: leave wrong checksums on a mapped host's frames as they are, to be dropped as malformed.
    public var keepChecksums = false

    public init(inputs: [(port: String, path: String)], outputDirectory: String) {
        self.inputs = inputs
        self.outputDirectory = outputDirectory
    }
}

/// A load-balancer target health change at a capture-time offset from the first packet.
public typealias ReplayEvent = (at: UInt64, loadBalancer: Int, port: UInt16, health: TargetHealth)

/// One site of a replay: a compiled topology and its events.
public struct ReplaySite: Sendable {
    public var config: DataplaneConfig
    public var events: [ReplayEvent]
    public init(config: DataplaneConfig, events: [ReplayEvent] = []) {
        self.config = config
        self.events = events
    }
}

/// The replay harness: merges the input captures by timestamp, pushes them through the dataplane in
/// batches, and writes what leaves each port, every drop with its reason, and a report.
///
/// Several sites replay together joined by a simulated internet: what a site sends out of its uplink to
/// an address another site owns enters that site's uplink at the same capture time; everything any site
/// sends onto the internet is recorded in `internet.pcap`. Ports are then named `SITE/INSTANCE`.
public enum Replay {
    public static func run(config: DataplaneConfig, options: ReplayOptions,
                           traceOutput: (String) -> Void = { print($0) }) throws(ReplayError) -> ReplayReport {
        try run(sites: [ReplaySite(config: config, events: options.events)], options: options, traceOutput: traceOutput)
    }

    public static func run(sites: [ReplaySite], options: ReplayOptions,
                           traceOutput: (String) -> Void = { print($0) }) throws(ReplayError) -> ReplayReport {
        var run = try ReplayRun.make(sites: sites, options: options)
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
    /// The global port the records enter on.
    let port: Int
    /// The site they enter; nil for `internet` inputs of a multi-site replay (chosen per packet by the
    /// destination address).
    let site: Int?
    let reader: CaptureReader
    let adapter: LinkLayerAdapter
    var head: CaptureRecord?
}

/// One site while it replays: its workers (dataplane and batch each), and where its ports land among
/// the outputs.
final class SiteRuntime {
    let config: DataplaneConfig
    let group: WorkerGroup
    /// The inputs in the workers' batches, in arrival order (`WorkerGroup.arrival`). (Appended
    /// per packet by the replay's one thread: no dynamic exclusivity checks.)
    @exclusivity(unchecked) var arrivals: [UInt32] = []
    let events: [ReplayEvent]
    var nextEvent = 0
    /// The global port of each of the site's ports (its uplink is the shared `internet`, port 0).
    let globalPort: [Int]
    let formatter: TraceFormatter
    /// Names as the report shows them: bare for one site, `SITE/NAME` for several.
    let prefix: String

    init(site: ReplaySite, seed: UInt64, workers: Int, threaded: Bool, globalPort: [Int], globalNames: [String],
         prefix: String) {
        config = site.config
        events = site.events
        group = WorkerGroup(config: site.config, seed: seed, workers: workers, threaded: threaded)
        arrivals.reserveCapacity(workers * PacketBatch.inputCapacity)
        self.globalPort = globalPort
        self.prefix = prefix
        formatter = TraceFormatter(portNames: globalPort.map { globalNames[$0] },
                                   tunnels: site.config.vpnTunnels.map { ($0.name, $0.peers.map(\.publicKey.base64)) },
                                   names: TraceNames(config: site.config))
    }
}

/// A frame one site sent onto the internet for another site, waiting to enter it.
struct Transit {
    var site: Int
    var timestamp: UInt64
    var frame: [UInt8]
}

struct ReplayRun: ~Copyable {
    let options: ReplayOptions
    let sites: [SiteRuntime]
    let portNames: [String]
    /// Which site owns each public address (multi-site replays only).
    let owners: IPv4PrefixTable<Int>
    var inputs: [InputStream]
    var writers: [PcapWriter?]
    let drops: PcapngWriter
    var report: ReplayReport
    var traced = 0
    var lastTimestamp: UInt64 = 0
    var firstTimestamp: UInt64? = nil
    var progress: Progress?
    var flowLog: FlowLogWriter?
    var keyLog: AtomicOutputFile?
    var keyLogText = ""
    var transit: [Transit] = []
    var transitHead = 0
    /// `--map`: rewrites frames from and to the mapped hosts (nil without maps).
    let mapper: CaptureMapper?
    /// Per mapped host: frames from it, frames to it.
    var mappedCounts: [(from: Int, to: Int)]

    var isMultiSite: Bool { sites.count > 1 }

    /// Opens every input and output, or fails before anything is written.
    static func make(sites specs: [ReplaySite], options: ReplayOptions) throws(ReplayError) -> ReplayRun {
        let multi = specs.count > 1
        var names = ["internet"]
        var globalPorts: [[Int]] = []
        for spec in specs {
            var map = [0]
            for p in spec.config.ports.dropFirst() {
                map.append(names.count)
                names.append(multi ? spec.config.name + "/" + p.name : p.name)
            }
            globalPorts.append(map)
        }
        for spec in specs {
            if let problem = spec.config.problem(forWorkers: options.workers) {
                throw ReplayError("--workers \(options.workers): \(problem)")
            }
        }
        let runtimes = specs.enumerated().map { k, spec in
            // Several sites go packet by packet: waking threads for every packet would cost more than it saves.
            SiteRuntime(site: spec, seed: options.seed, workers: options.workers, threaded: !multi,
                        globalPort: globalPorts[k], globalNames: names,
                        prefix: multi ? spec.config.name + "/" : "")
        }
        var inputs: [InputStream] = []
        var totalBytes = 0
        for (portName, path) in options.inputs {
            guard let port = names.firstIndex(of: portName) else {
                throw ReplayError("--in \(portName)=\(path): no port named '\(portName)'; ports are: \(names.joined(separator: ", "))")
            }
            let site = port == 0 ? (multi ? nil : 0) : globalPorts.firstIndex { $0.contains(port) }
            let reader: CaptureReader
            do throws(CaptureError) { reader = try CaptureReader(path: path) } catch { throw ReplayError(error.message) }
            let siteConfig = specs[site ?? 0].config
            let local = globalPorts[site ?? 0].firstIndex(of: port) ?? 0
            let adapter = LinkLayerAdapter(sourceMAC: siteConfig.ports[local].peerMAC, routerMAC: siteConfig.routerMAC)
            inputs.append(InputStream(port: port, site: site, reader: reader, adapter: adapter, head: nil))
            var st = stat()
            if stat(path, &st) == 0 { totalBytes += Int(st.st_size) }
        }
        let mapper = try ReplayRun.mapper(options: options, specs: specs, portNames: names, globalPorts: globalPorts)
        try ReplayRun.makeDirectory(options.outputDirectory)
        if multi {
            for spec in specs { try ReplayRun.makeDirectory(options.outputDirectory + "/" + spec.config.name) }
        }
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
        var keyLog: AtomicOutputFile? = nil
        if let path = options.wireGuardKeyLogPath {
            do throws(CaptureError) { keyLog = try AtomicOutputFile(path: path) } catch {
                drops.discard()
                flowLog?.file.discard()
                throw ReplayError("--wg-keylog \(path): \(error.message)")
            }
        }
        var owned: [(IPv4CIDR, Int)] = []
        if multi {
            for (k, spec) in specs.enumerated() {
                let c = spec.config
                for n in c.networks where n.mode == .publicIP { owned.append((n.cidr, k)) }
                for p in c.ports.dropFirst() { if let pub = p.publicIP { owned.append((IPv4CIDR(address: pub, prefixLength: 32), k)) } }
                for a in c.extraPublicAddresses { owned.append((IPv4CIDR(address: a, prefixLength: 32), k)) }
            }
        }
        let progress = options.showProgress && isatty(2) == 1 ? Progress(totalBytes: totalBytes) : nil
        return ReplayRun(options: options, sites: runtimes, portNames: names, owners: IPv4PrefixTable(owned),
                         inputs: inputs, drops: drops, flowLog: flowLog, keyLog: keyLog, progress: progress,
                         mapper: mapper)
    }

    /// The `--map` rewriter, or nil without maps; a map naming no instance, or an address twice, fails.
    static func mapper(options: ReplayOptions, specs: [ReplaySite], portNames: [String],
                       globalPorts: [[Int]]) throws(ReplayError) -> CaptureMapper? {
        guard !options.maps.isEmpty else { return nil }
        var hosts: [CaptureMapper.Host] = []
        for m in options.maps {
            let flag = "--map \(m.address)=\(m.instance)"
            guard let global = portNames.firstIndex(of: m.instance), global != 0,
                  let site = globalPorts.firstIndex(where: { $0.contains(global) }),
                  let local = globalPorts[site].firstIndex(of: global) else {
                let instances = portNames.dropFirst().joined(separator: ", ")
                throw ReplayError("\(flag): no instance named '\(m.instance)'; instances are: \(instances)")
            }
            guard !hosts.contains(where: { $0.address == m.address }) else {
                throw ReplayError("\(flag): \(m.address) is mapped twice")
            }
            let c = specs[site].config
            let p = c.ports[local]
            hosts.append(CaptureMapper.Host(address: m.address, site: site, port: UInt16(local), instanceAddress: p.ip,
                                            instanceMAC: p.peerMAC, routerMAC: c.routerMAC, upstreamMAC: c.upstreamMAC))
        }
        return CaptureMapper(hosts: hosts, keepChecksums: options.keepChecksums)
    }

    private init(options: ReplayOptions, sites: [SiteRuntime], portNames: [String], owners: IPv4PrefixTable<Int>,
                 inputs: [InputStream], drops: PcapngWriter, flowLog: FlowLogWriter?, keyLog: AtomicOutputFile?,
                 progress: Progress?, mapper: CaptureMapper?) {
        self.mapper = mapper
        mappedCounts = Array(repeating: (0, 0), count: mapper?.hosts.count ?? 0)
        self.options = options
        self.sites = sites
        self.portNames = portNames
        self.owners = owners
        self.inputs = inputs
        self.drops = drops
        self.flowLog = flowLog
        self.keyLog = keyLog
        self.progress = progress
        report = ReplayReport(counters: Counters(portCount: portNames.count), portNames: portNames)
        writers = Array(repeating: nil, count: portNames.count)
        for site in sites {
            for w in site.group.workers {
                w.dataplane.context.flowLog.enabled = flowLog != nil
                w.dataplane.recordsHandshakeSecrets = keyLog != nil
            }
        }
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
        while true {
            // What a site sent to another one enters it before any later input.
            if transitHead < transit.count,
               nextInput().flatMap({ inputs[$0].head }).map({ $0.timestamp >= transit[transitHead].timestamp }) ?? true {
                try deliverTransit(traceOutput: traceOutput)
                continue
            }
            guard let k = nextInput(), let record = inputs[k].head else { break }
            // Capture time never runs backwards: a record older than the one before it is taken as arriving
            // at that time, so timers stay monotonic and the replay stays deterministic.
            let ts = max(record.timestamp, lastTimestamp)
            lastTimestamp = ts
            var s: Int
            var globalPort = inputs[k].port
            var bytes = record.bytes
            var linkType = record.linkType
            if let mapper, let (ip, role) = mapper.role(of: record.bytes, linkType: record.linkType) {
                switch role {
                case .fromHost(let h):
                    let host = mapper.hosts[h]
                    s = host.site
                    globalPort = sites[s].globalPort[Int(host.port)]
                    bytes = mapper.frameFromHost(h, ip: ip)
                    mappedCounts[h].from += 1
                case .toHost(let h):
                    let host = mapper.hosts[h]
                    s = host.site
                    globalPort = 0
                    // The instance's flow gets its public endpoint when its packets are processed: finish
                    // what is waiting (and the events due) before asking for it.
                    try applyEvents(sites[s], upTo: ts, traceOutput: traceOutput)
                    try flush(sites[s], traceOutput: traceOutput)
                    let group = sites[s].group
                    bytes = mapper.frameToHost(h, ip: ip) { proto, port in
                        group.publicEndpoint(port: host.port, protocol: proto, localPort: port)
                    }
                    mappedCounts[h].to += 1
                }
                linkType = .ethernet
            } else {
                s = inputs[k].site ?? siteOwning(record.bytes, linkType: record.linkType)
            }
            let site = sites[s]
            try applyEvents(site, upTo: ts, traceOutput: traceOutput)
            let port = UInt16(site.globalPort.firstIndex(of: globalPort) ?? 0)
            let w = site.group.count == 1 ? 0
                : site.group.dispatch(ipv4: linkType.flatMap { LinkLayerAdapter.ipv4Packet(of: bytes, linkType: $0) })
            var outcome = inputs[k].adapter.append(bytes, linkType: linkType, timestamp: ts, port: port,
                                                   to: &site.group.workers[w].batch)
            if outcome == .batchFull {
                // Offer it again at once to the emptied batch (a mapped frame is built only once).
                try flush(site, traceOutput: traceOutput)
                outcome = inputs[k].adapter.append(bytes, linkType: linkType, timestamp: ts, port: port,
                                                   to: &site.group.workers[w].batch)
            }
            switch outcome {
            case .appended(let i):
                site.arrivals.append(WorkerGroup.arrival(worker: w, index: i))
                try advance(k)
                if site.group.workers[w].batch.isFull { try flush(site, traceOutput: traceOutput) }
            case .rejected(let reason):
                // Keep drops.pcapng in arrival order: finish the batch before recording this one.
                try flush(site, traceOutput: traceOutput)
                site.group.workers[0].dataplane.countRejectedInput(port: port, bytes: bytes.count, reason: reason)
                let capped = UnsafeRawBufferPointer(rebasing: bytes.prefix(Int(PcapWriter.snaplen)))
                do throws(CaptureError) {
                    try drops.write(interface: globalPort, timestamp: ts, bytes: capped, comment: reason.name)
                } catch { throw ReplayError(error.message) }
                if traced < options.traceCount {
                    traced += 1
                    traceOutput("packet \(traced) at \(captureTime(ts))s in \(portNames[globalPort]), \(bytes.count) bytes\n  ingress     DROP \(reason.name): \(reason.explanation)")
                }
                try advance(k)
            case .batchFull:
                try flush(site, traceOutput: traceOutput)
            }
            // Several sites go packet by packet, so that what one sends reaches the others before anything
            // later happens: their outputs then depend only on earlier inputs, whatever follows.
            if isMultiSite { try flush(site, traceOutput: traceOutput) }
            progress?.update(bytes: record.bytes.count + 16, packets: 1)
        }
        for site in sites { try flush(site, traceOutput: traceOutput) }
        progress?.finish()
        for site in sites {
            // Let the timers catch up with the last packet's time, so what expired by then is counted (and
            // logged) as expired rather than open.
            site.group.advanceClock(to: lastTimestamp)
            collectSiteLogs(site)
            report.counters.merge(site.group.counters, portMap: site.globalPort)
            let flows = site.group.flowStatistics
            report.flowsCreated += flows.created
            report.flowsExpired += flows.expired
            report.flowsPeak += UInt64(flows.peak)
            let nat = site.group.natStatistics
            report.natMappingsCreated += nat.created
            report.natPeak += UInt64(nat.peak)
            report.natExpired += nat.expired
            let targets = site.group.loadBalancerTargets
            report.loadBalancers += site.config.loadBalancers.enumerated().map { b, lb in
                (site.prefix + lb.name, targets.filter { $0.lb == b }.map {
                    (portNames[site.globalPort[Int($0.port)]], "\($0.health)", $0.counters)
                })
            }
            report.vpnTunnels += site.group.vpnStatistics.map { (site.prefix + $0.name, $0.stats, $0.peers) }
            flowLog?.add(site.group.openFlows())
        }
        report.workers = options.workers
        if let mapper {
            report.mappedHosts = mapper.hosts.indices.map { h in
                (mapper.hosts[h].address.description, options.maps[h].instance, mappedCounts[h].from, mappedCounts[h].to)
            }
            report.mappedChecksumsRecomputed = mapper.checksumsRecomputed
        }
        report.seconds = monotonicSeconds() - start
        try commitOutputs()
    }

    /// The site whose public addresses hold the record's IPv4 destination (the first site when none does,
    /// or the record is not IPv4): where an `internet` input enters a multi-site replay.
    func siteOwning(_ record: UnsafeRawBufferPointer, linkType: LinkType?) -> Int {
        guard let linkType, let dst = LinkLayerAdapter.ipv4Destination(of: record, linkType: linkType) else { return 0 }
        return owners.lookup(dst)?.value ?? 0
    }

    /// Feeds the oldest frame in transit into its site.
    mutating func deliverTransit(traceOutput: (String) -> Void) throws(ReplayError) {
        let t = transit[transitHead]
        transitHead += 1
        if transitHead == transit.count {
            transit.removeAll(keepingCapacity: true)
            transitHead = 0
        }
        let site = sites[t.site]
        try applyEvents(site, upTo: t.timestamp, traceOutput: traceOutput)
        let w = t.frame.withUnsafeBytes { site.group.dispatch(frame: $0) }
        if let i = t.frame.withUnsafeBytes({ site.group.workers[w].batch.append($0, timestamp: t.timestamp, port: 0) }) {
            site.arrivals.append(WorkerGroup.arrival(worker: w, index: i))
        } else {
            site.group.workers[0].dataplane.countRejectedInput(port: 0, bytes: t.frame.count, reason: .frameTooLarge)
        }
        try flush(site, traceOutput: traceOutput)
    }

    /// Applies the site's events due by capture time `ts`, finishing its batch first so that the packets
    /// before an event see the state before it.
    mutating func applyEvents(_ site: SiteRuntime, upTo ts: UInt64, traceOutput: (String) -> Void) throws(ReplayError) {
        if firstTimestamp == nil { firstTimestamp = ts }
        let start = firstTimestamp!
        while site.nextEvent < site.events.count && ts >= start &+ site.events[site.nextEvent].at {
            try flush(site, traceOutput: traceOutput)
            let e = site.events[site.nextEvent]
            site.group.setTargetHealth(loadBalancer: e.loadBalancer, port: e.port, e.health)
            if traced < options.traceCount {
                traceOutput("event at \(captureTime(start &+ e.at))s: load balancer \(site.prefix)\(site.config.loadBalancers[e.loadBalancer].name) target \(portNames[site.globalPort[Int(e.port)]]) is \(e.health)")
            }
            site.nextEvent += 1
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

    mutating func flush(_ site: SiteRuntime, traceOutput: (String) -> Void) throws(ReplayError) {
        guard !site.arrivals.isEmpty else { return }
        let workers = site.group.workers
        var summaries: [String] = []
        let tracing = min(site.arrivals.count, options.traceCount - traced)
        for w in workers { w.dataplane.context.trace.limit = 0 }
        if tracing > 0 {
            for a in site.arrivals.prefix(tracing) {
                let (w, i) = WorkerGroup.place(a)
                summaries.append(summarize(frame: workers[w].batch.bytes(i)))
                // A worker's traced packets are the first ones of its batch.
                workers[w].dataplane.context.trace.limit = max(workers[w].dataplane.context.trace.limit, i + 1)
            }
        }
        site.group.process()
        if tracing > 0 {
            for (n, a) in site.arrivals.prefix(tracing).enumerated() {
                let (w, i) = WorkerGroup.place(a)
                traced += 1
                let m = workers[w].batch.meta[i]
                var lines = ["packet \(traced) at \(captureTime(m.timestamp))s in \(site.formatter.portNames[Int(m.inPort)]), \(summaries[n])"]
                for r in workers[w].dataplane.context.trace.records where Int(r.packet) == i {
                    lines.append(site.formatter.line(r))
                }
                if m.verdict == .consumed { lines.append("  result      consumed by the dataplane") }
                traceOutput(lines.joined(separator: "\n"))
            }
            for w in workers { w.dataplane.context.trace.clear() }
        }
        do throws(CaptureError) {
            try site.group.forEachEmission(site.arrivals) { (w, i) throws(CaptureError) in try emit(site, w, i) }
        } catch { throw ReplayError(error.message) }
        collectSiteLogs(site)
        site.group.resetBatches()
        site.arrivals.removeAll(keepingCapacity: true)
    }

    /// Moves the site's ended flows and handshake secrets into the logs.
    mutating func collectSiteLogs(_ site: SiteRuntime) {
        for w in site.group.workers {
            if flowLog != nil {
                flowLog?.add(w.dataplane.context.flowLog.records)
                w.dataplane.context.flowLog.clear()
            }
            if keyLog != nil {
                for h in w.dataplane.takeHandshakeSecrets() {
                    keyLogText += WireGuardKeyLog.text(for: [h.secrets])
                }
            }
        }
    }

    mutating func emit(_ site: SiteRuntime, _ worker: WorkerGroup.Worker, _ i: Int) throws(CaptureError) {
        if flowLog != nil && worker.batch.meta[i].verdict == .drop { flowLog?.reject(worker.batch, i) }
        let m = worker.batch.meta[i]
        let frame = worker.batch.bytes(i)
        let bytes = UnsafeRawBufferPointer(start: frame.base, count: frame.count)
        switch m.verdict {
        case .forward:
            let port = site.globalPort[Int(m.outPort)]
            if writers[port] == nil {
                writers[port] = try PcapWriter(path: options.outputDirectory + "/" + portNames[port] + ".pcap")
            }
            try writers[port]!.write(timestamp: m.timestamp, bytes: bytes)
            if isMultiSite && port == 0 && m.etherType == EtherType.ipv4 && Int(m.l3Offset) == EthernetFrame.headerLength
                && frame.count >= EthernetFrame.headerLength + IPv4Header.minimumLength,
               let owner = owners.lookup(IPv4Header(unchecked: frame.suffix(from: EthernetFrame.headerLength)).destination)?.value,
               owner != sites.firstIndex(where: { $0 === site }) {
                transit.append(Transit(site: owner, timestamp: m.timestamp, frame: Array(bytes)))
            }
        case .drop:
            try drops.write(interface: site.globalPort[Int(m.inPort)], timestamp: m.timestamp, bytes: bytes, comment: m.drop.name)
        case .pending, .consumed:
            break
        }
    }

    mutating func commitOutputs() throws(ReplayError) {
        do throws(CaptureError) {
            for w in writers { try w?.commit() }
            try drops.commit()
            // A port pcap left by an earlier run into the same directory would now be stale.
            for (port, w) in writers.enumerated() where w == nil {
                unlink(options.outputDirectory + "/" + portNames[port] + ".pcap")
            }
            try flowLog?.commit()
            if let keyLog {
                try keyLog.write(Array(keyLogText.utf8))
                try keyLog.commit()
            }
            let file = try AtomicOutputFile(path: options.outputDirectory + "/report.json")
            try file.write(Array(report.json().utf8))
            try file.commit()
        } catch { throw ReplayError(error.message) }
    }

    func discardOutputs() {
        for w in writers { w?.discard() }
        drops.discard()
        flowLog?.file.discard()
        keyLog?.discard()
    }
}
