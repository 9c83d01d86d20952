// One WireGuard interface: a private key, its peers, their sessions and timers. A pure state machine:
// no I/O, no wall clock, no system randomness. Time comes in as `now` (nanoseconds; the TAI64N
// timestamps in initiations read it as nanoseconds since the Unix epoch, which capture time is), and
// randomness (ephemeral keys, indices, cookie secrets, jitter) from the generator given at creation,
// so a replay with the same inputs and seed produces the same bytes.
//
// How the dataplane drives it:
// - a UDP datagram to the tunnel's listen port → `receive(datagram:from:now:)`; act on the result;
// - an inner packet routed to the tunnel → `peer(for:)` picks the peer, `encrypt(toPeer:…)` seals it in
//   place (or queues it and returns an initiation to send);
// - after each batch (and at least every second or so) → `tick(now:)`: retransmissions, rekeys,
//   keepalives, packets flushed once a session is confirmed, key expiry.
import Crypto
import Foundation
import NimbusWire

/// A WireGuard interface (Noise_IKpsk2 handshake, transport, replay window, timers, cookies).
public struct WireGuardInterface {
    // MARK: Per-peer state

    struct Keypair {
        /// The session's transport keys, ready for sealing and opening in place (no allocation per packet).
        var send: InPlaceChaChaPoly
        var receive: InPlaceChaChaPoly
        var sendCounter: UInt64 = 0
        var replay = ReplayWindow()
        var localIndex: UInt32
        var remoteIndex: UInt32
        var created: UInt64
        var isInitiator: Bool
    }

    struct Peer {
        var config: WireGuardPeerConfig
        var publicKey: [UInt8]
        var presharedKey: [UInt8]
        /// DH(our static, their static); nil when their key is unusable (all-zero result).
        var staticStatic: [UInt8]?
        /// HASH("mac1----" ‖ their public): mac1 of messages we send them.
        var mac1Key: [UInt8]
        /// HASH("cookie--" ‖ their public): decrypts cookie replies they send us.
        var cookieKey: [UInt8]
        var endpoint: WireGuardEndpoint?

        var previous: Keypair?
        var current: Keypair?
        var next: Keypair?

        // Our initiation in flight.
        var handshake: Noise.InitiatorState?
        var handshakeIndex: UInt32?
        var lastInitiationSent: UInt64?
        var lastMac1Sent: [UInt8]?
        var handshakeAttempts = 0
        var lastHandshake: UInt64?
        var sentLastMinuteHandshake = false

        // Their cookie, for mac2 of what we send them.
        var cookie: [UInt8]?
        var cookieReceived: UInt64 = 0

        // Initiations they sent us.
        var latestTimestamp: [UInt8]?
        var lastInitiationConsumed: UInt64?

        var staged: [[UInt8]] = []

        // Timers (absolute deadlines, nanoseconds).
        var retransmitAt: UInt64?
        var sendKeepaliveAt: UInt64?
        var newHandshakeAt: UInt64?
        var zeroKeysAt: UInt64?
        var persistentKeepaliveAt: UInt64?
        var needAnotherKeepalive = false
        var wantsHandshake = false
        var wantsFlush = false

        var persistentInterval: UInt64 {
            UInt64(config.persistentKeepalive ?? 0) * WireGuardTimers.second
        }
    }

    // MARK: State

    let privateKey: [UInt8]
    /// Our public key.
    public let publicKey: WireGuardKey
    let mac1Key: [UInt8]          // HASH("mac1----" ‖ our public): verifies mac1 sent to us
    let cookieKey: [UInt8]        // HASH("cookie--" ‖ our public): encrypts our cookie replies
    var peers: [Peer]
    var peerByKey: [WireGuardKey: Int] = [:]
    var indices = IndexTable()
    var random: any RandomNumberGenerator
    var cookieSecret: [UInt8] = []
    var cookieSecretSet: UInt64?
    /// Allowed-ips of all peers, longest prefix first (later peers win ties, as with `wg set`).
    var routes: [(cidr: IPv4CIDR, peer: Int)] = []

    /// Set by the caller when it is overloaded: initiations and responses then need a valid mac2 (a cookie
    /// bound to their source address), else they get a cookie reply and are not processed.
    public var underLoad = false
    /// When true, each completed handshake's secrets are appended to `completedHandshakes` (for the key log).
    public var recordHandshakeSecrets = false
    /// Secrets of completed handshakes (only while `recordHandshakeSecrets`); the caller drains it.
    public var completedHandshakes: [WireGuardHandshakeSecrets] = []
    public private(set) var stats = WireGuardStats()

