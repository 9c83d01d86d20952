import NimbusDataplane
import NimbusPcap
import NimbusWire

/// Collects a replay's flow log and writes it as JSON lines, one per flow, ordered by start time, like a
/// cloud's VPC flow logs: accepted flows when they end (or still open at the end of the replay), and
/// rejected ones — packets a security group or the connection tracker refused, grouped by 5-tuple and
/// reason.
struct FlowLogWriter {
    let file: AtomicOutputFile
    private var accepted: [FlowRecord] = []
    private struct RejectKey: Hashable {
        var proto: UInt8, source: UInt32, sourcePort: UInt16, destination: UInt32, destinationPort: UInt16
        var reason: DropReason
    }
    private struct RejectTally { var first: UInt64, last: UInt64, packets: UInt64, bytes: UInt64, order: Int }
    private var rejected: [RejectKey: RejectTally] = [:]

    init(file: AtomicOutputFile) { self.file = file }

    mutating func add(_ records: [FlowRecord]) { accepted += records }

    /// Counts a dropped packet when its reason is a flow being refused.
    mutating func reject(_ batch: borrowing PacketBatch, _ i: Int) {
        let m = batch.meta[i]
        switch m.drop {
        case .sgIngressDenied, .sgEgressDenied, .ctInvalid, .ctTableFull, .natTableFull, .lbTableFull: break
        default: return
        }
        let ip = IPv4Header(unchecked: batch.bytes(i).suffix(from: Int(m.l3Offset)))
        var sp: UInt16 = 0, dp: UInt16 = 0
        if m.hasL4 && (m.ipProtocol == IPProtocol.tcp || m.ipProtocol == IPProtocol.udp) {
            let ports = TransportPortsView(unchecked: batch.bytes(i).suffix(from: Int(m.l4Offset)))
            sp = ports.sourcePort; dp = ports.destinationPort
        }
        let key = RejectKey(proto: m.ipProtocol, source: ip.source.value, sourcePort: sp, destination: ip.destination.value,
                            destinationPort: dp, reason: m.drop)
        if var t = rejected[key] {
            t.last = m.timestamp; t.packets += 1; t.bytes += UInt64(m.length)
            rejected[key] = t
        } else {
            rejected[key] = RejectTally(first: m.timestamp, last: m.timestamp, packets: 1, bytes: UInt64(m.length),
                                        order: rejected.count)
        }
    }

    static func protocolName(_ p: UInt8) -> String {
        switch p {
        case IPProtocol.tcp: "tcp"
        case IPProtocol.udp: "udp"
        case IPProtocol.icmp: "icmp"
        default: String(p)
        }
    }

    func commit() throws(CaptureError) {
        var lines: [(UInt64, Int, String)] = []
        for (n, r) in accepted.enumerated() {
            lines.append((r.start, n, line(proto: r.protocolNumber, r.source, r.sourcePort, r.destination, r.destinationPort,
                                            packets: r.packets, bytes: r.bytes, start: r.start, end: r.last,
                                            action: "ACCEPT", extra: "\"end-reason\": \"\(r.end.rawValue)\"")))
        }
        for (k, t) in rejected {
            lines.append((t.first, accepted.count + t.order,
                          line(proto: k.proto, k.source, k.sourcePort, k.destination, k.destinationPort, packets: t.packets,
                               bytes: t.bytes, start: t.first, end: t.last, action: "REJECT",
                               extra: "\"reason\": \"\(k.reason.name)\"")))
        }
        lines.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        try file.write(Array(lines.map { $0.2 + "\n" }.joined().utf8))
        try file.commit()
    }

    private func line(proto: UInt8, _ src: UInt32, _ sp: UInt16, _ dst: UInt32, _ dp: UInt16, packets: UInt64,
                      bytes: UInt64, start: UInt64, end: UInt64, action: String, extra: String) -> String {
        // Ports only mean something for TCP and UDP (ICMP echo identifiers are not shown as ports).
        let ported = proto == IPProtocol.tcp || proto == IPProtocol.udp
        let sp = ported ? sp : 0, dp = ported ? dp : 0
        return "{\"protocol\": \"\(Self.protocolName(proto))\", \"source\": \"\(IPv4Address(value: src))\", \"source-port\": \(sp), "
            + "\"destination\": \"\(IPv4Address(value: dst))\", \"destination-port\": \(dp), \"packets\": \(packets), "
            + "\"bytes\": \(bytes), \"start\": \(captureTime(start)), \"end\": \(captureTime(end)), "
            + "\"action\": \"\(action)\", \(extra)}"
    }
}
