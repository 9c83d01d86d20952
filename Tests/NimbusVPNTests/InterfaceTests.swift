import Foundation
import NimbusWire
import Testing
@testable import NimbusVPN

/// Two in-process interfaces: A (10.1.0.0/16 behind it) initiates to B (10.2.0.0/16 behind it).
struct Pair {
    var a: WireGuardInterface
    var b: WireGuardInterface
    let aEnd = WireGuardEndpoint("192.0.2.1:51820")!
    let bEnd = WireGuardEndpoint("198.51.100.2:51820")!
    let aKey: WireGuardKey
    let bKey: WireGuardKey

    init(seed: UInt64 = 1, psk: Bool = true, persistentKeepalive: UInt16? = nil) {
        var r = SeededRandom(seed: seed)
        aKey = WireGuardKey.generatePrivate(using: &r)
        bKey = WireGuardKey.generatePrivate(using: &r)
        let shared: WireGuardKey? = psk ? WireGuardKey.generatePrivate(using: &r) : nil
        a = WireGuardInterface(privateKey: aKey, peers: [
            WireGuardPeerConfig(publicKey: bKey.publicKey, presharedKey: shared, endpoint: bEnd,
                                allowedIPs: [IPv4CIDR("10.2.0.0/16")!], persistentKeepalive: persistentKeepalive),
        ], random: SeededRandom(seed: seed &+ 100))
        b = WireGuardInterface(privateKey: bKey, peers: [
            WireGuardPeerConfig(publicKey: aKey.publicKey, presharedKey: shared, allowedIPs: [IPv4CIDR("10.1.0.0/16")!]),
        ], random: SeededRandom(seed: seed &+ 200))
    }

    /// Delivers A's datagram to B.
    mutating func toB(_ d: WireGuardDatagram, at now: UInt64) -> (WireGuardReceiveResult, [UInt8]) {
        var bytes = d.bytes
        let r = b.receive(datagram: &bytes, from: aEnd, now: now)
        return (r, bytes)
    }
    mutating func toA(_ d: WireGuardDatagram, at now: UInt64) -> (WireGuardReceiveResult, [UInt8]) {
        var bytes = d.bytes
        let r = a.receive(datagram: &bytes, from: bEnd, now: now)
        return (r, bytes)
    }

    /// B's keepalive timer fires (it received data and sent nothing) and A gets the keepalive.
    mutating func bKeepalive(at now: UInt64) {
        for d in b.tick(now: now) { _ = toA(d, at: now) }
    }

    /// Runs the handshake (A initiates with `firstPacket` queued); returns B's decrypted first packet.
    mutating func handshake(at t: UInt64, firstPacket: [UInt8]) -> [UInt8]? {
        let (r, d) = a.send(plaintext: firstPacket, toPeer: 0, now: t)
        guard case .handshakeInitiation = r, let initiation = d else { return nil }
        guard case .handshakeResponse(let response) = toB(initiation, at: t + ms).0 else { return nil }
        guard case .handshakeComplete(0, let queued) = toA(response, at: t + 2 * ms).0, queued.count == 1 else { return nil }
        let (r2, bytes) = toB(queued[0], at: t + 3 * ms)
        guard case .transport(0, let range) = r2 else { return nil }
        return Array(bytes[range])
    }
}

let ms: UInt64 = 1_000_000
let sec: UInt64 = 1_000_000_000
let t0: UInt64 = 1_700_000_000 * sec

func ping(_ src: String, _ dst: String, seq: UInt16 = 1, payload: Int = 20) -> [UInt8] {
    FrameBuilder.ipv4(source: IPv4Address(src)!, destination: IPv4Address(dst)!, protocol: 1,
                      payload: FrameBuilder.icmp(type: 8, identifier: 7, sequence: seq,
                                                 payload: (0..<payload).map { UInt8($0 & 0xFF) }))
}

func counter(of datagram: [UInt8]) -> UInt64 {
    datagram.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
}

