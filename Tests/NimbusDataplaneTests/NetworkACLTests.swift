import NimbusDataplane
import NimbusWire
import Testing

/// Network ACLs: numbered, first match wins, default deny, stateless, only at subnet borders.
@Suite struct NetworkACLTests {
    typealias F = Fixture
    static let any = IPv4CIDR(address: .any, prefixLength: 0)

    /// The web subnet (web-1, web-2) gets an ACL: inbound deny SSH from everywhere (100), deny one host
    /// entirely (110), allow TCP 80 (200), allow ICMP echo (300); outbound allow only TCP to 198.51.100.0/24.
    static func config() -> DataplaneConfig {
        var c = Fixture.config
        let acl = NetworkACLSpec(name: "web", inbound: [
            ACLRuleSpec(allow: false, protocolNumber: IPProtocol.tcp, ports: [22...22], peer: any),
            ACLRuleSpec(allow: false, protocolNumber: nil, peer: IPv4CIDR("198.51.100.66/32")!),
            ACLRuleSpec(allow: true, protocolNumber: IPProtocol.tcp, ports: [80...80], peer: any),
            ACLRuleSpec(allow: true, protocolNumber: IPProtocol.icmp, icmpType: 8, peer: any),
        ], outbound: [
            ACLRuleSpec(allow: true, protocolNumber: IPProtocol.tcp, peer: IPv4CIDR("198.51.100.0/24")!),
        ])
        c.networkACLs = [acl]
        c.subnets[0].networkACL = 0
        return c
    }

    static func tcp(_ mac: MACAddress, _ s: IPv4Address, _ d: IPv4Address, _ dp: UInt16, from sp: UInt16 = 40000) -> [UInt8] {
        FrameBuilder.tcpFrame(sourceMAC: mac, destinationMAC: F.routerMAC, source: s, destination: d, sourcePort: sp,
                              destinationPort: dp, flags: TCPHeader.syn)
    }

    @Test func firstMatchingRuleDecidesAndTheDefaultIsDeny() {
        var h = StageHarness(Self.config())
        let abuser = IPv4Address("198.51.100.66")!
        let out = h.run([
            (0, Self.tcp(F.upstreamMAC, F.client, F.web1, 80)),     // rule 200 allows
            (0, Self.tcp(F.upstreamMAC, F.client, F.web1, 22)),     // rule 100 denies before anything else
            (0, Self.tcp(F.upstreamMAC, abuser, F.web1, 80)),       // rule 110 denies before 200 allows
            (0, FrameBuilder.udpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                      destination: F.web1, sourcePort: 1, destinationPort: 53)),   // no rule: denied
            (0, FrameBuilder.echoFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                       destination: F.web2, identifier: 1, sequence: 1)),          // rule 300
            (0, Self.tcp(F.upstreamMAC, F.client, F.db1, 22)),      // db's subnet has no ACL
        ])
        #expect(out.map(\.verdict) == [.forward, .drop, .drop, .drop, .forward, .forward])
        #expect(out[1].drop == .naclInboundDenied && out[2].drop == .naclInboundDenied && out[3].drop == .naclInboundDenied)
    }

    @Test func outboundRulesAndNoFreePassForReplies() {
        var h = StageHarness(Self.config())
        let out = h.run([
            (1, Self.tcp(F.web1MAC, F.web1, F.client, 443, from: 80)),                     // outbound TCP to 198.51.100/24
            (1, FrameBuilder.udpFrame(sourceMAC: F.web1MAC, destinationMAC: F.routerMAC, source: F.web1,
                                      destination: F.client, sourcePort: 5300, destinationPort: 53)),  // not UDP
            (1, Self.tcp(F.web1MAC, F.web1, F.db1, 5432)),                                 // not to db's range
            // A reply to web-1's DNS query would need its own inbound rule: stateless.
            (0, FrameBuilder.udpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                      destination: F.web1, sourcePort: 53, destinationPort: 5300)),
        ])
        #expect(out.map(\.verdict) == [.forward, .drop, .drop, .drop])
        #expect(out[1].drop == .naclOutboundDenied && out[2].drop == .naclOutboundDenied)
        #expect(out[3].drop == .naclInboundDenied)
    }

    @Test func trafficInsideASubnetIsNotFiltered() {
        var h = StageHarness(Self.config())
        let o = h.one(1, FrameBuilder.udpFrame(sourceMAC: F.web1MAC, destinationMAC: F.routerMAC, source: F.web1,
                                               destination: F.web2, sourcePort: 1, destinationPort: 9999))
        #expect(o.verdict == .forward && o.port == 2)
    }
}
