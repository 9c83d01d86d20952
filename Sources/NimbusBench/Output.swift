/// `nimbus bench` output: a table for people, one JSON object for machines.
extension BenchResult {
    public var text: String {
        let o = options
        var lines: [String] = []
        lines.append("nimbus bench: \(topologyName), scenario \(o.scenario.rawValue), \(o.threads) thread"
                     + (o.threads == 1 ? "" : "s") + ", \(o.size)-byte frames, \(o.flows) established flow"
                     + (o.flows == 1 ? "" : "s"))
        var traffic = "traffic: \(plan)"
        if options.scenario != .route { traffic += " (\(ingressRules) ingress rule" + (ingressRules == 1 ? "" : "s") + " on \(plan.serverName))" }
        lines.append(traffic)
        lines.append("")
        lines.append(pad("phase", 13) + lpad("Mpps", 9) + lpad("Gbit/s", 9) + lpad("ns/packet", 11)
                     + lpad("batch p50", 11) + lpad("p99", 9) + lpad("p99.9", 9) + "  (µs per 256-packet batch)")
        for (name, p) in [("established", established), ("new-flows", newFlows)] {
            lines.append(pad(name, 13) + lpad(fixed(p.mpps, 3), 9) + lpad(fixed(p.gbps, 3), 9)
                         + lpad(fixed(p.nsPerPacket, 1), 11) + lpad(fixed(Double(p.batchP50) / 1000, 1), 11)
                         + lpad(fixed(Double(p.batchP99) / 1000, 1), 9) + lpad(fixed(Double(p.batchP999) / 1000, 1), 9))
        }
        lines.append("")
        if o.scenario == .route {
            lines.append("memory: no per-flow state in this scenario (\(residentDelta >> 10) KiB resident added by the set-up)")
        } else {
            lines.append("memory: \(fixed(bytesPerFlow, 0)) bytes per flow (resident memory added by opening \(o.flows) "
                     + "flow" + (o.flows == 1 ? "" : "s") + " in dataplanes whose flow tables are sized to them)")
        }
        lines.append("new flows: \(newFlowsPerRun) per fresh dataplane, \(newFlowRunsPerRepetition) run"
                     + (newFlowRunsPerRepetition == 1 ? "" : "s") + " per repetition and worker")
        let timing = o.packets.map { "\($0) packets each" } ?? "at least \(fixed(o.minimumSeconds, 1)) s each"
        lines.append("Mpps: median of \(o.repetitions) repetitions (\(timing)); Gbit/s on the wire (frame with FCS "
                     + "+ 20 bytes of preamble and gap); ns/packet per worker")
        lines.append("machine: \(cpus) CPUs, \(cpuModel)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// One JSON object: the keys SPEC.md fixes (`scenario`, `threads`, `size`, `flows`, `established`,
    /// `new-flows` with `mpps`, `gbps`, `ns-per-packet`) first, then the rest.
    public var json: String {
        func phaseJSON(_ p: PhaseResult, extra: [(String, String)] = []) -> String {
            object([
                ("mpps", fixed(p.mpps, 4)), ("gbps", fixed(p.gbps, 4)), ("ns-per-packet", fixed(p.nsPerPacket, 2)),
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
            ("established", phaseJSON(established)),
            ("new-flows", phaseJSON(newFlows, extra: [("flows-per-run", "\(newFlowsPerRun)"),
                                                      ("runs-per-repetition", "\(newFlowRunsPerRepetition)")])),
            ("topology", quote(topologyName)),
            ("traffic", object([
                ("from", quote(plan.clientName)), ("sources", quote(plan.clientSources.description)),
                ("to", quote(plan.serverName)), ("address", quote(plan.serverAddress.description)),
                ("protocol", quote(plan.protocolName)), ("port", "\(plan.service)"),
            ])),
            ("ingress-rules", "\(ingressRules)"), ("extra-rules", "\(o.extraRules)"),
            ("memory", object([("bytes-per-flow", fixed(bytesPerFlow, 1)), ("resident-delta-bytes", "\(residentDelta)"),
                               ("method", quote("resident memory added by opening the flows"))])),
            ("repetitions", "\(o.repetitions)"),
            ("frame-bytes", "\(o.frameLength)"), ("wire-bytes-per-packet", "\(o.wireBytes)"),
            ("gbps-basis", quote("on the wire: frame with FCS + 20 bytes of preamble, SFD and inter-frame gap")),
            ("ns-per-packet-basis", quote("per worker: threads x 1000 / mpps")),
            ("cpus", "\(cpus)"), ("cpu-model", quote(cpuModel)),
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