    /// An interface with `privateKey` and `peers` (peer N is `peers[N]` in every API that takes or returns
    /// a peer index), drawing all its randomness from `random`.
    public init(privateKey: WireGuardKey, peers: [WireGuardPeerConfig], random: some RandomNumberGenerator) {
        self.privateKey = privateKey.bytes
        self.publicKey = privateKey.publicKey
        self.mac1Key = Noise.mac1Key(publicKey.bytes)
        self.cookieKey = Noise.cookieKey(publicKey.bytes)
        self.random = random
        self.peers = []
        for (i, c) in peers.enumerated() {
            let p = Peer(config: c, publicKey: c.publicKey.bytes, presharedKey: (c.presharedKey ?? .zero).bytes,
                         staticStatic: X25519.dh(privateKey: privateKey.bytes, publicKey: c.publicKey.bytes),
                         mac1Key: Noise.mac1Key(c.publicKey.bytes), cookieKey: Noise.cookieKey(c.publicKey.bytes),
                         endpoint: c.endpoint)
            self.peers.append(p)
            peerByKey[c.publicKey] = i
            for cidr in c.allowedIPs { routes.append((cidr, i)) }
        }
        // Stable sort: longest prefix first; among equal prefixes the later peer first.
        routes = routes.enumerated().sorted { a, b in
            a.element.cidr.prefixLength != b.element.cidr.prefixLength
                ? a.element.cidr.prefixLength > b.element.cidr.prefixLength : a.offset > b.offset
        }.map(\.element)
    }

    public var peerCount: Int { peers.count }

    // MARK: Allowed IPs

    /// The peer whose allowed-ips hold `destination` most specifically (cryptokey routing), or nil.
    public func peer(for destination: IPv4Address) -> Int? {
        for r in routes where r.cidr.contains(destination) { return r.peer }
        return nil
    }

    /// Whether an inner packet from `source` may come from `peer`: its allowed-ips route `source` back to
    /// it. A false answer is the dataplane's `vpn-source-not-allowed`.
    public func allows(peer: Int, source: IPv4Address) -> Bool { self.peer(for: source) == peer }

    /// The peer's current state.
    public func status(ofPeer i: Int) -> WireGuardPeerStatus {
        let p = peers[i]
        return WireGuardPeerStatus(endpoint: p.endpoint, hasSession: p.current != nil, handshakeInFlight: p.handshake != nil,
                                   lastHandshake: p.lastHandshake, sendCounter: p.current?.sendCounter,
                                   localIndex: p.current?.localIndex, remoteIndex: p.current?.remoteIndex,
                                   queued: p.staged.count, holdsCookie: p.cookie != nil)
    }

    // MARK: Randomness

    mutating func randomIndex() -> UInt32 {
        while true {
            let v = UInt32(truncatingIfNeeded: random.next())
            if v != 0 && !indices.contains(v) { return v }
        }
    }

    mutating func randomPrivateKey() -> [UInt8] {
        var b = random.bytes(32)
        b[0] &= 248; b[31] = (b[31] & 127) | 64
        return b
    }

    mutating func jitter() -> UInt64 { random.next() % WireGuardTimers.rekeyTimeoutJitterMax }

    mutating func drop(_ r: WireGuardDropReason) -> WireGuardReceiveResult {
        stats.drops[Int(r.rawValue)] += 1
        return .drop(r)
    }

    // MARK: Timers (whitepaper §6; the events as wireguard's timers.c names them)

    mutating func timersDataSent(_ i: Int, _ now: UInt64) {
        if peers[i].newHandshakeAt == nil {
            peers[i].newHandshakeAt = now + WireGuardTimers.keepaliveTimeout + WireGuardTimers.rekeyTimeout + jitter()
        }
    }
    mutating func timersDataReceived(_ i: Int, _ now: UInt64) {
        if peers[i].sendKeepaliveAt == nil {
            peers[i].sendKeepaliveAt = now + WireGuardTimers.keepaliveTimeout
        } else {
            peers[i].needAnotherKeepalive = true
        }
    }
    mutating func timersAnyAuthenticatedPacketSent(_ i: Int) { peers[i].sendKeepaliveAt = nil }
    mutating func timersAnyAuthenticatedPacketReceived(_ i: Int) { peers[i].newHandshakeAt = nil }
    mutating func timersAnyAuthenticatedPacketTraversal(_ i: Int, _ now: UInt64) {
        let iv = peers[i].persistentInterval
        if iv > 0 { peers[i].persistentKeepaliveAt = now + iv }
    }
    mutating func timersHandshakeInitiated(_ i: Int, _ now: UInt64) {
        peers[i].retransmitAt = now + WireGuardTimers.rekeyTimeout + jitter()
    }
    mutating func timersHandshakeComplete(_ i: Int, _ now: UInt64) {
        peers[i].retransmitAt = nil
        peers[i].handshakeAttempts = 0
        peers[i].sentLastMinuteHandshake = false
        peers[i].lastHandshake = now
    }
    mutating func timersSessionDerived(_ i: Int, _ now: UInt64) {
        peers[i].zeroKeysAt = now + 3 * WireGuardTimers.rejectAfterTime
    }

