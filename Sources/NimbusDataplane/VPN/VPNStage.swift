import NimbusVPN
import NimbusWire

/// VPN: the site's WireGuard tunnels, on the dataplane's uplink.
///
/// Inbound (`inbound`, first in the stateful segment): a UDP datagram from the internet to a tunnel's
/// listen address and port is a WireGuard message. Transport data is decrypted in place; the inner packet
/// must come from the sending peer's allowed-ips and then travels on as if it arrived from inside the
/// tunnel's network (routed, filtered by the destination's security groups, TTL decremented). Handshake
/// messages, cookies and keepalives end here (`consumed`), and their answers leave as generated packets.
///
/// Outbound (`outbound`, last in the segment): a packet the router sent into a tunnel (`toTunnel`) gets
/// its TTL decremented, is fragmented or refused when larger than the tunnel's MTU, and is sealed in place
/// for the peer whose allowed-ips hold its destination; the outer IPv4/UDP header goes in the headroom.
/// With no session yet it is held (`consumed`) and a handshake starts; it leaves, sealed, once the session
/// is up.
///
/// Timers (`beforePacket`): each packet's arrival moves the tunnels' clock to its capture time; what the
/// timers send (retransmissions, rekeys, keepalives) leaves just before that packet.
///
/// Reads: UDP to the listen endpoints; `toTunnel`. Writes: whole frames (decrypted inner packets, sealed
/// datagrams), `fromTunnel`. Drops: `vpn-replay`, `vpn-auth-failed`, `vpn-source-not-allowed`,
/// `vpn-packet-too-big` and the other `vpn-*` reasons.
public struct VPNStage {
    struct Tunnel {
        let config: VPNTunnelConfig
        var wg: WireGuardInterface
        /// Datagrams the interface asked to send that have not found room in a batch yet.
        var outbox: [WireGuardDatagram] = []
        var ipIdentification: UInt16 = 0
        /// Handshake messages counted in the current one-second window, to decide `underLoad`.
        var windowStart: UInt64 = 0
        var handshakesInWindow = 0
        var underLoadUntil: UInt64 = 0
    }

    /// More handshake messages than this in one second puts a tunnel under load for the next second:
    /// initiations then need a cookie (mac2) before any Diffie-Hellman is spent on them.
    public static let handshakesPerSecondBeforeLoad = 64

    /// The outer Ethernet, IPv4 (no options) and UDP headers in front of a WireGuard message.
    static let outerHeadersLength = EthernetFrame.headerLength + IPv4Header.minimumLength + UDPHeader.length

    var tunnels: [Tunnel]
    let routerMAC: MACAddress
    let upstreamMAC: MACAddress
    let portMACs: [MACAddress]
    let portGateways: [IPv4Address]
    let classifier = ClassifyStage()
    var icmpIdentification: UInt16 = 0
    /// Secrets of every completed handshake, for a key log, when `recordSecrets` is on (slow path).
    public private(set) var handshakeSecrets: [(tunnel: Int, secrets: WireGuardHandshakeSecrets)] = []
    public var recordSecrets = false {
        didSet { for t in tunnels.indices { tunnels[t].wg.recordHandshakeSecrets = recordSecrets } }
    }

    public var isEnabled: Bool { !tunnels.isEmpty }

    /// Each tunnel draws its randomness (ephemeral keys, indices, cookie secrets, jitter) from a generator
    /// seeded by `seed`, the site's name and the tunnel's index, so a replay is reproducible and two sites
    /// replayed together do not share ephemeral keys.
    public init(config: DataplaneConfig, seed: UInt64) {
        var siteHash: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in config.name.utf8 { siteHash = (siteHash ^ UInt64(b)) &* 0x100_0000_01B3 }
        tunnels = config.vpnTunnels.enumerated().map { t, c in
            let random = NimbusVPN.SeededRandom(seed: seed ^ siteHash &+ UInt64(t) &* 0x9E37_79B9_7F4A_7C15)
            return Tunnel(config: c, wg: WireGuardInterface(privateKey: c.privateKey, peers: c.peers, random: random))
        }
        routerMAC = config.routerMAC
        upstreamMAC = config.upstreamMAC
        portMACs = config.ports.map(\.peerMAC)
        portGateways = config.ports.map { $0.subnet >= 0 ? config.subnets[$0.subnet].gateway : .any }
    }

