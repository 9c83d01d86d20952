/// `nimbus bench` output: a table for people, one JSON object for machines.
extension BenchResult {
    public var text: String {
        let o = options
        var lines: [String] = []
        lines.append("nimbus bench: \(topologyName), scenario \(o.scenario.rawValue), \(o.threads) thread"
                     + (o.threads == 1 ? "" : "s") + ", \(o.size)-byte frames, \(o.flows) established flow"
                     + (o.flows == 1 ? "" : "s"))
        if plan.sets.count == 1 {
            lines.append("traffic: " + setText(plan.sets[0]))
        } else {
            lines.append("traffic: \(plan.sets.count) kinds of flows, interleaved flow by flow in every batch:")
            for set in plan.sets { lines.append("  \(set.kind.rawValue): " + setText(set)) }
        }
        lines.append("security groups: " + securityText)
        if o.scenario != .route { lines.append("state after opening: " + stateText) }
        lines.append("")
        lines.append(pad("phase", 13) + lpad("Mpps", 9) + lpad("Gbit/s", 9) + lpad("ns/packet", 11)
                     + lpad("allocs/pkt", 12) + lpad("batch p50", 11) + lpad("p99", 9) + lpad("p99.9", 9)
                     + "  (µs per 256-packet batch)")
        for (name, p, allocs) in [("established", established, allocations?.established),
                                  ("new-flows", newFlows, allocations?.newFlows)] {
            lines.append(pad(name, 13) + lpad(fixed(p.mpps, 3), 9) + lpad(fixed(p.gbps, 3), 9)
                         + lpad(fixed(p.nsPerPacket, 1), 11) + lpad(allocs.map { fixed($0, 3) } ?? "n/a", 12)
                         + lpad(fixed(Double(p.batchP50) / 1000, 1), 11)
                         + lpad(fixed(Double(p.batchP99) / 1000, 1), 9) + lpad(fixed(Double(p.batchP999) / 1000, 1), 9))
        }
        lines.append("")
        if o.scenario == .route {
            lines.append("memory: no per-flow state in this scenario (\(residentDelta >> 10) KiB resident added by the set-up)")
        } else {
            lines.append("memory: \(fixed(bytesPerFlow, 0)) bytes per flow (resident memory added by opening \(o.flows) "
                     + "flow" + (o.flows == 1 ? "" : "s") + " in dataplanes whose flow tables are sized to them)")
        }
        if o.threads > 1 {
            lines.append("workers: established flows per worker " + flowsPerWorker.map(String.init).joined(separator: " / ")
                         + "; placing a packet costs the dispatcher \(fixed(dispatchNanoseconds, 1)) ns (before the timed loop, as RSS would)")
        }
        lines.append("new flows: \(newFlowsPerRun) per fresh dataplane, \(newFlowRunsPerRepetition) run"
                     + (newFlowRunsPerRepetition == 1 ? "" : "s") + " per repetition and worker")
        let timing = o.packets.map { "\($0) packets each" } ?? "at least \(fixed(o.minimumSeconds, 1)) s each"
        lines.append("Mpps: median of \(o.repetitions) repetitions (\(timing)); Gbit/s on the wire (frame with FCS "
                     + "+ 20 bytes of preamble and gap); ns/packet per worker")
        lines.append(allocations == nil
                     ? "allocs/pkt: not available (the Swift runtime's allocation hook was not found)"
                     : "allocs/pkt: heap allocations per packet (malloc and friends, every Swift object included), counted in "
                       + "an untimed pass over the same traffic" + (optimized ? "" : "; debug build: unspecialized generic code "
                       + "allocates, measure a release build"))
        lines.append("machine: \(cpus) CPUs, \(cpuModel)")
        return lines.joined(separator: "\n") + "\n"
    }

    func setText(_ set: FlowSet) -> String {
        var t = set.description
        if let via = set.via(plan.portNames) { t += " via " + via }
        return t
    }

    var securityText: String {
        guard securityGroups else { return "off (route: no connection tracking, security groups or network ACLs)" }
        var parts: [String] = []
        if let r = ingressRules { parts.append("\(r.count) ingress rule" + (r.count == 1 ? "" : "s") + " on \(r.port)") }
        if let e = egressRules {
            parts.append(e.count.map { "\($0) egress rule" + ($0 == 1 ? "" : "s") + " on \(e.port)" }
                         ?? "\(e.port): all egress allowed, no egress rules")
        }
        return "on, as the topology has them" + (parts.isEmpty ? "" : " (" + parts.joined(separator: "; ") + ")")
    }

