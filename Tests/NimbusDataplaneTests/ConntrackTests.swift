import NimbusDataplane
import NimbusWire
import Testing

/// Connection tracking and security groups, packet by packet.
@Suite struct ConntrackTests {
    typealias F = Fixture
    static let any = IPv4CIDR(address: .any, prefixLength: 0)
    static func host(_ a: IPv4Address) -> IPv4CIDR { IPv4CIDR(address: a, prefixLength: 32) }

    /// web (ports 1, 2): HTTP from anywhere, UDP 7000 from web members; db (port 3): 5432 from web
    /// members, egress closed; app-1 (port 4): two groups, ssh from 192.0.2.0/24 and ICMP echo.
    static func config(loose: Bool = false, maxFlows: Int = 1000) -> DataplaneConfig {
        var c = Fixture.config
        let web = SecurityGroupSpec(name: "web", ingress: [
            SecurityRuleSpec(protocolNumber: IPProtocol.tcp, ports: [80...80, 443...443], peers: [any]),
            SecurityRuleSpec(protocolNumber: IPProtocol.udp, ports: [7000...7000], peers: [host(F.web1), host(F.web2)]),
        ], egress: nil)
        let db = SecurityGroupSpec(name: "db", ingress: [
            SecurityRuleSpec(protocolNumber: IPProtocol.tcp, ports: [5432...5432], peers: [host(F.web1), host(F.web2)]),
        ], egress: [])
        let ssh = SecurityGroupSpec(name: "ssh", ingress: [
            SecurityRuleSpec(protocolNumber: IPProtocol.tcp, ports: [22...22], peers: [IPv4CIDR("192.0.2.0/24")!]),
        ], egress: nil)
        let ping = SecurityGroupSpec(name: "ping", ingress: [
            SecurityRuleSpec(protocolNumber: IPProtocol.icmp, icmpType: 8, peers: [any]),
        ], egress: nil)
        c.firewall = FirewallConfig(groups: [web, db, ssh, ping], portGroups: [[], [0], [0], [1], [2, 3]],
                                    loosePickup: loose, maxFlows: maxFlows)
        return c
    }

    static func tcp(_ smac: MACAddress, _ s: IPv4Address, _ sp: UInt16, _ d: IPv4Address, _ dp: UInt16, _ flags: UInt8) -> [UInt8] {
        FrameBuilder.tcpFrame(sourceMAC: smac, destinationMAC: F.routerMAC, source: s, destination: d, sourcePort: sp,
                              destinationPort: dp, flags: flags)
    }

    static let syn = TCPHeader.syn, ack = TCPHeader.ack, fin = TCPHeader.fin, rst = TCPHeader.rst

    @Test func aHandshakeOpensAFlowAndRepliesPass() {
        var h = StageHarness(Self.config())
        let out = h.run([
            (0, Self.tcp(F.upstreamMAC, F.client, 40000, F.web1, 80, Self.syn)),
            (1, Self.tcp(F.web1MAC, F.web1, 80, F.client, 40000, Self.syn | Self.ack)),
            (0, Self.tcp(F.upstreamMAC, F.client, 40000, F.web1, 80, Self.ack)),
            (1, Self.tcp(F.web1MAC, F.web1, 80, F.client, 40000, Self.ack | TCPHeader.psh)),
        ])
        #expect(out.map(\.verdict) == [.forward, .forward, .forward, .forward])
        #expect(out.map(\.port) == [1, 0, 1, 0])
        #expect(h.dataplane.flowStatistics.created == 1)
        let flows = h.dataplane.openFlows()
        #expect(flows.count == 1)
        #expect(flows[0].source == F.client.value && flows[0].sourcePort == 40000)
        #expect(flows[0].destination == F.web1.value && flows[0].destinationPort == 80)
        #expect(flows[0].packets == 4)
    }

    @Test func strayAcksAndUnaskedSynAcksAreInvalid() {
        var h = StageHarness(Self.config())
        let out = h.run([
            (0, Self.tcp(F.upstreamMAC, F.client, 40000, F.web1, 80, Self.ack)),
            (0, Self.tcp(F.upstreamMAC, F.client, 40001, F.web1, 80, Self.syn | Self.ack)),
            (0, Self.tcp(F.upstreamMAC, F.client, 40002, F.web1, 80, Self.rst)),
            (0, Self.tcp(F.upstreamMAC, F.client, 40003, F.web1, 80, Self.fin)),
        ])
        #expect(out.allSatisfy { $0.drop == .ctInvalid })
        #expect(h.dataplane.flowStatistics.created == 0)
    }

