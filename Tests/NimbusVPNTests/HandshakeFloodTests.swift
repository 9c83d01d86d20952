import Foundation
import NimbusWire
import Testing
@testable import NimbusVPN

/// A handshake flood at a WireGuard responder: strangers who know its public key (so mac1 is valid)
/// send initiations from many addresses. Under load the responder answers with cookie replies and does
/// no Diffie-Hellman; out of load it refuses unknown statics. Either way the established session keeps
/// carrying traffic and memory stays bounded.
@Suite struct HandshakeFloodTests {
    static func residentKiB() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }

    /// `count` initiations to `b` from strangers: each its own static key, its own source address.
    static func strangerInitiations(_ count: Int, to b: WireGuardKey, endpoint: WireGuardEndpoint) -> [(WireGuardDatagram, WireGuardEndpoint)] {
        (0..<count).map { k in
            var r = SeededRandom(seed: 10_000 + UInt64(k))
            let key = WireGuardKey.generatePrivate(using: &r)
            var stranger = WireGuardInterface(privateKey: key, peers: [
                WireGuardPeerConfig(publicKey: b.publicKey, endpoint: endpoint, allowedIPs: [IPv4CIDR("10.2.0.0/16")!]),
            ], random: SeededRandom(seed: 20_000 + UInt64(k)))
            let (_, d) = stranger.send(plaintext: [], toPeer: 0, now: t0)
            let from = WireGuardEndpoint("198.18.\(k / 250 % 250).\(k % 250 + 1):\(1024 + k % 60000)")!
            return (d!, from)
        }
    }

    @Test func floodsAreAnsweredWithCookiesUnderLoadAndRefusedOtherwiseWhileTheSessionFlows() {
        var p = Pair()
        let first = ping("10.1.0.5", "10.2.0.7")
        #expect(p.handshake(at: t0, firstPacket: first) == first)
        let before = Self.residentKiB()
        let flood = Self.strangerInitiations(2_000, to: p.bKey, endpoint: p.bEnd)

        // Under load: every stranger gets a cookie reply, no handshake is processed.
        p.b.underLoad = true
        var cookies = 0
        for (k, (d, from)) in flood.enumerated() {
            var bytes = d.bytes
            if case .cookieReply = p.b.receive(datagram: &bytes, from: from, now: t0 + sec + UInt64(k)) { cookies += 1 }
            if k % 500 == 0 {
                // The established session keeps flowing through the flood.
                let data = ping("10.1.0.5", "10.2.0.7", seq: UInt16(k))
                let (r, out) = p.a.send(plaintext: data, toPeer: 0, now: t0 + sec + UInt64(k))
                guard case .sealed = r, let datagram = out else { Issue.record("A could not send: \(r)"); continue }
                guard case .transport(0, let range) = p.toB(datagram, at: t0 + sec + UInt64(k)).0 else {
                    Issue.record("transport refused during the flood"); continue
                }
                _ = range
            }
        }
        #expect(cookies == flood.count)
        #expect(p.b.stats.cookieRepliesSent == flood.count)
        #expect(p.b.stats.handshakesResponded == 1)   // only A's, before the flood

        // Out of load: strangers' statics are not peers: refused after the handshake's first steps.
        p.b.underLoad = false
        var refused = 0
        for (k, (d, from)) in flood.prefix(500).enumerated() {
            var bytes = d.bytes
            if case .drop(.handshakeFailed) = p.b.receive(datagram: &bytes, from: from, now: t0 + 2 * sec + UInt64(k)) { refused += 1 }
        }
        #expect(refused == 500)
        #expect(p.b.stats.drops[Int(WireGuardDropReason.handshakeFailed.rawValue)] == 500)
        #expect(p.b.stats.handshakesResponded == 1)
        let data = ping("10.1.0.5", "10.2.0.7", seq: 9999)
        let (r, out) = p.a.send(plaintext: data, toPeer: 0, now: t0 + 3 * sec)
        if case .sealed = r, let datagram = out, case .transport(0, _) = p.toB(datagram, at: t0 + 3 * sec).0 {} else {
            Issue.record("the session did not survive the flood")
        }
        if let before, let after = Self.residentKiB() {
            print("handshake flood: 2,500 initiations; peak RSS \(before) KiB -> \(after) KiB")
        }
    }
}