@Suite struct InterfaceTests {
    @Test func handshakeThenTransportBothWays() {
        var p = Pair()
        let out = ping("10.1.0.5", "10.2.0.7")
        #expect(p.handshake(at: t0, firstPacket: out) == out)
        #expect(p.b.allows(peer: 0, source: IPv4Address("10.1.0.5")!))
        #expect(!p.b.allows(peer: 0, source: IPv4Address("10.2.0.1")!))
        #expect(p.b.status(ofPeer: 0).endpoint == p.aEnd)  // learnt from the authenticated initiation

        // B answers (its session is confirmed by A's first packet).
        let back = ping("10.2.0.7", "10.1.0.5")
        let (r, d) = p.b.send(plaintext: back, toPeer: 0, now: t0 + 4 * ms)
        guard case .sealed(let count, let endpoint) = r, let d else { Issue.record("not sealed: \(r)"); return }
        #expect(endpoint == p.aEnd && count == WireGuardInterface.sealedSize(plaintextCount: back.count))
        #expect(count % 16 == 0)  // header 16 + padded + tag 16
        let (r2, bytes) = p.toA(d, at: t0 + 5 * ms)
        guard case .transport(0, let range) = r2 else { Issue.record("\(r2)"); return }
        #expect(Array(bytes[range]) == back)
        #expect(p.a.stats.handshakesCompleted == 1 && p.b.stats.handshakesResponded == 1)
    }

    @Test func withoutPresharedKey() {
        var p = Pair(seed: 9, psk: false)
        let out = ping("10.1.0.5", "10.2.0.7")
        #expect(p.handshake(at: t0, firstPacket: out) == out)
    }

    @Test func mismatchedPresharedKeyFails() {
        var p = Pair(seed: 4)
        p.b = WireGuardInterface(privateKey: p.bKey, peers: [
            WireGuardPeerConfig(publicKey: p.aKey.publicKey, presharedKey: nil, allowedIPs: [IPv4CIDR("10.1.0.0/16")!]),
        ], random: SeededRandom(seed: 5))
        let (_, d) = p.a.send(plaintext: ping("10.1.0.5", "10.2.0.7"), toPeer: 0, now: t0)
        guard case .handshakeResponse(let resp) = p.toB(d!, at: t0).0 else { Issue.record("no response"); return }
        #expect(p.toA(resp, at: t0).0 == .drop(.handshakeFailed))
    }

    @Test func counterNoncesAndOutOfOrderDelivery() {
        var p = Pair()
        _ = p.handshake(at: t0, firstPacket: ping("10.1.0.5", "10.2.0.7", seq: 0))
        var sent: [[UInt8]] = []
        for s in 1...5 {
            let (_, d) = p.a.send(plaintext: ping("10.1.0.5", "10.2.0.7", seq: UInt16(s)), toPeer: 0, now: t0 + sec)
            sent.append(d!.bytes)
        }
        #expect(sent.map(counter(of:)) == [1, 2, 3, 4, 5])  // counter 0 carried the queued first packet
        for k in [4, 0, 2, 1, 3] {
            var bytes = sent[k]
            guard case .transport(0, let range) = p.b.receive(datagram: &bytes, from: p.aEnd, now: t0 + sec) else {
                Issue.record("packet \(k) refused"); continue
            }
            #expect(Array(bytes[range]) == ping("10.1.0.5", "10.2.0.7", seq: UInt16(k + 1)))
        }
        #expect(p.a.status(ofPeer: 0).sendCounter == 6)
    }

    @Test func replayIsRejectedAndBufferKept() {
        var p = Pair()
        _ = p.handshake(at: t0, firstPacket: ping("10.1.0.5", "10.2.0.7"))
        let (_, d) = p.a.send(plaintext: ping("10.1.0.5", "10.2.0.7", seq: 2), toPeer: 0, now: t0 + sec)
        var first = d!.bytes
        guard case .transport = p.b.receive(datagram: &first, from: p.aEnd, now: t0 + sec) else { Issue.record("refused"); return }
        var again = d!.bytes
        #expect(p.b.receive(datagram: &again, from: p.aEnd, now: t0 + sec) == .drop(.replay))
        #expect(again == d!.bytes)  // a dropped datagram is left as it came
        #expect(p.b.stats.drops[Int(WireGuardDropReason.replay.rawValue)] == 1)
        #expect(WireGuardDropReason.replay.name == "vpn-replay")
    }