    // MARK: Timers

    /// Runs the tunnels' timers up to packet `i`'s capture time; what they send leaves just before it.
    @inline(__always)
    public mutating func beforePacket(_ batch: inout PacketBatch, _ i: Int, _ ctx: inout StageContext) {
        let now = batch.meta[i].timestamp
        for t in tunnels.indices {
            let due = tunnels[t].wg.tick(now: now)
            if !due.isEmpty {
                tunnels[t].outbox += due
                let handshakes = due.filter { $0.kind == .initiation }.count
                ctx.trace.record(i, .vpnIn, .vpnTimers, UInt32(t), UInt32(handshakes << 16 | (due.count - handshakes)))
            }
            if !tunnels[t].outbox.isEmpty { drain(t, &batch, before: i) }
        }
    }

    /// Runs the timers without traffic (the end of a replay). What they would send waits in the outbox
    /// for the next packet.
    public mutating func advanceClock(to now: UInt64) {
        for t in tunnels.indices { tunnels[t].outbox += tunnels[t].wg.tick(now: now) }
        collectSecrets()
    }

    /// Runs the timers at `now` on an idle dataplane (live mode) and puts what they send, and anything
    /// still waiting, into `batch` ahead of its inputs.
    public mutating func runTimers(now: UInt64, _ batch: inout PacketBatch) {
        for t in tunnels.indices {
            tunnels[t].outbox += tunnels[t].wg.tick(now: now)
            if !tunnels[t].outbox.isEmpty { drain(t, &batch, lead: now) }
        }
        collectSecrets()
    }

    // MARK: Inbound

    /// Handles packet `i` when it is a datagram to one of the tunnels' listen endpoints.
    @inline(__always)
    public mutating func inbound(_ batch: inout PacketBatch, _ i: Int, _ ctx: inout StageContext) {
        let m = batch.meta[i]
        guard m.inPort == DataplaneConfig.internetPort, m.etherType == EtherType.ipv4, m.ipProtocol == IPProtocol.udp,
              m.hasL4 else { return }
        let frame = batch.bytes(i)
        let ip = IPv4Header(unchecked: frame.suffix(from: Int(m.l3Offset)))
        let udp = UDPHeader(unchecked: frame.suffix(from: Int(m.l4Offset)))
        let dst = ip.destination, dport = udp.destinationPort
        guard let t = tunnels.firstIndex(where: { $0.config.listen.address == dst && $0.config.listen.port == dport })
        else { return }
        if ip.moreFragments {
            // Reassembly is not done for tunnel traffic; WireGuard peers size their datagrams to avoid it.
            return drop(&batch, i, .vpnMalformed, &ctx)
        }
        let now = m.timestamp
        let payloadStart = Int(m.l4Offset) + UDPHeader.length
        let payloadEnd = Int(m.l3Offset) + ip.totalLength
        guard payloadEnd > payloadStart, payloadEnd <= frame.count else { return drop(&batch, i, .vpnMalformed, &ctx) }
        let source = WireGuardEndpoint(address: ip.source, port: udp.sourcePort)
        let datagram = UnsafeMutableRawBufferPointer(start: frame.base + payloadStart, count: payloadEnd - payloadStart)
        // The message type opens the datagram (counted before the interface checks the rest of it).
        let type = datagram[0]
        if type == WireGuardMessage.initiationType || type == WireGuardMessage.responseType {
            countHandshake(t, now)
        }
        let result = tunnels[t].wg.receive(datagram: datagram, from: source, now: now)
        switch result {
        case .transport(let peer, let plaintext):
            let innerStart = payloadStart + plaintext.lowerBound
            decapsulate(&batch, i, t, peer: peer, innerStart: innerStart, innerLength: plaintext.count, &ctx)
        case .keepalive(let peer):
            consume(&batch, i, .vpnKeepalive, t, peer, &ctx)
        case .handshakeResponse(let d):
            tunnels[t].outbox.append(d)
            consume(&batch, i, .vpnResponded, t, d.peer ?? 0, &ctx)
        case .cookieReply(let d):
            tunnels[t].outbox.append(d)
            consume(&batch, i, .vpnCookieSent, t, 0, &ctx)
        case .handshakeComplete(let peer, let datagrams):
            tunnels[t].outbox += datagrams
            consume(&batch, i, .vpnHandshakeComplete, t, peer, &ctx)
        case .cookieReceived(let peer):
            consume(&batch, i, .vpnCookieReceived, t, peer, &ctx)
        case .drop(let reason):
            drop(&batch, i, Self.dropReason(reason), &ctx)
        }
        // A confirmed session releases what was held for it; a rekey may be due.
        tunnels[t].outbox += tunnels[t].wg.tick(now: now)
        collectSecrets()
        if !tunnels[t].outbox.isEmpty { drain(t, &batch, after: i) }
    }

