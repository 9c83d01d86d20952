#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
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

    /// `report.json`'s content: every drop reason listed, zero or not, so scripts can rely on the keys;
    /// `load-balancers`, `vpn` and `map` only when the replay had them; `seconds` to the microsecond and
    /// `mpps` to three decimals.
    public var document: ReportJSON {
        let reasons = DropReason.allCases.filter { $0 != .none }
        let c = counters
        var d = ReportJSON(
            packets: .init(in: c.packetsIn, out: c.packetsOut, dropped: c.packetsDropped, consumed: c.packetsConsumed),
            drops: Dictionary(uniqueKeysWithValues: reasons.map { ($0.name, c.drops($0)) }),
            ports: firstByKey(portNames.enumerated().map { i, name in
                let p = c.ports[i]
                return (name, ReportJSON.Port(in: p.inPackets, out: p.outPackets, inBytes: p.inBytes, outBytes: p.outBytes))
            }),
            flows: .init(created: flowsCreated, expired: flowsExpired, peak: flowsPeak),
            nat: .init(mappingsCreated: natMappingsCreated, peak: natPeak, expired: natExpired,
                       portExhausted: c.drops(.natPortExhausted)),
            workers: workers, seconds: decimalRounded(seconds, 6), mpps: decimalRounded(mpps, 3))
        if !loadBalancers.isEmpty {
            d.loadBalancers = firstByKey(loadBalancers.map { lb in
                (lb.name, firstByKey(lb.targets.map { t in
                    (t.instance, ReportJSON.Target(state: t.health, flows: t.counters.flows, packets: t.counters.packets,
                                                   bytes: t.counters.bytes))
                }))
            })
        }
        if !vpnTunnels.isEmpty {
            d.vpn = firstByKey(vpnTunnels.map { t in
                let w = t.stats
                return (t.name, ReportJSON.Tunnel(
                    handshakes: .init(initiationsSent: w.initiationsSent, completedAsInitiator: w.handshakesCompleted,
                                      completedAsResponder: w.handshakesResponded, rekeys: w.rekeys,
                                      retransmissions: w.retransmissions, givenUp: w.handshakesGivenUp,
                                      cookieRepliesSent: w.cookieRepliesSent, cookieRepliesReceived: w.cookieRepliesReceived),
                    transport: .init(sent: w.transportSent, received: w.transportReceived, keepalivesSent: w.keepalivesSent,
                                     keepalivesReceived: w.keepalivesReceived, sessionsExpired: w.sessionsExpired),
                    peers: t.peers.map { p in
                        ReportJSON.Peer(publicKey: p.publicKey.base64, endpoint: p.status.endpoint?.description,
                                        session: p.status.hasSession, lastHandshake: p.status.lastHandshake.map(captureTime))
                    }))
            })
        }
        if !mappedHosts.isEmpty {
            d.map = ReportJSON.Map(
                hosts: firstByKey(mappedHosts.map { h in
                    (h.address, ReportJSON.MappedHost(instance: h.instance, fromHost: h.fromHost, toHost: h.toHost))
                }),
                checksumsRecomputed: mappedChecksumsRecomputed)
        }
        return d
    }

    /// The text of `report.json`: `document` encoded with sorted keys (so reports diff cleanly),
    /// indented by two spaces, with a final newline.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: encodeJSON(document, encoder), as: UTF8.self) + "\n"
    }
}

/// A dictionary of the pairs, the first value kept where a key repeats.
func firstByKey<V>(_ pairs: [(String, V)]) -> [String: V] {
    Dictionary(pairs, uniquingKeysWith: { first, _ in first })
}

/// `value` as JSON (UTF-8). Encoding only fails for a non-finite number, and every `Double` of the
/// outputs passes through `decimalRounded`, which never returns one.
func encodeJSON<T: Encodable>(_ value: T, _ encoder: JSONEncoder) -> Data {
    do { return try encoder.encode(value) }
    catch { preconditionFailure("encoding \(T.self) as JSON: \(error)") }
}

/// `v` rounded to `digits` decimals: the `Double` nearest that decimal, so JSONEncoder writes it as that
/// decimal (without trailing zeros). 0 when `v` is not finite.
func decimalRounded(_ v: Double, _ digits: Int) -> Double {
    Double(format(v, digits)) ?? 0
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
