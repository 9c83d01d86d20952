import NimbusDataplane
import NimbusVPN
import NimbusWire
import Testing

/// The VPN stage against a WireGuard peer driven by the test (the protocol module playing the office):
/// handshakes answered, transport decrypted and checked against the peer's allowed-ips, security groups
/// after decryption, replays and forgeries refused.
@Suite struct VPNStageTests {
    static let routerMAC = MACAddress("02:00:00:00:00:01")!
    static let upstreamMAC = MACAddress("02:00:00:00:ff:fe")!
    static let appMAC = MACAddress("02:00:0a:0a:01:0a")!
    static let app = IPv4Address("10.10.1.10")!
    static let listen = WireGuardEndpoint(address: IPv4Address("203.0.113.3")!, port: 51820)
    static let office = WireGuardEndpoint(address: IPv4Address("198.51.100.2")!, port: 51820)

    static func keys(_ seed: UInt64) -> WireGuardKey {
        var r = NimbusVPN.SeededRandom(seed: seed)
        return WireGuardKey.generatePrivate(using: &r)
    }

    /// A cloud site: app-1 (ingress: ICMP echo and TCP 22 from the office), a tunnel to the office.
    static func config() -> DataplaneConfig {
        let ingress = [SecurityRuleSpec(protocolNumber: IPProtocol.icmp, icmpType: 8, peers: [IPv4CIDR("10.20.0.0/16")!]),
                       SecurityRuleSpec(protocolNumber: IPProtocol.tcp, ports: [22...22], peers: [IPv4CIDR("10.20.0.0/16")!])]
        let firewall = FirewallConfig(groups: [SecurityGroupSpec(name: "app", ingress: ingress, egress: nil)],
                                      portGroups: [[], [0]])
        return DataplaneConfig(
            name: "cloud", routerMAC: routerMAC, upstreamMAC: upstreamMAC,
            networks: [.init(name: "vpc", cidr: IPv4CIDR("10.10.0.0/16")!, mode: .natPrivate)],
            subnets: [.init(name: "app", network: 0, cidr: IPv4CIDR("10.10.1.0/24")!)],
            instances: [.init(name: "app-1", peerMAC: appMAC, ip: app, subnet: 0, network: 0)],
            extraPublicAddresses: [listen.address], firewall: firewall,
            vpnTunnels: [VPNTunnelConfig(name: "office", network: 0, listen: listen, privateKey: keys(1),
                                         peers: [WireGuardPeerConfig(publicKey: keys(2).publicKey, endpoint: office,
                                                                     allowedIPs: [IPv4CIDR("10.20.0.0/16")!])])])
    }

    /// The office's interface, with the cloud as its only peer.
    static func officePeer() -> WireGuardInterface {
        WireGuardInterface(privateKey: keys(2), peers: [WireGuardPeerConfig(publicKey: keys(1).publicKey, endpoint: listen,
                                                                            allowedIPs: [IPv4CIDR("10.10.0.0/16")!])],
                           random: NimbusVPN.SeededRandom(seed: 9))
    }

    struct Out { var verdict: Verdict; var port: UInt16; var drop: DropReason; var bytes: [UInt8] }

    /// One batch through the dataplane; every packet in emission order.
    static func run(_ dp: inout Dataplane, _ frames: [(UInt16, [UInt8])], at t: UInt64) -> [Out] {
        var batch = PacketBatch()
        for (port, f) in frames { _ = f.withUnsafeBytes { batch.append($0, timestamp: t, port: port) } }
        dp.process(&batch)
        var order: [Int] = []
        batch.emissionOrder(into: &order)
        return order.map { Out(verdict: batch.meta[$0].verdict, port: batch.meta[$0].outPort, drop: batch.meta[$0].drop,
                               bytes: batch.bytes($0).array) }
    }

    static func datagram(_ d: WireGuardDatagram) -> [UInt8] {
        FrameBuilder.udpFrame(sourceMAC: upstreamMAC, destinationMAC: routerMAC, source: office.address,
                              destination: listen.address, sourcePort: office.port, destinationPort: listen.port,
                              payload: d.bytes)
    }

    static func sealed(_ peer: inout WireGuardInterface, _ inner: [UInt8], now: UInt64) -> [UInt8] {
        let (_, d) = peer.send(plaintext: inner, toPeer: 0, now: now)
        return datagram(d!)
    }

    /// Brings the tunnel up (office initiates) and returns the dataplane and the office's interface.
    static func establish(_ dp: inout Dataplane, _ office: inout WireGuardInterface) throws {
        let t: UInt64 = 1_700_000_000_000_000_000
        let first = office.initiateHandshake(peer: 0, now: t)
        let initiation = try #require(first)
        let out = run(&dp, [(0, datagram(initiation))], at: t)
        #expect(out.count == 2)
        #expect(out[0].verdict == .consumed)
        #expect(out[1].verdict == .forward && out[1].port == 0)
        let response = out[1].bytes
        #expect(response.ip(26) == listen.address && response.ip(30) == Self.office.address && response.u16(36) == 51820)
        var payload = Array(response[42...])
        #expect(payload[0] == 2 && payload.count == 92)
        guard case .handshakeComplete = office.receive(datagram: &payload, from: listen, now: t + 1000) else {
            Issue.record("the office did not accept the response")
            return
        }
    }