    /// Turns packet `i` into its decrypted inner packet behind a fresh Ethernet header, checks its source
    /// against the peer's allowed-ips, and classifies it again for the stages after this one.
    private mutating func decapsulate(_ batch: inout PacketBatch, _ i: Int, _ t: Int, peer: Int, innerStart: Int,
                                      innerLength: Int, _ ctx: inout StageContext) {
        let newStart = innerStart - EthernetFrame.headerLength
        batch.trimFront(i, newStart)
        batch.setLength(i, EthernetFrame.headerLength + innerLength)
        let frame = batch.bytes(i)
        let inner = frame.suffix(from: EthernetFrame.headerLength)
        EthernetFrame.writeHeader(to: frame, destination: routerMAC, source: upstreamMAC,
                                  etherType: IPVersion.read(from: inner) == IPVersion.v6 ? EtherType.ipv6 : EtherType.ipv4)
        batch.meta[i].fromTunnel = UInt8(t + 1)
        batch.meta[i].hasL4 = false
        batch.meta[i].ipProtocol = 0
        let reason = classifier.classify(&batch, i)
        if reason != .none {
            return drop(&batch, i, reason == .malformedFrame ? .vpnMalformedInner : reason, &ctx)
        }
        guard batch.meta[i].etherType == EtherType.ipv4 else { return drop(&batch, i, .ipv6NotRouted, &ctx) }
        let source = IPv4Header(unchecked: inner).source
        guard tunnels[t].wg.allows(peer: peer, source: source) else {
            return drop(&batch, i, .vpnSourceNotAllowed, &ctx)
        }
        ctx.trace.record(i, .vpnIn, .vpnDecrypted, UInt32(t), UInt32(peer))
    }

    private mutating func countHandshake(_ t: Int, _ now: UInt64) {
        if now >= tunnels[t].windowStart + WireGuardTimers.second {
            tunnels[t].windowStart = now
            tunnels[t].handshakesInWindow = 0
        }
        tunnels[t].handshakesInWindow += 1
        if tunnels[t].handshakesInWindow > Self.handshakesPerSecondBeforeLoad {
            tunnels[t].underLoadUntil = now + WireGuardTimers.second
        }
        tunnels[t].wg.underLoad = now < tunnels[t].underLoadUntil
    }

    // MARK: Outbound

    /// Seals packet `i`, which the router sent into a tunnel.
    @inline(__always)
    public mutating func outbound(_ batch: inout PacketBatch, _ i: Int, _ ctx: inout StageContext) {
        let code = Int(batch.meta[i].toTunnel)
        guard code != 0 else { return }
        let t = code - 1
        let l3 = Int(batch.meta[i].l3Offset)
        let ip = IPv4Header(unchecked: batch.bytes(i).suffix(from: l3))
        guard let peer = tunnels[t].wg.peer(for: ip.destination) else { return drop(&batch, i, .noRoute, &ctx) }
        let now = batch.meta[i].timestamp
        let mtu = tunnels[t].config.mtu
        if ip.totalLength > mtu && ip.dontFragment {
            // Quoted as it arrived, TTL not yet decremented.
            drop(&batch, i, .vpnPacketTooBig, &ctx)
            sendFragmentationNeeded(&batch, i, mtu: mtu, &ctx)
            return
        }
        if batch.meta[i].routed {
            // The router checked the TTL is above 1; the hop into the tunnel is a routed one.
            ip.decrementTTL()
            batch.meta[i].routed = false
        }
        if ip.totalLength > mtu {
            fragment(&batch, i, t, peer: peer, mtu: mtu, &ctx)
        } else {
            seal(&batch, i, t, peer: peer, now: now, &ctx)
        }
        tunnels[t].outbox += tunnels[t].wg.tick(now: now)
        if !tunnels[t].outbox.isEmpty { drain(t, &batch, after: i) }
    }