    // MARK: Handshake initiation

    /// Builds an initiation to peer `i` (new ephemeral, new index); nil when it cannot be sent now (no
    /// endpoint, unusable key, or — unless `retry` — one was sent less than REKEY-TIMEOUT ago).
    mutating func makeInitiation(_ i: Int, now: UInt64, retry: Bool) -> WireGuardDatagram? {
        guard let endpoint = peers[i].endpoint, let ss = peers[i].staticStatic else { return nil }
        if !retry {
            if let last = peers[i].lastInitiationSent, now < last + WireGuardTimers.rekeyTimeout { return nil }
            peers[i].handshakeAttempts = 0
        }
        if let old = peers[i].handshakeIndex { indices.remove(old) }
        let index = randomIndex()
        let eph = randomPrivateKey()
        guard let (msg0, state) = Noise.createInitiation(
            localStaticPrivate: privateKey, localStaticPublic: publicKey.bytes, remoteStaticPublic: peers[i].publicKey,
            staticStatic: ss, senderIndex: index, ephemeralPrivate: eph,
            timestamp: TAI64N.timestamp(unixNanoseconds: now)) else { return nil }
        var msg = msg0
        let cookie = peers[i].cookie.flatMap { now < peers[i].cookieReceived + WireGuardTimers.cookieRefreshTime ? $0 : nil }
        peers[i].lastMac1Sent = Noise.stampMacs(&msg, mac1Key: peers[i].mac1Key, cookie: cookie)
        indices.insert(index, peer: i)
        peers[i].handshake = state
        peers[i].handshakeIndex = index
        peers[i].lastInitiationSent = now
        peers[i].wantsHandshake = false
        stats.initiationsSent += 1
        if retry { stats.retransmissions += 1 }
        if peers[i].current != nil && !retry { stats.rekeys += 1 }
        timersAnyAuthenticatedPacketTraversal(i, now)
        timersAnyAuthenticatedPacketSent(i)
        timersHandshakeInitiated(i, now)
        return WireGuardDatagram(bytes: msg, endpoint: endpoint, peer: i, kind: .initiation)
    }

    /// Starts a handshake with `peer` now (e.g. to bring a tunnel up before traffic). Nil when one was sent
    /// less than REKEY-TIMEOUT ago or the peer has no endpoint.
    public mutating func initiateHandshake(peer: Int, now: UInt64) -> WireGuardDatagram? {
        guard peer >= 0 && peer < peers.count else { return nil }
        return makeInitiation(peer, now: now, retry: false)
    }

    // MARK: Sessions

    /// Installs a new keypair (whitepaper §5.4.6 / wireguard-go's beginSymmetricSession).
    mutating func installKeypair(_ i: Int, _ kp: Keypair) {
        if kp.isInitiator {
            if let next = peers[i].next {
                peers[i].next = nil
                if let prev = peers[i].previous { indices.remove(prev.localIndex) }
                peers[i].previous = next
                if let cur = peers[i].current { indices.remove(cur.localIndex) }
            } else {
                if let prev = peers[i].previous { indices.remove(prev.localIndex) }
                peers[i].previous = peers[i].current
            }
            peers[i].current = kp
        } else {
            if let next = peers[i].next { indices.remove(next.localIndex) }
            peers[i].next = kp
            if let prev = peers[i].previous { indices.remove(prev.localIndex) }
            peers[i].previous = nil
        }
    }

    /// The keypair to send on, if it is usable.
    func sendable(_ i: Int, _ now: UInt64) -> Bool {
        guard let kp = peers[i].current else { return false }
        return now < kp.created + WireGuardTimers.rejectAfterTime && kp.sendCounter < WireGuardTimers.rejectAfterMessages
    }

    mutating func zeroKeys(_ i: Int) {
        for kp in [peers[i].previous, peers[i].current, peers[i].next].compactMap({ $0 }) { indices.remove(kp.localIndex) }
        if let h = peers[i].handshakeIndex { indices.remove(h) }
        peers[i].previous = nil; peers[i].current = nil; peers[i].next = nil
        peers[i].handshake = nil; peers[i].handshakeIndex = nil
        stats.sessionsExpired += 1
    }

