import NimbusDataplane
import NimbusWire
import Testing

/// The NAT gateway and elastic IPs, packet by packet.
@Suite struct NATTests {
    typealias F = Fixture
    static let natIP = IPv4Address("203.0.113.200")!
    static let eip = IPv4Address("203.0.113.210")!
    static let second: UInt64 = 1_000_000_000

    /// The fixture's private network (app-1, port 4) gets a gateway with one address and `ports`.
    static func config(ports: ClosedRange<UInt16> = 1024...65535, eif: Bool = false, elastic: Bool = false) -> DataplaneConfig {
        var c = Fixture.config
        c.natGateways = [NATGatewayConfig(network: 1, publicIPs: [natIP], ports: ports, endpointIndependentFiltering: eif)]
        c.extraPublicAddresses = [natIP]
        if elastic { c.ports[4].publicIP = eip }
        let all = SecurityRuleSpec(protocolNumber: nil, peers: [IPv4CIDR(address: .any, prefixLength: 0)])
        c.firewall = FirewallConfig(groups: [SecurityGroupSpec(name: "open", ingress: [all], egress: nil)],
                                    portGroups: [[], [0], [0], [0], [0]])
        return c
    }

    static func out(_ sp: UInt16, to d: IPv4Address = F.client, _ dp: UInt16 = 53) -> [UInt8] {
        FrameBuilder.udpFrame(sourceMAC: F.appMAC, destinationMAC: F.routerMAC, source: F.app, destination: d,
                              sourcePort: sp, destinationPort: dp)
    }
    static func back(_ dp: UInt16, from s: IPv4Address = F.client, _ sp: UInt16 = 53, to d: IPv4Address = natIP) -> [UInt8] {
        FrameBuilder.udpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: s, destination: d,
                              sourcePort: sp, destinationPort: dp)
    }

    @Test func outboundIsTranslatedWithTheSourcePortKeptAndChecksumsValid() {
        var h = StageHarness(Self.config())
        let tcp = FrameBuilder.tcpFrame(sourceMAC: F.appMAC, destinationMAC: F.routerMAC, source: F.app, destination: F.client,
                                        sourcePort: 40000, destinationPort: 443, flags: TCPHeader.syn)
        let o = h.run([(4, tcp), (4, Self.out(5000))])
        #expect(o.allSatisfy { $0.verdict == .forward && $0.port == 0 })
        #expect(o[0].bytes.ip(26) == Self.natIP && o[0].bytes.u16(34) == 40000)
        #expect(o[0].bytes.ip(30) == F.client && o[0].bytes[22] == 63)
        #expect(o[0].bytes.ipv4ChecksumValid() && o[0].bytes.l4ChecksumValid())
        #expect(o[1].bytes.ip(26) == Self.natIP && o[1].bytes.u16(34) == 5000)
        #expect(o[1].bytes.ipv4ChecksumValid() && o[1].bytes.l4ChecksumValid())
        #expect(h.dataplane.natStatistics.created == 2)
    }

    @Test func repliesComeBackAndStrangersAreFiltered() {
        var h = StageHarness(Self.config())
        let stranger = IPv4Address("198.51.100.99")!
        let o = h.run([(4, Self.out(5000)), (0, Self.back(5000)), (0, Self.back(5000, from: stranger)), (0, Self.back(5001))])
        #expect(o[1].verdict == .forward && o[1].port == 4)
        #expect(o[1].bytes.ip(30) == F.app && o[1].bytes.u16(36) == 5000 && o[1].bytes.ip(26) == F.client)
        #expect(o[1].bytes.ipv4ChecksumValid() && o[1].bytes.l4ChecksumValid())
        #expect(o[2].drop == .natFiltered)
        #expect(o[3].drop == .natNoMapping)
    }

    @Test func endpointIndependentFilteringAdmitsAnyRemote() {
        var h = StageHarness(Self.config(eif: true))
        let o = h.run([(4, Self.out(5000)), (0, Self.back(5000, from: IPv4Address("198.51.100.99")!))])
        #expect(o[1].verdict == .forward && o[1].port == 4)
    }

    @Test func oneInternalEndpointKeepsOneMappingForEveryDestination() {
        var h = StageHarness(Self.config())
        let o = h.run([(4, Self.out(5000, to: F.client)), (4, Self.out(5000, to: IPv4Address("198.51.100.77")!))])
        #expect(o[0].bytes.u16(34) == o[1].bytes.u16(34))
        #expect(o[0].bytes.ip(26) == o[1].bytes.ip(26))
        #expect(h.dataplane.natStatistics.created == 1)
    }

    @Test func portExhaustionDropsExactlyTheNewFlowAndKeepsTheOthers() {
        // One address, ten ports (2000-2009), eleven flows from source ports outside the range.
        var h = StageHarness(Self.config(ports: 2000...2009))
        let o = h.run((0..<11).map { (4, Self.out(UInt16(30000 + $0))) })
        #expect(o.filter { $0.verdict == .forward }.count == 10)
        #expect(o.filter { $0.drop == .natPortExhausted }.count == 1)
        let ports = Set(o.filter { $0.verdict == .forward }.map { $0.bytes.u16(34) })
        #expect(ports == Set(2000...2009))
        #expect(h.dataplane.counters.drops(.natPortExhausted) == 1)
        // The ten keep working both ways.
        let again = h.run((0..<10).map { (4, Self.out(UInt16(30000 + $0))) } + ports.sorted().map { (0, Self.back($0)) })
        #expect(again.allSatisfy { $0.verdict == .forward })
    }

    @Test func aFullMappingTableRefusesNewFlowsAsNATTableFull() {
        // Two mappings fit. UDP flows are forgotten by conntrack after 30 s unanswered, their mappings
        // live 300 s: at 60 s the flow table has room and the mapping table none.
        var c = Self.config()
        c.firewall?.maxFlows = 2
        var h = StageHarness(c)
        let o = h.run(timed: [
            (0, 4, Self.out(5000)), (0, 4, Self.out(5001)),
            (60 * Self.second, 4, Self.out(5002)),
            (61 * Self.second, 4, Self.out(5000)),   // an existing mapping still carries its flows
        ])
        #expect(o.map(\.verdict) == [.forward, .forward, .drop, .forward])
        #expect(o[2].drop == .natTableFull)
        #expect(o[3].bytes.ip(26) == Self.natIP && o[3].bytes.u16(34) == 5000)
        #expect(h.dataplane.natStatistics.created == 2)
    }

    @Test func aMappingExpiresAfterItsTimeoutAndANewOneIsMade() {
        var h = StageHarness(Self.config())
        let other = IPv4Address("198.51.100.77")!
        let o = h.run(timed: [
            (0, 4, Self.out(5000)), (10 * Self.second, 0, Self.back(5000)),
            // 250 s later the mapping (UDP: 300 s since its last use) still holds: a new destination reuses it.
            (260 * Self.second, 4, Self.out(5000, to: other)),
            // Past 300 s of silence it is gone: the answer finds nothing, and the next packet out makes a new one.
            (600 * Self.second, 0, Self.back(5000, from: other)), (601 * Self.second, 4, Self.out(5000)),
        ])
        #expect(o.map(\.verdict) == [.forward, .forward, .forward, .drop, .forward])
        #expect(o[2].bytes.u16(34) == o[0].bytes.u16(34))
        #expect(o[3].drop == .natNoMapping)
        #expect(h.dataplane.natStatistics.created == 2)
        #expect(h.dataplane.natStatistics.expired == 1)
    }

    @Test func icmpEchoIdentifiersAreMappedLikePortsAndKeptWhenFree() {
        // The port range (3000) is for TCP and UDP; an echo identifier keeps its value when it is free.
        var h = StageHarness(Self.config(ports: 3000...3000))
        let ping = FrameBuilder.echoFrame(sourceMAC: F.appMAC, destinationMAC: F.routerMAC, source: F.app, destination: F.client,
                                          identifier: 9, sequence: 1)
        let o = h.one(4, ping)
        #expect(o.verdict == .forward && o.bytes.u16(38) == 9 && o.bytes.ip(26) == Self.natIP)
        #expect(o.bytes.l4ChecksumValid())
        let reply = FrameBuilder.echoFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                           destination: Self.natIP, reply: true, identifier: 9, sequence: 1)
        let r = h.one(0, reply)
        #expect(r.verdict == .forward && r.port == 4 && r.bytes.u16(38) == 9 && r.bytes.ip(30) == F.app)
        #expect(r.bytes.l4ChecksumValid())
        let wrong = FrameBuilder.echoFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                           destination: Self.natIP, reply: true, identifier: 10, sequence: 1)
        #expect(h.one(0, wrong).drop == .natNoMapping)
    }

    @Test func aZeroUDPChecksumStaysZero() {
        var h = StageHarness(Self.config())
        var f = Self.out(5000)
        f[40] = 0; f[41] = 0
        let o = h.one(4, f)
        #expect(o.verdict == .forward && o.bytes.u16(40) == 0)
    }

    @Test func elasticIPsTranslateOneToOneBothWays() {
        var h = StageHarness(Self.config(elastic: true))
        let o = h.run([(4, Self.out(5000)), (0, Self.back(5000, to: Self.eip)),
                       (0, FrameBuilder.tcpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                                 destination: Self.eip, sourcePort: 1, destinationPort: 8080, flags: TCPHeader.syn))])
        #expect(o[0].bytes.ip(26) == Self.eip && o[0].bytes.u16(34) == 5000)
        #expect(o[1].verdict == .forward && o[1].port == 4 && o[1].bytes.ip(30) == F.app)
        // Unsolicited traffic to an elastic IP is an ordinary inbound flow: the groups decide (here: open).
        #expect(o[2].verdict == .forward && o[2].port == 4 && o[2].bytes.u16(36) == 8080)
        #expect(o.allSatisfy { $0.bytes.ipv4ChecksumValid() && $0.bytes.l4ChecksumValid() })
        #expect(h.dataplane.natStatistics.created == 0)
    }
}