    /// Seals packet `g` (a whole IPv4 packet at its `l3Offset`) for `peer` in place and puts the outer
    /// headers in front, or holds it until the handshake completes.
    private mutating func seal(_ batch: inout PacketBatch, _ g: Int, _ t: Int, peer: Int, now: UInt64,
                               _ ctx: inout StageContext) {
        let m = batch.meta[g]
        let l3 = Int(m.l3Offset)
        let innerLength = Int(m.length) - l3
        let sealed = WireGuardInterface.sealedSize(plaintextCount: innerLength)
        // Outer Ethernet + IPv4 + UDP in front of the 16-byte WireGuard header that precedes the inner packet.
        let outerHeaders = VPNStage.outerHeadersLength
        let newStart = Int(m.offset) + l3 - WireGuardMessage.transportHeaderSize - outerHeaders
        guard newStart >= Int(m.allocStart),
              newStart + outerHeaders + sealed <= Int(m.allocEnd) else { return drop(&batch, g, .frameTooLarge, &ctx) }
        let buffer = UnsafeMutableRawBufferPointer(
            start: batch.bytes(g).base + l3 - WireGuardMessage.transportHeaderSize, count: sealed)
        switch tunnels[t].wg.encrypt(toPeer: peer, buffer: buffer, plaintextCount: innerLength, now: now) {
        case .sealed(let count, let endpoint):
            batch.prepend(g, Int(m.offset) - newStart)
            batch.setLength(g, outerHeaders + count)
            writeOuterHeaders(batch.bytes(g), t, to: endpoint, payloadLength: count)
            batch.meta[g].etherType = EtherType.ipv4
            batch.meta[g].l3Offset = UInt16(EthernetFrame.headerLength)
            batch.meta[g].l4Offset = UInt16(EthernetFrame.headerLength + IPv4Header.minimumLength)
            batch.meta[g].ipProtocol = IPProtocol.udp
            batch.meta[g].hasL4 = true
            batch.meta[g].outPort = DataplaneConfig.internetPort
            ctx.trace.record(g, .vpnOut, .vpnSealed, UInt32(t), UInt32(peer))
        case .handshakeInitiation(let d):
            tunnels[t].outbox.append(d)
            consume(&batch, g, .vpnHeld, t, peer, &ctx)
        case .queued:
            consume(&batch, g, .vpnHeld, t, peer, &ctx)
        case .drop(let reason):
            drop(&batch, g, Self.dropReason(reason), &ctx)
        }
    }

