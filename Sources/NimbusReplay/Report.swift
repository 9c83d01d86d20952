import NimbusDataplane
import NimbusVPN

/// The figures of one replay, written as `report.json`.
public struct ReplayReport: Sendable {
    public var counters: Counters
    public var portNames: [String]
    public var flowsCreated: UInt64 = 0
    public var flowsExpired: UInt64 = 0
    public var flowsPeak: UInt64 = 0
    public var natMappingsCreated: UInt64 = 0
    public var natPeak: UInt64 = 0
    public var natExpired: UInt64 = 0
    /// Per load balancer: its targets with health and counters.
    public var loadBalancers: [(name: String, targets: [(instance: String, health: String, counters: TargetCounters)])] = []
    /// Per VPN tunnel: WireGuard counters and each peer's state at the end.
    public var vpnTunnels: [(name: String, stats: WireGuardStats, peers: [(publicKey: WireGuardKey, status: WireGuardPeerStatus)])] = []
    /// Workers per site.
    public var workers = 1
    /// `--map`: per mapped host, the frames it sent, the frames sent to it, and how many of its frames
    /// had their checksums recomputed (offloaded in the capture).
    public var mappedHosts: [(address: String, instance: String, fromHost: Int, toHost: Int)] = []
    public var mappedChecksumsRecomputed = 0
    public var seconds: Double = 0

    public var mpps: Double { seconds > 0 ? Double(counters.packetsIn) / seconds / 1e6 : 0 }

    /// The JSON text: keys in a fixed order so reports diff cleanly; every drop reason is listed, zero or
    /// not, so scripts can rely on the keys.
    public func json() -> String {
        var s = "{\n"
        s += "  \"packets\": { \"in\": \(counters.packetsIn), \"out\": \(counters.packetsOut), \"dropped\": \(counters.packetsDropped), \"consumed\": \(counters.packetsConsumed) },\n"
        let reasons = DropReason.allCases.filter { $0 != .none }.sorted { $0.name < $1.name }
        s += "  \"drops\": {"
        s += reasons.map { "\n    \"\($0.name)\": \(counters.drops($0))" }.joined(separator: ",")
        s += "\n  },\n"
        s += "  \"ports\": {"
        s += portNames.enumerated().map { i, name in
            let p = counters.ports[i]
            return "\n    \(jsonString(name)): { \"in\": \(p.inPackets), \"out\": \(p.outPackets), \"in-bytes\": \(p.inBytes), \"out-bytes\": \(p.outBytes) }"
        }.joined(separator: ",")
        s += "\n  },\n"
        s += "  \"flows\": { \"created\": \(flowsCreated), \"expired\": \(flowsExpired), \"peak\": \(flowsPeak) },\n"
        s += "  \"nat\": { \"mappings-created\": \(natMappingsCreated), \"peak\": \(natPeak), \"expired\": \(natExpired), \"port-exhausted\": \(counters.drops(.natPortExhausted)) },\n"
        if !loadBalancers.isEmpty {
            s += "  \"load-balancers\": {"
            s += loadBalancers.map { lb in
                "\n    \(jsonString(lb.name)): {" + lb.targets.map { t in
                    "\n      \(jsonString(t.instance)): { \"state\": \"\(t.health)\", \"flows\": \(t.counters.flows), \"packets\": \(t.counters.packets), \"bytes\": \(t.counters.bytes) }"
                }.joined(separator: ",") + "\n    }"
            }.joined(separator: ",")
            s += "\n  },\n"
        }
        if !vpnTunnels.isEmpty {
            s += "  \"vpn\": {"
            s += vpnTunnels.map { t in
                let w = t.stats
                var o = "\n    \(jsonString(t.name)): {\n"
                o += "      \"handshakes\": { \"initiations-sent\": \(w.initiationsSent), \"completed-as-initiator\": \(w.handshakesCompleted), \"completed-as-responder\": \(w.handshakesResponded), \"rekeys\": \(w.rekeys), \"retransmissions\": \(w.retransmissions), \"given-up\": \(w.handshakesGivenUp), \"cookie-replies-sent\": \(w.cookieRepliesSent), \"cookie-replies-received\": \(w.cookieRepliesReceived) },\n"
                o += "      \"transport\": { \"sent\": \(w.transportSent), \"received\": \(w.transportReceived), \"keepalives-sent\": \(w.keepalivesSent), \"keepalives-received\": \(w.keepalivesReceived), \"sessions-expired\": \(w.sessionsExpired) },\n"
                o += "      \"peers\": [" + t.peers.map { p in
                    let endpoint = p.status.endpoint.map { jsonString($0.description) } ?? "null"
                    let last = p.status.lastHandshake.map { "\"" + captureTime($0) + "\"" } ?? "null"
                    return "\n        { \"public-key\": \(jsonString(p.publicKey.base64)), \"endpoint\": \(endpoint), \"session\": \(p.status.hasSession), \"last-handshake\": \(last) }"
                }.joined(separator: ",") + "\n      ]\n    }"
                return o
            }.joined(separator: ",")
            s += "\n  },\n"
        }
        if !mappedHosts.isEmpty {
            s += "  \"map\": {\n    \"hosts\": {"
            s += mappedHosts.map { h in
                "\n      \(jsonString(h.address)): { \"instance\": \(jsonString(h.instance)), \"from-host\": \(h.fromHost), \"to-host\": \(h.toHost) }"
            }.joined(separator: ",")
            s += "\n    },\n    \"checksums-recomputed\": \(mappedChecksumsRecomputed)\n  },\n"
        }
        s += "  \"workers\": \(workers),\n"
        s += "  \"seconds\": \(format(seconds, 6)),\n"
        s += "  \"mpps\": \(format(mpps, 3))\n"
        s += "}\n"
        return s
    }
}

/// A JSON string literal.
func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
            if u.value < 0x20 {
                let h = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}

/// Fixed-point decimal text without Foundation.
func format(_ v: Double, _ digits: Int) -> String {
    guard v.isFinite else { return "0" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(v) * scale).rounded()
    let whole = Int(scaled / scale)
    let frac = Int(scaled - Double(whole) * scale)
    let fracText = String(frac)
    let sign = v < 0 && scaled > 0 ? "-" : ""
    if digits == 0 { return sign + String(whole) }
    return sign + String(whole) + "." + String(repeating: "0", count: digits - fracText.count) + fracText
}
