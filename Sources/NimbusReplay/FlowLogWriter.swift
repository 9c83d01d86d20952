#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
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
        var records: [(start: UInt64, order: Int, record: FlowLogRecord)] = []
        for (n, r) in accepted.enumerated() {
            var record = Self.record(proto: r.protocolNumber, r.source, r.sourcePort, r.destination, r.destinationPort,
                                     packets: r.packets, bytes: r.bytes, start: r.start, end: r.last, action: .accept)
            record.endReason = r.end.rawValue
            records.append((r.start, n, record))
        }
        for (k, t) in rejected {
            var record = Self.record(proto: k.proto, k.source, k.sourcePort, k.destination, k.destinationPort,
                                     packets: t.packets, bytes: t.bytes, start: t.first, end: t.last, action: .reject)
            record.reason = k.reason.name
            records.append((t.first, accepted.count + t.order, record))
        }
        records.sort { ($0.start, $0.order) < ($1.start, $1.order) }
        let encoder = FlowLogRecord.encoder()
        var text: [UInt8] = []
        for r in records {
            text.append(contentsOf: encodeJSON(r.record, encoder))
            text.append(UInt8(ascii: "\n"))
        }
        try file.write(text)
        try file.commit()
    }

    private static func record(proto: UInt8, _ src: UInt32, _ sp: UInt16, _ dst: UInt32, _ dp: UInt16, packets: UInt64,
                               bytes: UInt64, start: UInt64, end: UInt64, action: FlowLogRecord.Action) -> FlowLogRecord {
        // Ports only mean something for TCP and UDP (ICMP echo identifiers are not shown as ports).
        let ported = proto == IPProtocol.tcp || proto == IPProtocol.udp
        return FlowLogRecord(protocol: protocolName(proto), source: IPv4Address(value: src).description,
                             sourcePort: ported ? sp : 0, destination: IPv4Address(value: dst).description,
                             destinationPort: ported ? dp : 0, packets: packets, bytes: bytes,
                             start: CaptureSeconds(nanoseconds: start), end: CaptureSeconds(nanoseconds: end), action: action)
    }
}
