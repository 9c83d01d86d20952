import NimbusDataplane
import NimbusWire
import Testing

@Suite struct RouterTests {
    typealias F = Fixture

    @Test func internetToInstanceIsRoutedWithTTLDecrementedAndMACsRewritten() {
        var h = StageHarness()
        let frame = FrameBuilder.tcpFrame(sourceMAC: F.upstreamMAC, destinationMAC: MACAddress("00:11:22:33:44:55")!,
                                          source: F.client, destination: F.web1, sourcePort: 40000,
                                          destinationPort: 80, flags: TCPHeader.syn, sequence: 7, ttl: 64)
        let o = h.one(0, frame)
        #expect(o.verdict == .forward)
        #expect(o.port == 1)
        #expect(o.bytes.count == frame.count)
        #expect(o.bytes.mac(0) == F.web1MAC)
        #expect(o.bytes.mac(6) == F.routerMAC)
        #expect(o.bytes[22] == 63)
        #expect(o.bytes.ip(26) == F.client)
        #expect(o.bytes.ip(30) == F.web1)
        #expect(o.bytes.ipv4ChecksumValid())
        #expect(o.bytes.l4ChecksumValid())
        // Only the TTL and the header checksum changed in the IP packet.
        #expect(Array(o.bytes[34...]) == Array(frame[34...]))
        #expect(h.dataplane.counters.ports[0].inPackets == 1)
        #expect(h.dataplane.counters.ports[1].outPackets == 1)
        #expect(h.dataplane.counters.ports[1].outBytes == UInt64(frame.count))
    }

    @Test func sameSubnetKeepsTTLAndOtherSubnetDecrements() {
        var h = StageHarness()
        let toWeb2 = FrameBuilder.udpFrame(sourceMAC: F.web1MAC, destinationMAC: F.routerMAC, source: F.web1,
                                           destination: F.web2, sourcePort: 1000, destinationPort: 53, ttl: 9)
        let toDB = FrameBuilder.udpFrame(sourceMAC: F.web1MAC, destinationMAC: F.routerMAC, source: F.web1,
                                         destination: F.db1, sourcePort: 1000, destinationPort: 5432, ttl: 9)
        let out = h.run([(1, toWeb2), (1, toDB)])
        #expect(out[0].verdict == .forward && out[0].port == 2)
        #expect(out[0].bytes[22] == 9)
        #expect(out[0].bytes.mac(0) == F.web2MAC)
        #expect(out[1].verdict == .forward && out[1].port == 3)
        #expect(out[1].bytes[22] == 8)
        #expect(out[1].bytes.mac(0) == F.db1MAC)
        #expect(out[1].bytes.ipv4ChecksumValid())
    }

    @Test func publicInstanceReachesTheInternetThroughTheUpstreamMAC() {
        var h = StageHarness()
        let f = FrameBuilder.tcpFrame(sourceMAC: F.web1MAC, destinationMAC: F.routerMAC, source: F.web1,
                                      destination: F.client, sourcePort: 80, destinationPort: 40000,
                                      flags: TCPHeader.syn | TCPHeader.ack, ttl: 64)
        let o = h.one(1, f)
        #expect(o.verdict == .forward && o.port == 0)
        #expect(o.bytes.mac(0) == F.upstreamMAC)
        #expect(o.bytes.mac(6) == F.routerMAC)
        #expect(o.bytes[22] == 63)
        #expect(o.bytes.ipv4ChecksumValid())
    }