    // MARK: Sending

    /// The transport datagram size for an inner packet of `plaintextCount` bytes: header, the plaintext
    /// padded to a multiple of 16, tag.
    public static func sealedSize(plaintextCount n: Int) -> Int {
        WireGuardMessage.transportHeaderSize + (n + 15) / 16 * 16 + WireGuardMessage.tagSize
    }

    /// Seals the inner packet `buffer[16 ..< 16 + plaintextCount]` in place into a transport datagram
    /// `buffer[0 ..< count]` for `peer` (`buffer.count` must be at least `sealedSize(plaintextCount:)`).
    /// With no usable session the packet is copied into the peer's queue (slow path) and the result
    /// says whether an initiation must be sent. An empty plaintext is a keepalive.
    public mutating func encrypt(toPeer i: Int, buffer: UnsafeMutableRawBufferPointer, plaintextCount n: Int,
                                 now: UInt64) -> WireGuardSendResult {
        guard i >= 0 && i < peers.count, peers[i].staticStatic != nil else { return .drop(recordDrop(.unknownPeer)) }
        guard let endpoint = peers[i].endpoint else { return .drop(recordDrop(.noEndpoint)) }
        let size = Self.sealedSize(plaintextCount: n)
        guard n >= 0, buffer.count >= size else { return .drop(recordDrop(.bufferTooSmall)) }
        guard sendable(i, now) else {
            guard peers[i].staged.count < WireGuardTimers.stagedQueueLimit else { return .drop(recordDrop(.queueFull)) }
            peers[i].staged.append([UInt8](UnsafeRawBufferPointer(rebasing: buffer[16..<16 + n])))
            if let d = makeInitiation(i, now: now, retry: false) { return .handshakeInitiation(d) }
            return .queued
        }
        sealInPlace(i, buffer: buffer, plaintextCount: n, now: now)
        return .sealed(count: size, endpoint: endpoint)
    }

    @discardableResult
    mutating func recordDrop(_ r: WireGuardDropReason) -> WireGuardDropReason {
        stats.drops[Int(r.rawValue)] += 1
        return r
    }

    /// Seals with the current keypair (which must be sendable) and runs the send-side timers.
    mutating func sealInPlace(_ i: Int, buffer: UnsafeMutableRawBufferPointer, plaintextCount n: Int, now: UInt64) {
        let padded = (n + 15) / 16 * 16
        for k in 16 + n ..< 16 + padded { buffer[k] = 0 }
        let counter = peers[i].current!.sendCounter
        peers[i].current!.sendCounter += 1
        let kp = peers[i].current!
        // Sealed where it lies, the tag right behind it: no allocation, no copy.
        kp.send.seal(UnsafeMutableRawBufferPointer(rebasing: buffer[16..<16 + padded]), counter: counter,
                     tag: buffer.baseAddress! + 16 + padded)
        buffer[0] = WireGuardMessage.transportType; buffer[1] = 0; buffer[2] = 0; buffer[3] = 0
        buffer.storeBytes(of: kp.remoteIndex.littleEndian, toByteOffset: 4, as: UInt32.self)
        buffer.storeBytes(of: counter.littleEndian, toByteOffset: 8, as: UInt64.self)
        if n == 0 { stats.keepalivesSent += 1 } else { stats.transportSent += 1 }
        timersAnyAuthenticatedPacketTraversal(i, now)
        timersAnyAuthenticatedPacketSent(i)
        if n > 0 { timersDataSent(i, now) }
        // keep-key-fresh (sending): a rekey is due after REKEY-AFTER-MESSAGES, or REKEY-AFTER-TIME on a
        // session we initiated. The initiation goes out on the next tick.
        if counter > WireGuardTimers.rekeyAfterMessages
            || (kp.isInitiator && now > kp.created + WireGuardTimers.rekeyAfterTime) {
            peers[i].wantsHandshake = true
        }
    }

