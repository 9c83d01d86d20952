import NimbusDataplane
import NimbusWire
import Testing

@Suite struct IngressTests {
    typealias F = Fixture

    @Test func arpForTheGatewayIsAnsweredInPlace() {
        var h = StageHarness()
        let req = FrameBuilder.arpRequest(sourceMAC: F.web1MAC, senderIP: F.web1, targetIP: F.webGateway)
        let o = h.one(1, req)
        #expect(o.verdict == .forward && o.port == 1)
        #expect(o.bytes.count == 42)
        #expect(o.bytes.mac(0) == F.web1MAC)
        #expect(o.bytes.mac(6) == F.routerMAC)
        #expect(o.bytes.u16(12) == EtherType.arp)
        #expect(o.bytes.u16(20) == ARPPacket.reply)
        #expect(o.bytes.mac(22) == F.routerMAC)
        #expect(o.bytes.ip(28) == F.webGateway)
        #expect(o.bytes.mac(32) == F.web1MAC)
        #expect(o.bytes.ip(38) == F.web1)
    }

    @Test func arpForANeighbourIsAnsweredWithTheRouterMAC() {
        var h = StageHarness()
        let o = h.one(1, FrameBuilder.arpRequest(sourceMAC: F.web1MAC, senderIP: F.web1, targetIP: F.web2))
        #expect(o.verdict == .forward)
        #expect(o.bytes.mac(22) == F.routerMAC)
        #expect(o.bytes.ip(28) == F.web2)
    }

    @Test func arpOnTheUplinkIsAnsweredOnlyForPublicAddresses() {
        var h = StageHarness()
        let mine = FrameBuilder.arpRequest(sourceMAC: F.upstreamMAC, senderIP: IPv4Address("198.51.100.1")!, targetIP: F.db1)
        let notMine = FrameBuilder.arpRequest(sourceMAC: F.upstreamMAC, senderIP: IPv4Address("198.51.100.1")!,
                                              targetIP: IPv4Address("198.51.100.7")!)
        let privateAddr = FrameBuilder.arpRequest(sourceMAC: F.upstreamMAC, senderIP: IPv4Address("198.51.100.1")!, targetIP: F.app)
        let out = h.run([(0, mine), (0, notMine), (0, privateAddr)])
        #expect(out[0].verdict == .forward && out[0].port == 0)
        #expect(out[0].bytes.ip(28) == F.db1)
        #expect(out[0].bytes.mac(0) == F.upstreamMAC)
        #expect(out[1].drop == .arpUnanswered)
        #expect(out[2].drop == .arpUnanswered)
    }

    @Test func duplicateAddressProbesAndRepliesAreNotAnswered() {
        var h = StageHarness()
        let probe = FrameBuilder.arpRequest(sourceMAC: F.web1MAC, senderIP: .any, targetIP: F.web1)
        var reply = FrameBuilder.arpRequest(sourceMAC: F.web1MAC, senderIP: F.web1, targetIP: F.webGateway)
        reply[21] = 2
        let out = h.run([(1, probe), (1, reply)])
        #expect(out[0].drop == .arpUnanswered)
        #expect(out[1].drop == .arpIgnored)
    }