    /// Splits packet `i` (don't-fragment clear) into fragments that fit `mtu` (RFC 791), seals each; the
    /// first stays packet `i`, the others follow it as generated packets.
    private mutating func fragment(_ batch: inout PacketBatch, _ i: Int, _ t: Int, peer: Int, mtu: Int,
                                   _ ctx: inout StageContext) {
        let l3 = Int(batch.meta[i].l3Offset)
        let frame = batch.bytes(i)
        let ip = IPv4Header(unchecked: frame.suffix(from: l3))
        let header = ip.headerLength
        let total = ip.totalLength
        // Fragment offsets count 8-byte units: every piece but the last carries a multiple of 8 bytes.
        let chunk = (mtu - header) & ~7
        guard chunk >= 8 else { return drop(&batch, i, .vpnPacketTooBig, &ctx) }
        let dontFragment = ip.dontFragment
        let baseOffset = ip.fragmentOffset
        let lastMF = ip.moreFragments
        let now = batch.meta[i].timestamp
        var pieces: [Int] = [i]
        var at = header + chunk
        while at < total {
            let n = min(chunk, total - at)
            guard let g = batch.generate(from: i, length: l3 + header + n) else {
                return drop(&batch, i, .vpnPacketTooBig, &ctx)
            }
            let piece = batch.bytes(g)
            piece.base.copyMemory(from: frame.base, byteCount: l3 + header)
            (piece.base + l3 + header).copyMemory(from: ip.bytes.base + at, byteCount: n)
            IPv4Header(unchecked: piece.suffix(from: l3))
                .setFragment(totalLength: header + n, dontFragment: dontFragment, moreFragments: at + n < total || lastMF,
                             offset: baseOffset + (at - header))
            batch.meta[g] = batch.meta[i].copyForFragment(into: batch.meta[g])
            pieces.append(g)
            at += n
        }
        ip.setFragment(totalLength: header + chunk, dontFragment: dontFragment, moreFragments: true, offset: baseOffset)
        batch.setLength(i, l3 + header + chunk)
        ctx.trace.record(i, .vpnOut, .vpnFragmented, UInt32(t), UInt32(pieces.count))
        for p in pieces { seal(&batch, p, t, peer: peer, now: now, &ctx) }
    }

    private mutating func sendFragmentationNeeded(_ batch: inout PacketBatch, _ i: Int, mtu: Int,
                                                  _ ctx: inout StageContext) {
        let inPort = batch.meta[i].inPort
        // Only an instance gets the answer; a packet relayed from another tunnel would need it sealed.
        guard inPort != DataplaneConfig.internetPort else { return }
        guard let g = ICMPError.send(&batch, about: i, type: ICMPHeader.destinationUnreachable, code: 4,
                                     rest: UInt32(mtu), from: portGateways[Int(inPort)], routerMAC: routerMAC,
                                     to: portMACs[Int(inPort)], identification: icmpIdentification &+ 1)
        else { return }
        icmpIdentification &+= 1
        ctx.trace.record(i, .vpnOut, .icmpGenerated, UInt32(ICMPHeader.destinationUnreachable), UInt32(g))
    }

    // MARK: Output

    /// The outer Ethernet, IPv4 and UDP headers of a datagram from tunnel `t`'s listen endpoint.
    private mutating func writeOuterHeaders(_ frame: RawBytes, _ t: Int, to endpoint: WireGuardEndpoint,
                                            payloadLength: Int) {
        let listen = tunnels[t].config.listen
        EthernetFrame.writeHeader(to: frame, destination: upstreamMAC, source: routerMAC, etherType: EtherType.ipv4)
        tunnels[t].ipIdentification &+= 1
        let l3 = EthernetFrame.headerLength, l4 = l3 + IPv4Header.minimumLength
        IPv4Header.write(to: frame.suffix(from: l3), totalLength: IPv4Header.minimumLength + UDPHeader.length + payloadLength,
                         identification: tunnels[t].ipIdentification, ttl: 64, protocol: IPProtocol.udp,
                         source: listen.address, destination: endpoint.address)
        UDPHeader.write(to: frame.suffix(from: l4), sourcePort: listen.port, destinationPort: endpoint.port,
                        length: UDPHeader.length + payloadLength, source: listen.address, destination: endpoint.address)
    }