    @Test func tamperedCiphertextFailsAuthentication() {
        var p = Pair()
        _ = p.handshake(at: t0, firstPacket: ping("10.1.0.5", "10.2.0.7"))
        let (_, d) = p.a.send(plaintext: ping("10.1.0.5", "10.2.0.7", seq: 2), toPeer: 0, now: t0 + sec)
        for position in [20, d!.bytes.count - 1] {   // ciphertext, tag
            var bad = d!.bytes
            bad[position] ^= 0x40
            let copy = bad
            #expect(p.b.receive(datagram: &bad, from: p.aEnd, now: t0 + sec) == .drop(.authFailed))
            #expect(bad == copy)
        }
        // A forged counter fails too and does not advance the window: the real packet still passes.
        var forged = d!.bytes
        forged[8] ^= 1
        #expect(p.b.receive(datagram: &forged, from: p.aEnd, now: t0 + sec) == .drop(.authFailed))
        var good = d!.bytes
        guard case .transport = p.b.receive(datagram: &good, from: p.aEnd, now: t0 + sec) else { Issue.record("refused"); return }
        #expect(WireGuardDropReason.authFailed.name == "vpn-auth-failed")
    }

    @Test func wrongMac1IsDropped() {
        var p = Pair()
        let (_, d) = p.a.send(plaintext: ping("10.1.0.5", "10.2.0.7"), toPeer: 0, now: t0)
        var bad = d!.bytes
        bad[116] ^= 1   // mac1
        #expect(p.b.receive(datagram: &bad, from: p.aEnd, now: t0) == .drop(.badMac1))
        // mac1 covers the whole message before it: a changed ephemeral is caught by mac1 too.
        var bad2 = d!.bytes
        bad2[9] ^= 1
        #expect(p.b.receive(datagram: &bad2, from: p.aEnd, now: t0) == .drop(.badMac1))
        // An initiation meant for another responder (mac1 keyed with its key) is dropped.
        var other = Pair(seed: 77)
        let (_, d3) = other.a.send(plaintext: [], toPeer: 0, now: t0)
        var foreign = d3!.bytes
        #expect(p.b.receive(datagram: &foreign, from: p.aEnd, now: t0) == .drop(.badMac1))
    }

    @Test func replayedInitiationIsRejected() {
        var p = Pair()
        let (_, d) = p.a.send(plaintext: ping("10.1.0.5", "10.2.0.7"), toPeer: 0, now: t0)
        guard case .handshakeResponse = p.toB(d!, at: t0).0 else { Issue.record("refused"); return }
        #expect(p.toB(d!, at: t0 + sec).0 == .drop(.handshakeReplay))
    }

    @Test func malformedAndUnknown() {
        var p = Pair()
        var junk: [UInt8] = [9, 0, 0, 0, 1, 2, 3]
        #expect(p.b.receive(datagram: &junk, from: p.aEnd, now: t0) == .drop(.malformed))
        var shortInit = [UInt8](repeating: 0, count: 100); shortInit[0] = 1
        #expect(p.b.receive(datagram: &shortInit, from: p.aEnd, now: t0) == .drop(.malformed))
        var transport = [UInt8](repeating: 0, count: 48); transport[0] = 4; transport[4] = 0x42
        #expect(p.b.receive(datagram: &transport, from: p.aEnd, now: t0) == .drop(.unknownIndex))
    }