    /// Slow-path convenience over `encrypt` (allocates): seals a copy of `plaintext` for `peer`. The second
    /// value is the datagram to send, if any: the transport datagram for `.sealed`, the initiation for
    /// `.handshakeInitiation`.
    public mutating func send(plaintext: [UInt8], toPeer i: Int, now: UInt64) -> (WireGuardSendResult, WireGuardDatagram?) {
        var buf = [UInt8](repeating: 0, count: Self.sealedSize(plaintextCount: plaintext.count))
        buf.replaceSubrange(16..<16 + plaintext.count, with: plaintext)
        let r = buf.withUnsafeMutableBytes { encrypt(toPeer: i, buffer: $0, plaintextCount: plaintext.count, now: now) }
        switch r {
        case .sealed(let count, let endpoint):
            return (r, WireGuardDatagram(bytes: Array(buf[0..<count]), endpoint: endpoint, peer: i,
                                         kind: plaintext.isEmpty ? .keepalive : .transport))
        case .handshakeInitiation(let d): return (r, d)
        default: return (r, nil)
        }
    }

    /// Sends what is queued for peer `i` (or a keepalive when nothing is), or starts a handshake when there
    /// is no usable session (wireguard-go's SendKeepalive / SendStagedPackets).
    mutating func flush(_ i: Int, now: UInt64, keepalive: Bool) -> [WireGuardDatagram] {
        if keepalive && peers[i].staged.isEmpty { peers[i].staged.append([]) }
        guard !peers[i].staged.isEmpty else { return [] }
        guard sendable(i, now), let endpoint = peers[i].endpoint else {
            if let d = makeInitiation(i, now: now, retry: false) { return [d] }
            return []
        }
        var out: [WireGuardDatagram] = []
        let staged = peers[i].staged
        peers[i].staged = []
        for p in staged {
            var buf = [UInt8](repeating: 0, count: Self.sealedSize(plaintextCount: p.count))
            buf.replaceSubrange(16..<16 + p.count, with: p)
            buf.withUnsafeMutableBytes { sealInPlace(i, buffer: $0, plaintextCount: p.count, now: now) }
            out.append(WireGuardDatagram(bytes: buf, endpoint: endpoint, peer: i, kind: p.isEmpty ? .keepalive : .transport))
        }
        return out
    }

    // MARK: Receiving

    /// Slow-path convenience: `receive` over an array, decrypting in place.
    public mutating func receive(datagram: inout [UInt8], from source: WireGuardEndpoint, now: UInt64) -> WireGuardReceiveResult {
        datagram.withUnsafeMutableBytes { receive(datagram: $0, from: source, now: now) }
    }

    /// Handles one UDP payload that arrived from `source`. Transport data is decrypted in place; on every
    /// drop the buffer is left as it came.
    public mutating func receive(datagram: UnsafeMutableRawBufferPointer, from source: WireGuardEndpoint,
                                 now: UInt64) -> WireGuardReceiveResult {
        let raw = UnsafeRawBufferPointer(datagram)
        guard let type = WireGuardMessage.type(of: raw) else { return drop(.malformed) }
        switch type {
        case WireGuardMessage.transportType:
            guard datagram.count >= WireGuardMessage.transportMinimumSize else { return drop(.malformed) }
            return receiveTransport(datagram, from: source, now: now)
        case WireGuardMessage.initiationType:
            guard datagram.count == WireGuardMessage.initiationSize else { return drop(.malformed) }
            return receiveInitiation(raw, from: source, now: now)
        case WireGuardMessage.responseType:
            guard datagram.count == WireGuardMessage.responseSize else { return drop(.malformed) }
            return receiveResponse(raw, from: source, now: now)
        case WireGuardMessage.cookieReplyType:
            guard datagram.count == WireGuardMessage.cookieReplySize else { return drop(.malformed) }
            return receiveCookieReply(raw, now: now)
        default:
            return drop(.malformed)
        }
    }

    /// The cookie for `source` under our current secret (rotated every two minutes).
    mutating func cookie(for source: WireGuardEndpoint, now: UInt64) -> [UInt8] {
        if cookieSecretSet == nil || now >= cookieSecretSet! + WireGuardTimers.cookieRefreshTime {
            cookieSecret = random.bytes(32)
            cookieSecretSet = now
        }
        return BLAKE2s.hash(source.cookieInput, digestSize: 16, key: cookieSecret)
    }

    /// mac1 must be right; under load mac2 must be too, else the answer is a cookie reply.
    mutating func checkMacs(_ msg: UnsafeRawBufferPointer, from source: WireGuardEndpoint, senderIndex: UInt32,
                            now: UInt64) -> WireGuardReceiveResult? {
        guard Noise.verifyMac1(msg, mac1Key: mac1Key) else { return drop(.badMac1) }
        guard underLoad else { return nil }
        let c = cookie(for: source, now: now)
        if Noise.verifyMac2(msg, cookie: c) { return nil }
        let o = Noise.mac1Offset(msg.count)
        let reply = Noise.createCookieReply(receiverIndex: senderIndex, nonce: random.bytes(24), cookie: c,
                                            mac1: Array(msg[o..<o + 16]), cookieKey: cookieKey)
        stats.cookieRepliesSent += 1
        return .cookieReply(WireGuardDatagram(bytes: reply, endpoint: source, peer: nil, kind: .cookieReply))
    }