    @Test func decryptedPacketsMustComeFromAllowedIPsAndPassTheGroups() throws {
        var dp = Dataplane(config: Self.config(), seed: 5)
        var office = Self.officePeer()
        try Self.establish(&dp, &office)
        let t: UInt64 = 1_700_000_001_000_000_000
        let ping = FrameBuilder.ipv4(source: IPv4Address("10.20.1.10")!, destination: Self.app, protocol: IPProtocol.icmp,
                                     ttl: 64, payload: FrameBuilder.icmp(type: 8, identifier: 3, sequence: 1, payload: [1, 2, 3, 4]))
        let spoofed = FrameBuilder.ipv4(source: IPv4Address("10.99.0.5")!, destination: Self.app, protocol: IPProtocol.icmp,
                                        ttl: 64, payload: FrameBuilder.icmp(type: 8, identifier: 3, sequence: 2))
        let mysql = FrameBuilder.ipv4(source: IPv4Address("10.20.1.10")!, destination: Self.app, protocol: IPProtocol.tcp,
                                      payload: FrameBuilder.tcp(source: IPv4Address("10.20.1.10")!, destination: Self.app,
                                                                sourcePort: 5555, destinationPort: 3306, flags: TCPHeader.syn))
        let frames = [ping, spoofed, mysql].map { Self.sealed(&office, $0, now: t) }
        let out = Self.run(&dp, frames.map { (0, $0) }, at: t)
        #expect(out.count == 3)
        // The ping: decrypted, routed to app-1 (TTL 63), inner bytes intact behind a fresh Ethernet header.
        #expect(out[0].verdict == .forward && out[0].port == 1)
        #expect(out[0].bytes.mac(0) == Self.appMAC && out[0].bytes.mac(6) == Self.routerMAC)
        #expect(Array(out[0].bytes[34...]) == Array(ping[20...]))
        #expect(out[0].bytes[22] == 63 && out[0].bytes.ipv4ChecksumValid())
        #expect(out[1].verdict == .drop && out[1].drop == .vpnSourceNotAllowed)
        #expect(out[2].verdict == .drop && out[2].drop == .sgIngressDenied)

        // app-1 answers: sealed into the tunnel, and the office opens it to the same reply.
        let reply = FrameBuilder.echoFrame(sourceMAC: Self.appMAC, destinationMAC: Self.routerMAC, source: Self.app,
                                           destination: IPv4Address("10.20.1.10")!, reply: true, identifier: 3, sequence: 1,
                                           payload: [1, 2, 3, 4])
        let back = Self.run(&dp, [(1, reply)], at: t + 1_000_000)
        #expect(back.count == 1 && back[0].verdict == .forward && back[0].port == 0)
        let outer = back[0].bytes
        #expect(outer.ip(26) == Self.listen.address && outer.ip(30) == Self.office.address)
        #expect(outer[23] == IPProtocol.udp && outer.ipv4ChecksumValid() && outer.l4ChecksumValid())
        var payload = Array(outer[42...])
        guard case .transport(0, let range) = office.receive(datagram: &payload, from: Self.listen, now: t + 2_000_000) else {
            Issue.record("the office could not open the reply")
            return
        }
        let inner = Array(payload[range])
        #expect(inner.ip(12) == Self.app && inner.ip(16) == IPv4Address("10.20.1.10")!)
        #expect(inner[8] == 63)                 // one routed hop, into the tunnel
        #expect(inner[20] == ICMPHeader.echoReply && Array(inner[28...]) == [1, 2, 3, 4])

        // The same datagram again: a replay. One bit flipped: forged.
        let again = Self.run(&dp, [(0, frames[0])], at: t + 3_000_000)
        #expect(again[0].drop == .vpnReplay)
        var forged = Self.sealed(&office, ping, now: t + 4_000_000)
        forged[forged.count - 3] ^= 0x80
        let bad = Self.run(&dp, [(0, forged)], at: t + 4_000_000)
        #expect(bad[0].drop == .vpnAuthFailed)
        let stats = try #require(dp.vpnStatistics.first)
        #expect(stats.stats.handshakesResponded == 1)
        #expect(stats.peers[0].status.endpoint == Self.office)
    }

    @Test func packetsForAPeerWithoutSessionAreHeldUntilTheHandshakeCompletes() throws {
        var dp = Dataplane(config: Self.config(), seed: 5)
        var office = Self.officePeer()
        let t: UInt64 = 1_700_000_000_000_000_000
        let ping = FrameBuilder.echoFrame(sourceMAC: Self.appMAC, destinationMAC: Self.routerMAC, source: Self.app,
                                          destination: IPv4Address("10.20.1.10")!, identifier: 1, sequence: 1)
        let out = Self.run(&dp, [(1, ping)], at: t)
        // Held (consumed), and a handshake initiation to the office's endpoint sent in its place.
        #expect(out.count == 2)
        #expect(out[0].verdict == .consumed)
        #expect(out[1].verdict == .forward && out[1].bytes[42] == 1 && out[1].bytes.ip(30) == Self.office.address)
        var initiation = Array(out[1].bytes[42...])
        guard case .handshakeResponse(let response) = office.receive(datagram: &initiation, from: Self.listen, now: t) else {
            Issue.record("the office refused the initiation")
            return
        }
        // The response arrives: the held ping leaves sealed right behind it.
        let released = Self.run(&dp, [(0, Self.datagram(response))], at: t + 5_000_000)
        #expect(released.count == 2)
        #expect(released[0].verdict == .consumed)
        #expect(released[1].verdict == .forward && released[1].bytes[42] == 4)
        var sealed = Array(released[1].bytes[42...])
        guard case .transport(0, let range) = office.receive(datagram: &sealed, from: Self.listen, now: t + 6_000_000) else {
            Issue.record("the office could not open the held ping")
            return
        }
        #expect(Array(sealed[range]).ip(12) == Self.app)
    }
}