    @Test func ttlOneIsDroppedAndAnsweredWithTimeExceeded() throws {
        var h = StageHarness()
        let f = FrameBuilder.udpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                      destination: F.web2, sourcePort: 5353, destinationPort: 53, ttl: 1,
                                      identification: 0x4242, payload: Array(repeating: 0xAB, count: 600))
        let o = h.one(0, f)
        #expect(o.verdict == .drop)
        #expect(o.drop == .ttlExceeded)
        let (port, icmp) = try #require(o.child)
        #expect(port == 0)
        #expect(icmp.mac(0) == F.upstreamMAC)
        #expect(icmp.mac(6) == F.routerMAC)
        #expect(icmp.u16(12) == EtherType.ipv4)
        #expect(icmp[23] == IPProtocol.icmp)
        #expect(icmp[22] == 64)
        #expect(icmp.ip(26) == F.webGateway)   // the gateway of the destination's subnet
        #expect(icmp.ip(30) == F.client)
        #expect(icmp[34] == ICMPHeader.timeExceeded)
        #expect(icmp[35] == 0)
        #expect(icmp.count == 14 + 576)        // RFC 1812: as much as fits in 576 bytes
        #expect(Int(icmp.u16(16)) == 576)
        // The quoted datagram is the original as it arrived: TTL 1, same id, same addresses.
        #expect(icmp[42 + 8] == 1)
        #expect(icmp.u16(42 + 4) == 0x4242)
        #expect(icmp.ip(42 + 12) == F.client)
        #expect(icmp.ip(42 + 16) == F.web2)
        #expect(icmp.ipv4ChecksumValid())
        #expect(icmp.l4ChecksumValid())
        #expect(h.dataplane.counters.drops(.ttlExceeded) == 1)
        #expect(h.dataplane.counters.ports[0].outPackets == 1)
    }

    @Test func noTimeExceededAboutAnICMPError() {
        var h = StageHarness()
        let err = FrameBuilder.ethernet(
            source: F.upstreamMAC, destination: F.routerMAC, etherType: EtherType.ipv4,
            payload: FrameBuilder.ipv4(source: F.client, destination: F.web1, protocol: IPProtocol.icmp, ttl: 1,
                                       payload: FrameBuilder.icmp(type: 3, code: 3, payload: Array(repeating: 0, count: 28))))
        let o = h.one(0, err)
        #expect(o.drop == .ttlExceeded)
        #expect(o.child == nil)
    }

    @Test func sameSubnetTrafficWithTTLOneIsDelivered() {
        var h = StageHarness()
        let f = FrameBuilder.udpFrame(sourceMAC: F.web1MAC, destinationMAC: F.routerMAC, source: F.web1,
                                      destination: F.web2, sourcePort: 1, destinationPort: 2, ttl: 1)
        let o = h.one(1, f)
        #expect(o.verdict == .forward && o.port == 2)
        #expect(o.bytes[22] == 1)
    }

    @Test func unroutableDestinationsAreDroppedWithReasons() {
        var h = StageHarness()
        let unassigned = FrameBuilder.udpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                               destination: IPv4Address("203.0.113.50")!, sourcePort: 1, destinationPort: 2)
        let elsewhere = FrameBuilder.udpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                              destination: IPv4Address("192.0.2.1")!, sourcePort: 1, destinationPort: 2)
        let privateFromInternet = FrameBuilder.udpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC,
                                                        source: F.client, destination: F.app, sourcePort: 1, destinationPort: 2)
        let privateToPublic = FrameBuilder.udpFrame(sourceMAC: F.appMAC, destinationMAC: F.routerMAC, source: F.app,
                                                    destination: F.web1, sourcePort: 1, destinationPort: 2)
        let broadcast = FrameBuilder.udpFrame(sourceMAC: F.web1MAC, destinationMAC: .broadcast, source: F.web1,
                                              destination: .broadcast, sourcePort: 68, destinationPort: 67)
        let directed = FrameBuilder.udpFrame(sourceMAC: F.web1MAC, destinationMAC: F.routerMAC, source: F.web1,
                                             destination: IPv4Address("203.0.113.63")!, sourcePort: 1, destinationPort: 2)
        let out = h.run([(0, unassigned), (0, elsewhere), (0, privateFromInternet), (4, privateToPublic),
                         (1, broadcast), (1, directed)])
        #expect(out.map(\.drop) == [.noRoute, .noRoute, .noRoute, .noRoute, .notUnicast, .notUnicast])
        #expect(out.allSatisfy { $0.verdict == .drop })
        #expect(h.dataplane.counters.drops(.noRoute) == 4)
        #expect(h.dataplane.counters.packetsDropped == 6)
    }

    @Test func privateInstancesReachEachOtherOnlyInsideTheirNetwork() {
        var h = StageHarness()
        // app-1 to its gateway works (echo); to a public instance it needs NAT, which this stage set lacks.
        let ping = FrameBuilder.echoFrame(sourceMAC: F.appMAC, destinationMAC: F.routerMAC, source: F.app,
                                          destination: IPv4Address("10.0.1.1")!, identifier: 1, sequence: 1)
        let o = h.one(4, ping)
        #expect(o.verdict == .forward && o.port == 4)
        #expect(o.bytes[34] == ICMPHeader.echoReply)
    }

    @Test func vlanTaggedFramesLeaveUntagged() {
        var h = StageHarness()
        let f = FrameBuilder.tcpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                      destination: F.web2, sourcePort: 5, destinationPort: 443, flags: TCPHeader.syn,
                                      vlan: 100)
        let o = h.one(0, f)
        #expect(o.verdict == .forward && o.port == 2)
        #expect(o.bytes.count == f.count - 4)
        #expect(o.bytes.u16(12) == EtherType.ipv4)
        #expect(o.bytes[22] == 63)
        #expect(o.bytes.ipv4ChecksumValid())
        #expect(o.bytes.l4ChecksumValid())
    }

    @Test func ethernetPaddingIsTrimmed() {
        var h = StageHarness()
        let f = FrameBuilder.udpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                      destination: F.web1, sourcePort: 1, destinationPort: 2) + [0, 0, 0, 0, 0, 0]
        let o = h.one(0, f)
        #expect(o.verdict == .forward)
        #expect(o.bytes.count == f.count - 6)
    }

    @Test func pingToTheGatewayIsAnswered() {
        var h = StageHarness()
        let req = FrameBuilder.echoFrame(sourceMAC: F.web1MAC, destinationMAC: F.routerMAC, source: F.web1,
                                         destination: F.webGateway, identifier: 0x1234, sequence: 7, ttl: 64)
        let o = h.one(1, req)
        #expect(o.verdict == .forward && o.port == 1)
        #expect(o.bytes.count == req.count)
        #expect(o.bytes.mac(0) == F.web1MAC)
        #expect(o.bytes.mac(6) == F.routerMAC)
        #expect(o.bytes.ip(26) == F.webGateway)
        #expect(o.bytes.ip(30) == F.web1)
        #expect(o.bytes[22] == 64)
        #expect(o.bytes[34] == ICMPHeader.echoReply)
        #expect(o.bytes.u16(38) == 0x1234)
        #expect(o.bytes.u16(40) == 7)
        #expect(Array(o.bytes[42...]) == Array(req[42...]))
        #expect(o.bytes.ipv4ChecksumValid())
        #expect(o.bytes.l4ChecksumValid())
    }

    @Test func otherTrafficToTheRouterIsDropped() {
        var h = StageHarness()
        let ssh = FrameBuilder.tcpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                        destination: F.webGateway, sourcePort: 1, destinationPort: 22, flags: TCPHeader.syn)
        #expect(h.one(0, ssh).drop == .forRouter)
    }

    @Test func ipv6IsParsedThenNotRouted() {
        var h = StageHarness()
        var v6 = [UInt8](repeating: 0, count: 48)
        v6[0] = 0x60; v6[5] = 8; v6[6] = 17; v6[7] = 64
        let f = FrameBuilder.ethernet(source: F.web1MAC, destination: F.routerMAC, etherType: EtherType.ipv6, payload: v6)
        #expect(h.one(1, f).drop == .ipv6NotRouted)
    }
}