    @Test func cookieReplyUnderLoad() {
        var p = Pair()
        p.b.underLoad = true
        let (_, d) = p.a.send(plaintext: ping("10.1.0.5", "10.2.0.7"), toPeer: 0, now: t0)
        guard case .cookieReply(let reply) = p.toB(d!, at: t0).0 else { Issue.record("no cookie reply"); return }
        #expect(reply.bytes.count == 64 && reply.bytes[0] == 3 && reply.endpoint == p.aEnd)
        #expect(p.b.stats.handshakesResponded == 0)
        #expect(p.toA(reply, at: t0 + ms).0 == .cookieReceived(peer: 0))
        #expect(p.a.status(ofPeer: 0).holdsCookie)
        // A's retransmission (after REKEY-TIMEOUT + jitter) carries mac2 and gets through.
        let out = p.a.tick(now: t0 + 6 * sec)
        #expect(out.count == 1 && out[0].kind == .initiation)
        #expect(out[0].bytes[132..<148].contains { $0 != 0 })
        guard case .handshakeResponse(let resp) = p.toB(out[0], at: t0 + 6 * sec).0 else { Issue.record("refused"); return }
        guard case .handshakeComplete(0, let queued) = p.toA(resp, at: t0 + 6 * sec).0 else { Issue.record("incomplete"); return }
        guard case .transport = p.toB(queued[0], at: t0 + 6 * sec).0 else { Issue.record("transport refused"); return }
        // The same mac2 from another source address is not valid: another cookie reply.
        var other = Pair()
        let (_, d2) = other.a.send(plaintext: [], toPeer: 0, now: t0)
        var fromElsewhere = d2!.bytes
        if case .cookieReply = p.b.receive(datagram: &fromElsewhere, from: WireGuardEndpoint("203.0.113.9:1")!, now: t0 + 7 * sec) {} else {
            Issue.record("expected a cookie reply")
        }
    }

    @Test func rekeyAfterTime() {
        var p = Pair()
        _ = p.handshake(at: t0, firstPacket: ping("10.1.0.5", "10.2.0.7"))
        let firstIndex = p.a.status(ofPeer: 0).localIndex
        p.bKeepalive(at: t0 + 10 * sec + 3 * ms)
        // Before REKEY-AFTER-TIME: no rekey.
        #expect(p.a.tick(now: t0 + 100 * sec).allSatisfy { $0.kind != .initiation })
        // After it, sending on the old session asks for a new handshake (on the next tick).
        let (r, old) = p.a.send(plaintext: ping("10.1.0.5", "10.2.0.7", seq: 9), toPeer: 0, now: t0 + 121 * sec)
        guard case .sealed = r else { Issue.record("\(r)"); return }
        let out = p.a.tick(now: t0 + 121 * sec)
        guard let initiation = out.first(where: { $0.kind == .initiation }) else { Issue.record("no rekey"); return }
        #expect(p.a.stats.rekeys == 1)
        guard case .handshakeResponse(let resp) = p.toB(initiation, at: t0 + 121 * sec).0 else { Issue.record("refused"); return }
        guard case .handshakeComplete(0, let ka) = p.toA(resp, at: t0 + 121 * sec).0 else { Issue.record("incomplete"); return }
        #expect(ka.count == 1 && ka[0].kind == .keepalive)
        #expect(p.a.status(ofPeer: 0).localIndex != firstIndex)
        // The packet sealed on the old session still decrypts at B (previous keypair)…
        guard case .transport = p.toB(old!, at: t0 + 121 * sec).0 else { Issue.record("old session refused"); return }
        // …and the keepalive on the new one confirms B's new session.
        #expect(p.toB(ka[0], at: t0 + 121 * sec).0 == .keepalive(peer: 0))
        #expect(p.b.status(ofPeer: 0).remoteIndex == p.a.status(ofPeer: 0).localIndex)
    }

    @Test func sessionExpiresAfterRejectAfterTime() {
        var p = Pair()
        _ = p.handshake(at: t0, firstPacket: ping("10.1.0.5", "10.2.0.7"))
        let (_, d) = p.a.send(plaintext: ping("10.1.0.5", "10.2.0.7"), toPeer: 0, now: t0 + 179 * sec)
        #expect(p.toB(d!, at: t0 + 181 * sec).0 == .drop(.keyExpired))
        // B (responder) cannot send on an expired session: it queues and initiates itself, to A's learnt endpoint.
        let (r, i) = p.b.send(plaintext: ping("10.2.0.7", "10.1.0.5"), toPeer: 0, now: t0 + 181 * sec)
        guard case .handshakeInitiation = r else { Issue.record("\(r)"); return }
        #expect(i?.endpoint == p.aEnd)
    }