    @Test func loosePickupAcceptsMidStreamTrafficThatARuleAllows() {
        var h = StageHarness(Self.config(loose: true))
        let out = h.run([
            (0, Self.tcp(F.upstreamMAC, F.client, 40000, F.web1, 80, Self.ack)),
            (1, Self.tcp(F.web1MAC, F.web1, 80, F.client, 40000, Self.ack)),
            (0, Self.tcp(F.upstreamMAC, F.client, 40001, F.web1, 22, Self.ack)),   // no rule: still denied
            (0, Self.tcp(F.upstreamMAC, F.client, 40002, F.web1, 80, Self.rst)),   // RST never opens
        ])
        #expect(out.map(\.verdict) == [.forward, .forward, .drop, .drop])
        #expect(out[2].drop == .sgIngressDenied)
        #expect(out[3].drop == .ctInvalid)
    }

    @Test func groupsAreUnitedAndMembershipDecidesSGReferences() {
        var h = StageHarness(Self.config())
        let out = h.run([
            // web-1 -> web-2 UDP 7000: web-2 admits members of web.
            (1, FrameBuilder.udpFrame(sourceMAC: F.web1MAC, destinationMAC: F.routerMAC, source: F.web1, destination: F.web2,
                                      sourcePort: 5000, destinationPort: 7000)),
            // The internet -> web-2 UDP 7000: not a member.
            (0, FrameBuilder.udpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client, destination: F.web2,
                                      sourcePort: 5000, destinationPort: 7000)),
            // web-1 -> db-1 5432 allowed; the internet -> db-1 5432 not.
            (1, Self.tcp(F.web1MAC, F.web1, 50000, F.db1, 5432, Self.syn)),
            (0, Self.tcp(F.upstreamMAC, F.client, 50000, F.db1, 5432, Self.syn)),
        ])
        #expect(out.map(\.verdict) == [.forward, .drop, .forward, .drop])
        #expect(out[1].drop == .sgIngressDenied && out[3].drop == .sgIngressDenied)
    }

    @Test func emptyEgressDeniesEverythingOutButRepliesStillLeave() {
        var h = StageHarness(Self.config())
        let out = h.run([
            (3, Self.tcp(F.db1MAC, F.db1, 40000, F.client, 443, Self.syn)),          // db may not start anything
            (1, Self.tcp(F.web1MAC, F.web1, 50001, F.db1, 5432, Self.syn)),
            (3, Self.tcp(F.db1MAC, F.db1, 5432, F.web1, 50001, Self.syn | Self.ack)),  // but answers
        ])
        #expect(out[0].drop == .sgEgressDenied)
        #expect(out[1].verdict == .forward && out[2].verdict == .forward)
    }

    @Test func echoRepliesNeedARequestAndICMPErrorsNeedAFlow() {
        var h = StageHarness(Self.config())
        let request = FrameBuilder.echoFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                             destination: F.web1, identifier: 5, sequence: 1)
        let unasked = FrameBuilder.echoFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                             destination: F.web1, reply: true, identifier: 6, sequence: 1)
        // web-1's group has no ICMP rule; app-1's "ping" group has one.
        let toApp = FrameBuilder.echoFrame(sourceMAC: F.web1MAC, destinationMAC: F.routerMAC, source: F.web1,
                                           destination: F.app, identifier: 7, sequence: 1)
        _ = toApp
        let out = h.run([(0, request), (0, unasked)])
        #expect(out[0].drop == .sgIngressDenied)
        #expect(out[1].drop == .ctInvalid)

        // A UDP flow web-1 -> client, then the client's port unreachable about it: related.
        let udp = FrameBuilder.udpFrame(sourceMAC: F.web1MAC, destinationMAC: F.routerMAC, source: F.web1, destination: F.client,
                                        sourcePort: 5300, destinationPort: 53)
        let quoted = Array(udp[14..<(14 + 28)])
        let unreachable = FrameBuilder.ethernet(
            source: F.upstreamMAC, destination: F.routerMAC, etherType: EtherType.ipv4,
            payload: FrameBuilder.ipv4(source: F.client, destination: F.web1, protocol: IPProtocol.icmp,
                                       payload: FrameBuilder.icmp(type: 3, code: 3, payload: quoted)))
        var otherQuote = quoted
        otherQuote[22] = 0x99   // a different source port: about no flow
        otherQuote[23] = 0x99
        let stray = FrameBuilder.ethernet(
            source: F.upstreamMAC, destination: F.routerMAC, etherType: EtherType.ipv4,
            payload: FrameBuilder.ipv4(source: F.client, destination: F.web1, protocol: IPProtocol.icmp,
                                       payload: FrameBuilder.icmp(type: 3, code: 3, payload: otherQuote)))
        let out2 = h.run([(1, udp), (0, unreachable), (0, stray)])
        #expect(out2.map(\.verdict) == [.forward, .forward, .drop])
        #expect(out2[2].drop == .ctInvalid)
    }

    @Test func flowsExpireInCaptureTime() {
        var h = StageHarness(Self.config())
        let s = F.web1, c = F.client
        let query = FrameBuilder.udpFrame(sourceMAC: F.web1MAC, destinationMAC: F.routerMAC, source: s, destination: c,
                                          sourcePort: 5300, destinationPort: 53)
        let answer = FrameBuilder.udpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: c, destination: s,
                                           sourcePort: 53, destinationPort: 5300)
        let second: UInt64 = 1_000_000_000
        // Unreplied UDP lives 30 s: an answer after 31 s finds no flow, and no rule admits it.
        // Once answered, the flow lives 180 s past its last packet.
        let out = h.run(timed: [(0, 1, query), (31 * second, 0, answer),
                                (40 * second, 1, query), (41 * second, 0, answer), (220 * second, 0, answer),
                                (401 * second, 0, answer)])
        #expect(out.map(\.verdict) == [.forward, .drop, .forward, .forward, .forward, .drop])
        #expect(out[1].drop == .sgIngressDenied && out[5].drop == .sgIngressDenied)
        #expect(h.dataplane.flowStatistics.expired == 2)
        #expect(h.dataplane.flowStatistics.created == 2)
        #expect(h.dataplane.openFlows().isEmpty)
    }

    @Test func aFullTableRefusesNewFlowsAndKeepsTheOldOnes() {
        var h = StageHarness(Self.config(maxFlows: 2))
        let out = h.run([
            (0, Self.tcp(F.upstreamMAC, F.client, 1, F.web1, 80, Self.syn)),
            (0, Self.tcp(F.upstreamMAC, F.client, 2, F.web1, 80, Self.syn)),
            (0, Self.tcp(F.upstreamMAC, F.client, 3, F.web1, 80, Self.syn)),
            (1, Self.tcp(F.web1MAC, F.web1, 80, F.client, 1, Self.syn | Self.ack)),
            (1, Self.tcp(F.web1MAC, F.web1, 80, F.client, 2, Self.syn | Self.ack)),
        ])
        #expect(out.map(\.verdict) == [.forward, .forward, .drop, .forward, .forward])
        #expect(out[2].drop == .ctTableFull)
        #expect(h.dataplane.counters.drops(.ctTableFull) == 1)
        #expect(h.dataplane.flowStatistics.peak == 2)
    }

    @Test func aClosedConnectionMayBeReopenedOnTheSameTuple() {
        var h = StageHarness(Self.config())
        let out = h.run([
            (0, Self.tcp(F.upstreamMAC, F.client, 40000, F.web1, 80, Self.syn)),
            (1, Self.tcp(F.web1MAC, F.web1, 80, F.client, 40000, Self.rst)),
            (0, Self.tcp(F.upstreamMAC, F.client, 40000, F.web1, 80, Self.syn)),
        ])
        #expect(out.map(\.verdict) == [.forward, .forward, .forward])
        #expect(h.dataplane.flowStatistics.created == 2)
    }

    @Test func laterFragmentsFollowTheirFirst() {
        var h = StageHarness(Self.config())
        func fragment(offset: UInt16, more: Bool, id: UInt16, payload: [UInt8]) -> [UInt8] {
            var ip = FrameBuilder.ipv4(source: F.client, destination: F.web1, protocol: IPProtocol.tcp, identification: id,
                                       dontFragment: false, payload: payload)
            ip.withUnsafeMutableBytes { b in
                let r = RawBytes(b)
                r.setU16(6, (more ? 0x2000 : 0) | offset / 8)
                IPv4Header(unchecked: r).updateChecksum()
            }
            return FrameBuilder.ethernet(source: F.upstreamMAC, destination: F.routerMAC, etherType: EtherType.ipv4, payload: ip)
        }
        let seg = FrameBuilder.tcp(source: F.client, destination: F.web1, sourcePort: 40000, destinationPort: 80,
                                   flags: Self.syn, payload: Array(repeating: 7, count: 20))
        let denied = FrameBuilder.tcp(source: F.client, destination: F.web1, sourcePort: 40000, destinationPort: 23,
                                      flags: Self.syn, payload: Array(repeating: 7, count: 20))
        let out = h.run([
            (0, fragment(offset: 0, more: true, id: 1, payload: Array(seg[0..<24]))),
            (0, fragment(offset: 24, more: false, id: 1, payload: Array(seg[24...]))),
            (0, fragment(offset: 0, more: true, id: 2, payload: Array(denied[0..<24]))),
            (0, fragment(offset: 24, more: false, id: 2, payload: Array(denied[24...]))),
            (0, fragment(offset: 24, more: false, id: 3, payload: Array(seg[24...]))),
        ])
        #expect(out.map(\.verdict) == [.forward, .forward, .drop, .drop, .drop])
        #expect(out[2].drop == .sgIngressDenied)
        #expect(out[3].drop == .ctFragmentUnmatched && out[4].drop == .ctFragmentUnmatched)
    }
}