    /// Moves tunnel `t`'s waiting datagrams into the batch as generated packets, before or after packet
    /// `i`, as far as there is room; the rest wait for the next packet.
    private mutating func drain(_ t: Int, _ batch: inout PacketBatch, before: Int? = nil, after: Int? = nil,
                                lead: UInt64? = nil) {
        var sent = 0
        for d in tunnels[t].outbox {
            let length = VPNStage.outerHeadersLength + d.bytes.count
            let slot: Int?
            if let lead {
                slot = batch.generateLead(length: length, timestamp: lead)
            } else if let before {
                slot = batch.generate(before: before, length: length)
            } else {
                slot = batch.generate(from: after!, length: length)
            }
            guard let g = slot else { break }
            let frame = batch.bytes(g)
            d.bytes.withUnsafeBytes {
                (frame.base + VPNStage.outerHeadersLength).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
            }
            writeOuterHeaders(frame, t, to: d.endpoint, payloadLength: d.bytes.count)
            batch.meta[g].inPort = DataplaneConfig.internetPort
            batch.meta[g].etherType = EtherType.ipv4
            batch.meta[g].l3Offset = UInt16(EthernetFrame.headerLength)
            batch.meta[g].l4Offset = UInt16(EthernetFrame.headerLength + IPv4Header.minimumLength)
            batch.meta[g].ipProtocol = IPProtocol.udp
            batch.meta[g].hasL4 = true
            batch.forward(g, to: DataplaneConfig.internetPort)
            sent += 1
        }
        tunnels[t].outbox.removeFirst(sent)
    }

    private mutating func collectSecrets() {
        guard recordSecrets else { return }
        for t in tunnels.indices where !tunnels[t].wg.completedHandshakes.isEmpty {
            for s in tunnels[t].wg.completedHandshakes { handshakeSecrets.append((t, s)) }
            tunnels[t].wg.completedHandshakes.removeAll()
        }
    }

    /// Hands over the recorded handshake secrets (and forgets them).
    public mutating func takeHandshakeSecrets() -> [(tunnel: Int, secrets: WireGuardHandshakeSecrets)] {
        defer { handshakeSecrets.removeAll() }
        return handshakeSecrets
    }

    // MARK: Verdicts

    private func consume(_ batch: inout PacketBatch, _ i: Int, _ event: TraceEvent, _ t: Int, _ peer: Int,
                         _ ctx: inout StageContext) {
        batch.meta[i].verdict = .consumed
        ctx.trace.record(i, event == .vpnHeld ? .vpnOut : .vpnIn, event, UInt32(t), UInt32(peer))
    }

    private func drop(_ batch: inout PacketBatch, _ i: Int, _ reason: DropReason, _ ctx: inout StageContext) {
        batch.drop(i, reason)
        ctx.trace.record(i, batch.meta[i].toTunnel != 0 ? .vpnOut : .vpnIn, .dropped, UInt32(reason.rawValue))
    }

    static func dropReason(_ r: WireGuardDropReason) -> DropReason {
        switch r {
        case .replay: .vpnReplay
        case .authFailed: .vpnAuthFailed
        case .sourceNotAllowed: .vpnSourceNotAllowed
        case .malformed: .vpnMalformed
        case .malformedInner: .vpnMalformedInner
        case .unknownIndex: .vpnUnknownIndex
        case .keyExpired: .vpnKeyExpired
        case .badMac1: .vpnBadMac1
        case .handshakeFailed: .vpnHandshakeFailed
        case .handshakeReplay: .vpnHandshakeReplay
        case .handshakeFlood: .vpnHandshakeFlood
        case .noEndpoint: .vpnNoEndpoint
        case .queueFull: .vpnQueueFull
        case .unknownPeer: .vpnUnknownPeer
        case .bufferTooSmall: .frameTooLarge
        }
    }

    // MARK: Figures

    /// Per tunnel: its protocol counters and each peer's state.
    public var statistics: [(name: String, stats: WireGuardStats, peers: [(publicKey: WireGuardKey, status: WireGuardPeerStatus)])] {
        tunnels.map { t in
            (t.config.name, t.wg.stats, t.config.peers.indices.map { (t.config.peers[$0].publicKey, t.wg.status(ofPeer: $0)) })
        }
    }
}

extension PacketMeta {
    /// The metadata of a fragment cut from this packet: same ports, flags and tunnel, its own buffer.
    func copyForFragment(into slot: PacketMeta) -> PacketMeta {
        var m = self
        m.offset = slot.offset
        m.length = slot.length
        m.allocStart = slot.allocStart
        m.allocEnd = slot.allocEnd
        m.child = PacketMeta.noChild
        m.before = PacketMeta.noChild
        m.hasL4 = false
        return m
    }
}