    @Test func keepaliveAfterReceivingData() {
        var p = Pair()
        _ = p.handshake(at: t0, firstPacket: ping("10.1.0.5", "10.2.0.7"))
        // B received data and sent nothing: after KEEPALIVE-TIMEOUT it sends a keepalive.
        #expect(p.b.tick(now: t0 + 9 * sec).isEmpty)
        let out = p.b.tick(now: t0 + 10 * sec + 3 * ms)
        #expect(out.count == 1 && out.first?.kind == .keepalive && out.first?.bytes.count == 32)
        #expect(p.toA(out[0], at: t0 + 10 * sec).0 == .keepalive(peer: 0))
    }

    @Test func newHandshakeWhenPeerGoesQuiet() {
        var p = Pair()
        _ = p.handshake(at: t0, firstPacket: ping("10.1.0.5", "10.2.0.7"))
        // A sends data at +1 s and hears nothing back: after KEEPALIVE + REKEY-TIMEOUT (+ jitter) it re-handshakes.
        _ = p.a.send(plaintext: ping("10.1.0.5", "10.2.0.7"), toPeer: 0, now: t0 + sec)
        #expect(p.a.tick(now: t0 + 15 * sec).isEmpty)
        #expect(p.a.tick(now: t0 + 16 * sec + 400 * ms).contains { $0.kind == .initiation })
    }

    @Test func persistentKeepalive() {
        var p = Pair(persistentKeepalive: 25)
        _ = p.handshake(at: t0, firstPacket: ping("10.1.0.5", "10.2.0.7"))
        p.bKeepalive(at: t0 + 10 * sec + 3 * ms)
        // 25 s after the last packet either way (B's keepalive at 10 s).
        #expect(p.a.tick(now: t0 + 34 * sec).isEmpty)
        let out = p.a.tick(now: t0 + 36 * sec)
        #expect(out.count == 1 && out[0].kind == .keepalive)
        #expect(p.a.tick(now: t0 + 60 * sec).isEmpty)
        #expect(p.a.tick(now: t0 + 62 * sec).count == 1)
    }

    @Test func retransmitThenGiveUp() {
        var p = Pair()
        let (_, first) = p.a.send(plaintext: ping("10.1.0.5", "10.2.0.7"), toPeer: 0, now: t0)
        #expect(p.a.send(plaintext: ping("10.1.0.5", "10.2.0.7"), toPeer: 0, now: t0 + ms).0 == .queued)
        var initiations = [first!.bytes]
        var now = t0
        while now < t0 + 120 * sec {
            now += 250 * ms
            initiations += p.a.tick(now: now).filter { $0.kind == .initiation }.map(\.bytes)
        }
        // The first attempt and 18 retransmissions (REKEY-ATTEMPT-TIME / REKEY-TIMEOUT), each with a new
        // ephemeral key and index; then the handshake is given up and the queue dropped.
        #expect(initiations.count == 1 + WireGuardTimers.maxHandshakeAttempts)
        #expect(Set(initiations.map { Array($0[4..<40]) }).count == initiations.count)
        #expect(p.a.stats.handshakesGivenUp == 1)
        #expect(p.a.status(ofPeer: 0).queued == 0)
    }

