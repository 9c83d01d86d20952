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

    func setJSON(_ set: FlowSet) -> String {
        object([
            ("kind", quote(set.kind.rawValue)),
            ("from", quote(set.clientNames)), ("sources", quote(set.clientSources)),
            ("to", quote(set.serverName)), ("address", quote(set.destinationText)),
            ("protocol", quote(set.protocolName)), ("port", "\(set.service)"),
            ("via", set.via(plan.portNames).map(quote) ?? "null"),
            ("client-endpoints", "\(set.endpointCount)"), ("destinations", "\(set.destinationCount)"),
        ])
    }

    /// One JSON object: the keys SPEC.md fixes (`scenario`, `threads`, `size`, `flows`, `established`,
    /// `new-flows` with `mpps`, `gbps`, `ns-per-packet`) first, then the rest.
    public var json: String {
        func phaseJSON(_ p: PhaseResult, allocations: Double?, extra: [(String, String)] = []) -> String {
            object([
                ("mpps", fixed(p.mpps, 4)), ("gbps", fixed(p.gbps, 4)), ("ns-per-packet", fixed(p.nsPerPacket, 2)),
                ("allocations-per-packet", allocations.map { fixed($0, 4) } ?? "null"),
                ("repetitions-mpps", "[" + p.repetitions.map { fixed($0, 4) }.joined(separator: ", ") + "]"),
                ("packets-per-repetition", "\(p.packetsPerRepetition)"), ("seconds", fixed(p.seconds, 4)),
                ("batch-latency-ns", object([("p50", "\(p.batchP50)"), ("p99", "\(p.batchP99)"),
                                             ("p999", "\(p.batchP999)"), ("max", "\(p.batchMax)")])),
            ] + extra)
        }
        let o = options
        return object([
            ("scenario", quote(o.scenario.rawValue)), ("threads", "\(o.threads)"), ("size", "\(o.size)"),
            ("flows", "\(o.flows)"),
            ("established", phaseJSON(established, allocations: allocations?.established)),
            ("new-flows", phaseJSON(newFlows, allocations: allocations?.newFlows,
                                    extra: [("flows-per-run", "\(newFlowsPerRun)"),
                                            ("runs-per-repetition", "\(newFlowRunsPerRepetition)")])),
            ("topology", quote(topologyName)),
            ("traffic", setJSON(plan.sets[0])),
            ("traffic-mix", "[" + plan.sets.map(setJSON).joined(separator: ", ") + "]"),
            ("security-groups", securityGroups ? "true" : "false"),
            ("ingress-rules", "\(ingressRules?.count ?? 0)"),
            ("ingress-rules-on", ingressRules.map { quote($0.port) } ?? "null"),
            ("egress-rules", egressRules.map { e in
                object([("on", quote(e.port)), ("count", e.count.map { "\($0)" } ?? "null")]) } ?? "null"),
            ("extra-rules", "\(o.extraRules)"),
            ("state", object([
                ("tracked-flows", "\(state.flows)"), ("nat-mappings", "\(state.natMappings)"),
                ("lb-flows", "\(state.lbFlows)"),
                ("lb-targets", object(state.lbTargets.map { ($0.name, "\($0.flows)") })),
            ])),
            ("allocations-method", quote("heap allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc "
                                         + "by the Swift runtime and nimbus) per packet, in an untimed pass after the timed "
                                         + "repetitions")),
            ("optimized", optimized ? "true" : "false"),
            ("memory", object([("bytes-per-flow", fixed(bytesPerFlow, 1)), ("resident-delta-bytes", "\(residentDelta)"),
                               ("method", quote("resident memory added by opening the flows"))])),
            ("repetitions", "\(o.repetitions)"),
            ("frame-bytes", "\(o.frameLength)"), ("wire-bytes-per-packet", "\(o.wireBytes)"),
            ("gbps-basis", quote("on the wire: frame with FCS + 20 bytes of preamble, SFD and inter-frame gap")),
            ("ns-per-packet-basis", quote("per worker: threads x 1000 / mpps")),
            ("cpus", "\(cpus)"), ("cpu-model", quote(cpuModel)),
            ("dispatch", object([("flows-per-worker", "[" + flowsPerWorker.map(String.init).joined(separator: ", ") + "]"),
                                 ("ns-per-packet", fixed(dispatchNanoseconds, 1))])),
        ]) + "\n"
    }
}

func object(_ pairs: [(String, String)]) -> String {
    "{" + pairs.map { quote($0.0) + ": " + $0.1 }.joined(separator: ", ") + "}"
}

func quote(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case _ where u.value < 0x20:
            let hex = String(u.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
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