    @Test func spoofedSourcesAreDropped() {
        var h = StageHarness()
        let wrongIP = FrameBuilder.udpFrame(sourceMAC: F.web1MAC, destinationMAC: F.routerMAC,
                                            source: IPv4Address("203.0.113.99")!, destination: F.client,
                                            sourcePort: 1, destinationPort: 2)
        let wrongMAC = FrameBuilder.udpFrame(sourceMAC: MACAddress("02:de:ad:be:ef:00")!, destinationMAC: F.routerMAC,
                                             source: F.web1, destination: F.client, sourcePort: 1, destinationPort: 2)
        let neighboursIP = FrameBuilder.udpFrame(sourceMAC: F.web1MAC, destinationMAC: F.routerMAC, source: F.web2,
                                                 destination: F.client, sourcePort: 1, destinationPort: 2)
        let arpClaim = FrameBuilder.arpRequest(sourceMAC: F.web1MAC, senderIP: F.web2, targetIP: F.webGateway)
        let fromInternetAsOurs = FrameBuilder.udpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC,
                                                       source: F.web2, destination: F.web1, sourcePort: 1, destinationPort: 2)
        let fromInternetAsPrivate = FrameBuilder.udpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC,
                                                          source: IPv4Address("10.0.1.99")!, destination: F.web1,
                                                          sourcePort: 1, destinationPort: 2)
        let out = h.run([(1, wrongIP), (1, wrongMAC), (1, neighboursIP), (1, arpClaim), (0, fromInternetAsOurs),
                         (0, fromInternetAsPrivate)])
        #expect(out.allSatisfy { $0.verdict == .drop && $0.drop == .spoofedSource })
        #expect(h.dataplane.counters.drops(.spoofedSource) == 6)
    }

    @Test func malformedFramesAreDroppedWithTheirReason() {
        var h = StageHarness()
        let ok = FrameBuilder.udpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                       destination: F.web1, sourcePort: 1, destinationPort: 2)
        var badChecksum = ok
        badChecksum[24] ^= 0xFF
        var badVersion = ok
        badVersion[14] = 0x55
        var tooLong = ok
        tooLong[17] = 0xFF   // total length beyond the frame
        let short = Array(ok.prefix(10))
        var stacked = FrameBuilder.ethernet(source: F.upstreamMAC, destination: F.routerMAC, etherType: EtherType.vlan,
                                            vlan: 5, payload: [0, 7, 0x08, 0x00] + Array(ok[14...]))
        stacked[12] = 0x88; stacked[13] = 0xA8
        let truncatedTCP = FrameBuilder.ethernet(
            source: F.upstreamMAC, destination: F.routerMAC, etherType: EtherType.ipv4,
            payload: FrameBuilder.ipv4(source: F.client, destination: F.web1, protocol: IPProtocol.tcp, payload: Array(repeating: 0, count: 12)))
        let badUDPLength = FrameBuilder.ethernet(
            source: F.upstreamMAC, destination: F.routerMAC, etherType: EtherType.ipv4,
            payload: FrameBuilder.ipv4(source: F.client, destination: F.web1, protocol: IPProtocol.udp, payload: [0, 1, 0, 2, 0, 4, 0, 0]))
        let lldp = FrameBuilder.ethernet(source: F.upstreamMAC, destination: F.routerMAC, etherType: 0x88CC, payload: [1, 2, 3])
        let out = h.run([(0, badChecksum), (0, badVersion), (0, tooLong), (0, short), (0, stacked), (0, truncatedTCP),
                         (0, badUDPLength), (0, lldp)])
        #expect(out.map(\.drop) == [.malformedIPv4, .malformedIPv4, .malformedIPv4, .malformedFrame, .unsupportedL2,
                                     .malformedTCP, .malformedUDP, .unsupportedEthertype])
    }

    @Test func aFirstFragmentMayCarryAShortUDPDatagram() {
        var h = StageHarness()
        // A first fragment: MF set, the UDP length covers the whole datagram, not just this fragment.
        var ip = FrameBuilder.ipv4(source: F.client, destination: F.web1, protocol: IPProtocol.udp, dontFragment: false,
                                   payload: [0, 1, 0, 2, 0x05, 0xDC, 0, 0] + Array(repeating: 0, count: 16))
        ip.withUnsafeMutableBytes { b in
            let r = RawBytes(b)
            r.setU16(6, 0x2000)
            IPv4Header(unchecked: r).updateChecksum()
        }
        let o = h.one(0, FrameBuilder.ethernet(source: F.upstreamMAC, destination: F.routerMAC, etherType: EtherType.ipv4, payload: ip))
        #expect(o.verdict == .forward && o.port == 1)
    }

    @Test func traceRecordsEachStageDecision() {
        var h = StageHarness()
        let f = FrameBuilder.tcpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                      destination: F.web1, sourcePort: 1, destinationPort: 80, flags: TCPHeader.syn)
        _ = h.run([(0, f), (0, f)], trace: 1)
        let r = h.dataplane.context.trace.records
        #expect(r.map(\.stage) == [.classify, .antiSpoof, .router, .egress])
        #expect(r.allSatisfy { $0.packet == 0 })
        #expect(r[2].event == .routed && r[2].a == 1 && r[2].b == 32)
        #expect(r[3].event == .sent && r[3].b == 63)
    }
}