    var stateText: String {
        var parts = ["\(state.flows) tracked flow" + (state.flows == 1 ? "" : "s")]
        if state.natMappings > 0 {
            parts.append("\(state.natMappings) NAT mapping" + (state.natMappings == 1 ? "" : "s"))
        }
        if state.lbFlows > 0 {
            parts.append("\(state.lbFlows) load-balanced flow" + (state.lbFlows == 1 ? "" : "s") + " ("
                         + state.lbTargets.map { "\($0.name) \($0.flows)" }.joined(separator: ", ") + ")")
        }
        return parts.joined(separator: ", ")
    }

    func trafficDocument(_ set: FlowSet) -> BenchJSON.Traffic {
        BenchJSON.Traffic(kind: set.kind.rawValue, from: set.clientNames, sources: set.clientSources, to: set.serverName,
                          address: set.destinationText, protocol: set.protocolName, port: set.service,
                          via: set.via(plan.portNames), clientEndpoints: set.endpointCount,
                          destinations: set.destinationCount)
    }

    /// What `--json` prints, as a value.
    public var document: BenchJSON {
        func phase(_ p: PhaseResult, allocations: Double?) -> BenchJSON.Phase {
            BenchJSON.Phase(mpps: decimalRounded(p.mpps, 4), gbps: decimalRounded(p.gbps, 4),
                            nsPerPacket: decimalRounded(p.nsPerPacket, 2),
                            allocationsPerPacket: allocations.map { decimalRounded($0, 4) },
                            repetitionsMpps: p.repetitions.map { decimalRounded($0, 4) },
                            packetsPerRepetition: p.packetsPerRepetition, seconds: decimalRounded(p.seconds, 4),
                            batchLatencyNs: .init(p50: p.batchP50, p99: p.batchP99, p999: p.batchP999, max: p.batchMax))
        }
        let o = options
        var newFlowsPhase = phase(newFlows, allocations: allocations?.newFlows)
        newFlowsPhase.flowsPerRun = newFlowsPerRun
        newFlowsPhase.runsPerRepetition = newFlowRunsPerRepetition
        return BenchJSON(
            scenario: o.scenario.rawValue, threads: o.threads, size: o.size, flows: o.flows,
            established: phase(established, allocations: allocations?.established), newFlows: newFlowsPhase,
            topology: topologyName, traffic: trafficDocument(plan.sets[0]), trafficMix: plan.sets.map(trafficDocument),
            securityGroups: securityGroups, ingressRules: ingressRules?.count ?? 0, ingressRulesOn: ingressRules?.port,
            egressRules: egressRules.map { BenchJSON.EgressRules(on: $0.port, count: $0.count) },
            extraRules: o.extraRules,
            state: .init(trackedFlows: state.flows, natMappings: state.natMappings, lbFlows: state.lbFlows,
                         lbTargets: Dictionary(state.lbTargets.map { ($0.name, $0.flows) }, uniquingKeysWith: +)),
            allocationsMethod: "heap allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc by the Swift "
                + "runtime and nimbus) per packet, in an untimed pass after the timed repetitions",
            optimized: optimized,
            memory: .init(bytesPerFlow: decimalRounded(bytesPerFlow, 1), residentDeltaBytes: residentDelta,
                          method: "resident memory added by opening the flows"),
            repetitions: o.repetitions, frameBytes: o.frameLength, wireBytesPerPacket: o.wireBytes,
            gbpsBasis: "on the wire: frame with FCS + 20 bytes of preamble, SFD and inter-frame gap",
            nsPerPacketBasis: "per worker: threads x 1000 / mpps",
            cpus: cpus, cpuModel: cpuModel,
            dispatch: .init(flowsPerWorker: flowsPerWorker, nsPerPacket: decimalRounded(dispatchNanoseconds, 1)))
    }

    /// One JSON object on one line (`document`, keys sorted).
    public var json: String { jsonLine(document) }
}

/// `v` with `digits` decimals, without Foundation.
func fixed(_ v: Double, _ digits: Int) -> String {
    guard v.isFinite else { return "0" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(v) * scale).rounded()
    guard scaled < 9e18 else { return String(v) }
    let n = Int(scaled)
    let whole = n / Int(scale), frac = n % Int(scale)
    var s = (v < 0 && n != 0 ? "-" : "") + String(whole)
    if digits > 0 {
        let f = String(frac)
        s += "." + String(repeating: "0", count: digits - f.count) + f
    }
    return s
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