    static func le32(_ b: UnsafeRawBufferPointer, _ o: Int) -> UInt32 {
        UInt32(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt32.self))
    }

    mutating func receiveInitiation(_ msg: UnsafeRawBufferPointer, from source: WireGuardEndpoint,
                                    now: UInt64) -> WireGuardReceiveResult {
        if let r = checkMacs(msg, from: source, senderIndex: Self.le32(msg, 4), now: now) { return r }
        let table = peerByKey
        let peersNow = peers
        guard let consumed = Noise.consumeInitiation(
            Array(msg), localStaticPrivate: privateKey, localStaticPublic: publicKey.bytes,
            staticStaticFor: { key in
                guard let k = WireGuardKey(bytes: key), let i = table[k] else { return nil }
                return peersNow[i].staticStatic
            }) else { return drop(.handshakeFailed) }
        let i = peerByKey[WireGuardKey(bytes: consumed.remoteStaticPublic)!]!
        if let latest = peers[i].latestTimestamp, !TAI64N.isAfter(consumed.timestamp, latest) {
            return drop(.handshakeReplay)
        }
        if let last = peers[i].lastInitiationConsumed, now < last + WireGuardTimers.handshakeInitiationRate {
            return drop(.handshakeFlood)
        }
        peers[i].latestTimestamp = consumed.timestamp
        peers[i].lastInitiationConsumed = now
        peers[i].endpoint = source
        timersAnyAuthenticatedPacketTraversal(i, now)
        timersAnyAuthenticatedPacketReceived(i)

        // Our own initiation in flight, if any, is superseded (as in wireguard-go: one handshake per peer).
        if let h = peers[i].handshakeIndex { indices.remove(h) }
        peers[i].handshake = nil; peers[i].handshakeIndex = nil

        let index = randomIndex()
        let eph = randomPrivateKey()
        guard let (msg0, sendKey, receiveKey) = Noise.createResponse(
            consumed, senderIndex: index, ephemeralPrivate: eph, presharedKey: peers[i].presharedKey)
        else { return drop(.handshakeFailed) }
        var response = msg0
        let cookie = peers[i].cookie.flatMap { now < peers[i].cookieReceived + WireGuardTimers.cookieRefreshTime ? $0 : nil }
        Noise.stampMacs(&response, mac1Key: peers[i].mac1Key, cookie: cookie)
        indices.insert(index, peer: i)
        installKeypair(i, Keypair(send: sendKey.withUnsafeBytes { InPlaceChaChaPoly(key: $0) },
                                  receive: receiveKey.withUnsafeBytes { InPlaceChaChaPoly(key: $0) },
                                  localIndex: index, remoteIndex: consumed.senderIndex, created: now, isInitiator: false))
        timersSessionDerived(i, now)
        timersAnyAuthenticatedPacketSent(i)
        stats.handshakesResponded += 1
        recordSecrets(i, initiator: false, ephemeral: eph, now: now)
        return .handshakeResponse(WireGuardDatagram(bytes: response, endpoint: source, peer: i, kind: .response))
    }

    mutating func receiveResponse(_ msg: UnsafeRawBufferPointer, from source: WireGuardEndpoint,
                                  now: UInt64) -> WireGuardReceiveResult {
        if let r = checkMacs(msg, from: source, senderIndex: Self.le32(msg, 4), now: now) { return r }
        let receiver = Self.le32(msg, 8)
        guard let i = indices.lookup(receiver), peers[i].handshakeIndex == receiver, let state = peers[i].handshake
        else { return drop(.unknownIndex) }
        guard let (sendKey, receiveKey, remoteIndex) = Noise.consumeResponse(
            Array(msg), state: state, localStaticPrivate: privateKey, presharedKey: peers[i].presharedKey)
        else { return drop(.handshakeFailed) }
        peers[i].handshake = nil
        peers[i].handshakeIndex = nil
        peers[i].endpoint = source
        installKeypair(i, Keypair(send: sendKey.withUnsafeBytes { InPlaceChaChaPoly(key: $0) },
                                  receive: receiveKey.withUnsafeBytes { InPlaceChaChaPoly(key: $0) },
                                  localIndex: receiver, remoteIndex: remoteIndex, created: now, isInitiator: true))
        timersAnyAuthenticatedPacketTraversal(i, now)
        timersAnyAuthenticatedPacketReceived(i)
        timersSessionDerived(i, now)
        timersHandshakeComplete(i, now)
        stats.handshakesCompleted += 1
        recordSecrets(i, initiator: true, ephemeral: state.ephemeralPrivate, now: now)
        return .handshakeComplete(peer: i, datagrams: flush(i, now: now, keepalive: true))
    }

    mutating func receiveCookieReply(_ msg: UnsafeRawBufferPointer, now: UInt64) -> WireGuardReceiveResult {
        let receiver = Self.le32(msg, 4)
        guard let i = indices.lookup(receiver), let mac1 = peers[i].lastMac1Sent else { return drop(.unknownIndex) }
        guard let cookie = Noise.consumeCookieReply(Array(msg), cookieKey: peers[i].cookieKey, lastMac1: mac1)
        else { return drop(.authFailed) }
        peers[i].cookie = cookie
        peers[i].cookieReceived = now
        stats.cookieRepliesReceived += 1
        return .cookieReceived(peer: i)
    }

    mutating func recordSecrets(_ i: Int, initiator: Bool, ephemeral: [UInt8], now: UInt64) {
        guard recordHandshakeSecrets else { return }
        completedHandshakes.append(WireGuardHandshakeSecrets(
            peer: i, isInitiator: initiator, at: now, localStaticPrivate: WireGuardKey(bytes: privateKey)!,
            remoteStaticPublic: peers[i].config.publicKey, localEphemeralPrivate: WireGuardKey(bytes: ephemeral)!,
            presharedKey: peers[i].config.presharedKey ?? .zero))
    }

    /// Which slot of peer `i` holds local index `index`: 0 current, 1 previous, 2 next.
    func slot(_ i: Int, _ index: UInt32) -> Int? {
        if peers[i].current?.localIndex == index { return 0 }
        if peers[i].previous?.localIndex == index { return 1 }
        if peers[i].next?.localIndex == index { return 2 }
        return nil
    }

    mutating func receiveTransport(_ buf: UnsafeMutableRawBufferPointer, from source: WireGuardEndpoint,
                                   now: UInt64) -> WireGuardReceiveResult {
        let receiver = UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        let counter = UInt64(littleEndian: buf.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        guard let i = indices.lookup(receiver), let s = slot(i, receiver) else { return drop(.unknownIndex) }
        // Only the fields needed: holding a copy of the whole keypair would keep a second reference to its
        // replay window, and accepting the counter below would then copy the window (an allocation).
        let created = s == 0 ? peers[i].current!.created : s == 1 ? peers[i].previous!.created : peers[i].next!.created
        let cipher = s == 0 ? peers[i].current!.receive : s == 1 ? peers[i].previous!.receive : peers[i].next!.receive
        guard now < created + WireGuardTimers.rejectAfterTime else { return drop(.keyExpired) }
        // The replay window is consulted after authentication, so a forged counter is an auth failure.
        guard counter < WireGuardTimers.rejectAfterMessages else { return drop(.replay) }

        // Opened in place: the tag is checked first, and a packet that fails it is left untouched.
        let body = UnsafeMutableRawBufferPointer(rebasing: buf[WireGuardMessage.transportHeaderSize..<buf.count - WireGuardMessage.tagSize])
        guard cipher.open(body, counter: counter, tag: buf.baseAddress! + buf.count - WireGuardMessage.tagSize) else {
            return drop(.authFailed)
        }
        /// Drops after authentication put the ciphertext back (the same keystream again), so that every
        /// drop leaves the datagram as it came.
        func restore() {
            withUnsafeTemporaryAllocation(byteCount: 16, alignment: 16) { scratch in
                cipher.seal(body, counter: counter, tag: scratch.baseAddress!)
            }
        }
        // The inner length, from the IP header (the padding is not part of the packet).
        var innerLength = 0
        if !body.isEmpty {
            let version = body[0] >> 4
            if version == 4 && body.count >= 20 {
                innerLength = Int(body[2]) << 8 | Int(body[3])
                if innerLength < 20 { innerLength = Int.max }
            } else if version == 6 && body.count >= 40 {
                innerLength = 40 + (Int(body[4]) << 8 | Int(body[5]))
            } else {
                innerLength = Int.max
            }
        }
        // Authenticated: now the counter counts.
        let accepted: Bool
        switch s {
        case 0: accepted = peers[i].current!.replay.accept(counter)
        case 1: accepted = peers[i].previous!.replay.accept(counter)
        default: accepted = peers[i].next!.replay.accept(counter)
        }
        guard accepted else {
            restore()
            return drop(.replay)
        }
        if s == 2 {
            // The first packet on the responder's new session confirms it: rotate it in.
            if let prev = peers[i].previous { indices.remove(prev.localIndex) }
            peers[i].previous = peers[i].current
            peers[i].current = peers[i].next
            peers[i].next = nil
            timersHandshakeComplete(i, now)
            if !peers[i].staged.isEmpty { peers[i].wantsFlush = true }
        }
        peers[i].endpoint = source
        // keep-key-fresh (receiving): a session we initiated nearing REJECT-AFTER-TIME gets one last rekey.
        if let cur = peers[i].current, cur.isInitiator, !peers[i].sentLastMinuteHandshake,
           now > cur.created + WireGuardTimers.rejectAfterTime - WireGuardTimers.keepaliveTimeout - WireGuardTimers.rekeyTimeout {
            peers[i].sentLastMinuteHandshake = true
            peers[i].wantsHandshake = true
        }
        timersAnyAuthenticatedPacketTraversal(i, now)
        timersAnyAuthenticatedPacketReceived(i)
        if body.isEmpty {
            stats.keepalivesReceived += 1
            return .keepalive(peer: i)
        }
        timersDataReceived(i, now)
        guard innerLength <= body.count else {
            restore()
            return drop(.malformedInner)
        }
        let start = WireGuardMessage.transportHeaderSize
        stats.transportReceived += 1
        return .transport(peer: i, plaintext: start..<start + innerLength)
    }

    // MARK: Timers

    /// Runs every timer due at `now` and returns the datagrams to send: handshake retransmissions and
    /// rekeys, keepalives, persistent keepalives, packets released when a session was confirmed. Also
    /// zeroes key material 3 × REJECT-AFTER-TIME after the last handshake. Peers are visited in order, so
    /// the output is deterministic.
    public mutating func tick(now: UInt64) -> [WireGuardDatagram] {
        var out: [WireGuardDatagram] = []
        for i in peers.indices {
            if let t = peers[i].zeroKeysAt, now >= t {
                peers[i].zeroKeysAt = nil
                zeroKeys(i)
            }
            if let t = peers[i].retransmitAt, now >= t {
                peers[i].retransmitAt = nil
                if peers[i].handshakeAttempts >= WireGuardTimers.maxHandshakeAttempts {
                    // REKEY-ATTEMPT-TIME is over: give up, drop what waited, expire keys later.
                    stats.handshakesGivenUp += 1
                    peers[i].sendKeepaliveAt = nil
                    peers[i].staged = []
                    if let h = peers[i].handshakeIndex { indices.remove(h) }
                    peers[i].handshake = nil; peers[i].handshakeIndex = nil
                    if peers[i].zeroKeysAt == nil { peers[i].zeroKeysAt = now + 3 * WireGuardTimers.rejectAfterTime }
                } else {
                    peers[i].handshakeAttempts += 1
                    if let d = makeInitiation(i, now: now, retry: true) { out.append(d) }
                }
            }
            if let t = peers[i].sendKeepaliveAt, now >= t {
                peers[i].sendKeepaliveAt = nil
                out += flush(i, now: now, keepalive: true)
                if peers[i].needAnotherKeepalive {
                    peers[i].needAnotherKeepalive = false
                    peers[i].sendKeepaliveAt = now + WireGuardTimers.keepaliveTimeout
                }
            }
            if let t = peers[i].newHandshakeAt, now >= t {
                // Data sent, nothing heard for KEEPALIVE-TIMEOUT + REKEY-TIMEOUT: try a new handshake.
                peers[i].newHandshakeAt = nil
                if let d = makeInitiation(i, now: now, retry: false) { out.append(d) }
            }
            if let t = peers[i].persistentKeepaliveAt, now >= t {
                peers[i].persistentKeepaliveAt = nil
                if peers[i].persistentInterval > 0 { out += flush(i, now: now, keepalive: true) }
            }
            if peers[i].wantsHandshake {
                peers[i].wantsHandshake = false
                if let d = makeInitiation(i, now: now, retry: false) { out.append(d) }
            }
            if peers[i].wantsFlush {
                peers[i].wantsFlush = false
                out += flush(i, now: now, keepalive: false)
            }
        }
        return out
    }

    /// Sends a keepalive to `peer` now if a session is up (or starts a handshake).
    public mutating func keepalive(peer i: Int, now: UInt64) -> [WireGuardDatagram] {
        flush(i, now: now, keepalive: true)
    }
}