    @Test func allowedIPsLongestPrefix() {
        var r = SeededRandom(seed: 1)
        let keys = (0..<3).map { _ in WireGuardKey.generatePrivate(using: &r).publicKey }
        let wg = WireGuardInterface(privateKey: WireGuardKey.generatePrivate(using: &r), peers: [
            WireGuardPeerConfig(publicKey: keys[0], allowedIPs: [IPv4CIDR("10.0.0.0/8")!]),
            WireGuardPeerConfig(publicKey: keys[1], allowedIPs: [IPv4CIDR("10.1.0.0/16")!, IPv4CIDR("192.168.1.7/32")!]),
            WireGuardPeerConfig(publicKey: keys[2], allowedIPs: [IPv4CIDR("0.0.0.0/0")!]),
        ], random: r)
        #expect(wg.peer(for: IPv4Address("10.1.2.3")!) == 1)
        #expect(wg.peer(for: IPv4Address("10.2.0.1")!) == 0)
        #expect(wg.peer(for: IPv4Address("192.168.1.7")!) == 1)
        #expect(wg.peer(for: IPv4Address("8.8.8.8")!) == 2)
        #expect(wg.allows(peer: 1, source: IPv4Address("10.1.9.9")!))
        #expect(!wg.allows(peer: 0, source: IPv4Address("10.1.9.9")!))  // routes to peer 1, so not from 0
        #expect(WireGuardDropReason.sourceNotAllowed.name == "vpn-source-not-allowed")
    }

    @Test func inPlaceEncryptAndDecrypt() {
        var p = Pair()
        _ = p.handshake(at: t0, firstPacket: ping("10.1.0.5", "10.2.0.7"))
        let inner = ping("10.1.0.5", "10.2.0.7", payload: 1000)
        var buffer = [UInt8](repeating: 0xEE, count: 2048)
        buffer.replaceSubrange(16..<16 + inner.count, with: inner)
        let r = buffer.withUnsafeMutableBytes { p.a.encrypt(toPeer: 0, buffer: $0, plaintextCount: inner.count, now: t0 + sec) }
        guard case .sealed(let count, _) = r else { Issue.record("\(r)"); return }
        #expect(count == 16 + (inner.count + 15) / 16 * 16 + 16)
        let res = buffer.withUnsafeMutableBytes {
            p.b.receive(datagram: UnsafeMutableRawBufferPointer(rebasing: $0[0..<count]), from: p.aEnd, now: t0 + sec)
        }
        #expect(res == .transport(peer: 0, plaintext: 16..<16 + inner.count))
        #expect(Array(buffer[16..<16 + inner.count]) == inner)
        // Too small a buffer is refused, not overrun.
        var small = [UInt8](repeating: 0, count: 40)
        let r2 = small.withUnsafeMutableBytes { p.a.encrypt(toPeer: 0, buffer: $0, plaintextCount: 20, now: t0 + sec) }
        #expect(r2 == .drop(.bufferTooSmall))
    }

    @Test func deterministicForASeed() {
        var p1 = Pair(seed: 5), p2 = Pair(seed: 5)
        let m = ping("10.1.0.5", "10.2.0.7")
        let (_, d1) = p1.a.send(plaintext: m, toPeer: 0, now: t0)
        let (_, d2) = p2.a.send(plaintext: m, toPeer: 0, now: t0)
        #expect(d1 == d2)
        guard case .handshakeResponse(let r1) = p1.toB(d1!, at: t0).0,
              case .handshakeResponse(let r2) = p2.toB(d2!, at: t0).0 else { Issue.record("refused"); return }
        #expect(r1 == r2)
    }

    @Test func keyLogLines() {
        var p = Pair()
        p.a.recordHandshakeSecrets = true
        p.b.recordHandshakeSecrets = true
        _ = p.handshake(at: t0, firstPacket: ping("10.1.0.5", "10.2.0.7"))
        #expect(p.a.completedHandshakes.count == 1 && p.b.completedHandshakes.count == 1)
        let s = p.a.completedHandshakes[0]
        #expect(s.isInitiator && s.localStaticPrivate == p.aKey && s.remoteStaticPublic == p.bKey.publicKey)
        let lines = WireGuardKeyLog.lines(for: s)
        #expect(lines.count == 4)
        #expect(lines[0] == "LOCAL_STATIC_PRIVATE_KEY = \(p.aKey.base64)")
        #expect(lines[1] == "REMOTE_STATIC_PUBLIC_KEY = \(p.bKey.publicKey.base64)")
        #expect(lines[2].hasPrefix("LOCAL_EPHEMERAL_PRIVATE_KEY = ") && lines[3].hasPrefix("PRESHARED_KEY = "))
        #expect(WireGuardKeyLog.text(for: [s]).split(separator: "\n").count == 4)
    }
}
