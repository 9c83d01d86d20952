import NimbusDataplane
import NimbusWire
import Testing

/// Load balancing, packet by packet: round-robin order and weights, consistent source hashing, affinity,
/// health, address preservation.
@Suite struct LoadBalancerTests {
    static let routerMAC = MACAddress("02:00:00:00:00:01")!
    static let upstreamMAC = MACAddress("02:00:00:00:ff:fe")!
    static let vip = IPv4Address("192.0.2.80")!

    static func target(_ n: Int) -> IPv4Address { IPv4Address(value: 0x0A00_0100 + UInt32(10 + n)) }

    /// `targets` instances 10.0.1.10+n in a private network, all in one listener on VIP:80 -> 8080.
    static func config(targets: Int, weights: [Int]? = nil, sourceHash: Bool = false) -> DataplaneConfig {
        let instances = (0..<targets).map { n in
            DataplaneConfig.Port(name: "t\(n)", peerMAC: MACAddress(value: 0x0200_0000_0000 + UInt64(n)), ip: target(n),
                                 subnet: 0, network: 0)
        }
        let listener = LoadBalancerConfig.Listener(
            protocolNumber: IPProtocol.tcp, port: 80, targetPort: 8080, sourceHash: sourceHash,
            targets: (0..<targets).map { LoadBalancerConfig.Target(port: UInt16($0 + 1), weight: weights?[$0] ?? 1) })
        let all = SecurityRuleSpec(protocolNumber: nil, peers: [IPv4CIDR(address: .any, prefixLength: 0)])
        return DataplaneConfig(
            name: "lb", routerMAC: routerMAC, upstreamMAC: upstreamMAC,
            networks: [.init(name: "vpc", cidr: IPv4CIDR("10.0.0.0/16")!, mode: .natPrivate)],
            subnets: [.init(name: "s", network: 0, cidr: IPv4CIDR("10.0.1.0/24")!)],
            instances: instances, extraPublicAddresses: [vip],
            firewall: FirewallConfig(groups: [SecurityGroupSpec(name: "open", ingress: [all], egress: nil)],
                                     portGroups: [[]] + instances.map { _ in [0] }),
            loadBalancers: [LoadBalancerConfig(name: "lb", vip: vip, listeners: [listener])])
    }

    static func syn(_ client: IPv4Address, _ port: UInt16, flags: UInt8 = TCPHeader.syn) -> [UInt8] {
        FrameBuilder.tcpFrame(sourceMAC: upstreamMAC, destinationMAC: routerMAC, source: client, destination: vip,
                              sourcePort: port, destinationPort: 80, flags: flags)
    }
    static func client(_ n: Int) -> IPv4Address { IPv4Address(value: 0xC633_6400 + UInt32(n)) }  // 198.51.100.x and up

    @Test func roundRobinGivesNineFlowsThreeEachInOrder() {
        var h = StageHarness(Self.config(targets: 3))
        let out = h.run((0..<9).map { (0, Self.syn(Self.client(1), UInt16(1000 + $0))) })
        #expect(out.map(\.port) == [1, 2, 3, 1, 2, 3, 1, 2, 3])
        // The target sees the client's address and its own port 8080.
        #expect(out.allSatisfy { $0.bytes.ip(26) == Self.client(1) && $0.bytes.u16(36) == 8080 })
        #expect(out[0].bytes.ip(30) == Self.target(0) && out[1].bytes.ip(30) == Self.target(1))
        #expect(out.allSatisfy { $0.bytes.ipv4ChecksumValid() && $0.bytes.l4ChecksumValid() })
    }

    /// Client ports that differ only in bit 8 (1024 and 1280) are two flows, each with its own target and
    /// its own replies (a flow-key layout once folded them into one).
    @Test func portsDifferingInOneHighBitAreTwoFlows() {
        // Three targets, so that a lost flow would show: re-balanced, its next packet would go to the third.
        var h = StageHarness(Self.config(targets: 3))
        let out = h.run([(0, Self.syn(Self.client(1), 1024)), (0, Self.syn(Self.client(1), 1280))])
        #expect(out.map(\.port) == [1, 2])
        let replies = h.run([1, 2].map { n in
            (UInt16(n), FrameBuilder.tcpFrame(sourceMAC: MACAddress(value: 0x0200_0000_0000 + UInt64(n - 1)), destinationMAC: Self.routerMAC,
                                              source: Self.target(n - 1), destination: Self.client(1), sourcePort: 8080,
                                              destinationPort: n == 1 ? 1024 : 1280, flags: TCPHeader.syn | TCPHeader.ack))
        })
        #expect(replies.map(\.verdict) == [.forward, .forward])
        #expect(replies.allSatisfy { $0.port == 0 && $0.bytes.ip(26) == Self.vip && $0.bytes.u16(34) == 80 })
        #expect(replies.map { $0.bytes.u16(36) } == [1024, 1280])
        // The clients' next packets follow their own flows.
        let acks = h.run([(0, Self.syn(Self.client(1), 1024, flags: TCPHeader.ack)), (0, Self.syn(Self.client(1), 1280, flags: TCPHeader.ack))])
        #expect(acks.map(\.port) == [1, 2])
        #expect(acks.map { $0.bytes.ip(30) } == [Self.target(0), Self.target(1)])
    }

    @Test func weightsOneToTwoGiveAThirdAndTwoThirdsSmoothly() {
        var h = StageHarness(Self.config(targets: 2, weights: [1, 2]))
        let out = h.run((0..<255).map { (0, Self.syn(Self.client(1), UInt16(1000 + $0))) })
            + h.run((255..<300).map { (0, Self.syn(Self.client(1), UInt16(1000 + $0))) })
        #expect(out.filter { $0.port == 1 }.count == 100)
        #expect(out.filter { $0.port == 2 }.count == 200)
        // Smooth: never three in a row for the heavier target.
        let ports = out.map(\.port)
        #expect(!zip(zip(ports, ports.dropFirst()), ports.dropFirst(2)).contains { $0.0 == 2 && $0.1 == 2 && $1 == 2 })
    }

    @Test func aFlowKeepsItsTargetWhileRoundRobinMovesOn() {
        var h = StageHarness(Self.config(targets: 3))
        let out = h.run([(0, Self.syn(Self.client(1), 1000)), (0, Self.syn(Self.client(2), 2000)),
                         (0, Self.syn(Self.client(1), 1000, flags: TCPHeader.ack)),
                         (0, Self.syn(Self.client(3), 3000)), (0, Self.syn(Self.client(1), 1000, flags: TCPHeader.ack))])
        #expect(out.map(\.port) == [1, 2, 1, 3, 1])
    }

    @Test func repliesLeaveFromTheVIP() {
        var h = StageHarness(Self.config(targets: 2))
        let first = h.one(0, Self.syn(Self.client(5), 4000))
        #expect(first.port == 1)
        let reply = FrameBuilder.tcpFrame(sourceMAC: MACAddress(value: 0x0200_0000_0000), destinationMAC: Self.routerMAC,
                                          source: Self.target(0), destination: Self.client(5), sourcePort: 8080,
                                          destinationPort: 4000, flags: TCPHeader.syn | TCPHeader.ack)
        let o = h.one(1, reply)
        #expect(o.verdict == .forward && o.port == 0)
        #expect(o.bytes.ip(26) == Self.vip && o.bytes.u16(34) == 80)
        #expect(o.bytes.ip(30) == Self.client(5) && o.bytes.u16(36) == 4000)
        #expect(o.bytes.ipv4ChecksumValid() && o.bytes.l4ChecksumValid())
    }

    @Test func sourceHashPinsAClientAndMovesOnlyTheClientsOfADownTarget() {
        var h = StageHarness(Self.config(targets: 10, sourceHash: true))
        // 1,000 clients, two flows each (different ports): both land on one target.
        var before: [Int: UInt16] = [:]
        for batch in stride(from: 0, to: 1000, by: 100) {
            let out = h.run((batch..<(batch + 100)).flatMap { c in
                [(UInt16(0), Self.syn(Self.client(c), 1000)), (UInt16(0), Self.syn(Self.client(c), 2000))]
            })
            for (k, c) in (batch..<(batch + 100)).enumerated() {
                #expect(out[2 * k].port == out[2 * k + 1].port)
                before[c] = out[2 * k].port
            }
        }
        let counts = Dictionary(grouping: before.values, by: { $0 }).mapValues(\.count)
        #expect(counts.count == 10)
        #expect(counts.values.allSatisfy { $0 > 50 && $0 < 150 })
        // Target 3 (port 4) goes down: new flows of its clients move, nobody else's.
        h.dataplane.setTargetHealth(loadBalancer: 0, port: 4, .down)
        var moved = 0
        for batch in stride(from: 0, to: 1000, by: 200) {
            let out = h.run((batch..<(batch + 200)).map { (UInt16(0), Self.syn(Self.client($0), 3000)) })
            for (k, c) in (batch..<(batch + 200)).enumerated() {
                if before[c] == 4 {
                    #expect(out[k].port != 4)
                    moved += 1
                } else {
                    #expect(out[k].port == before[c], "client \(c) moved")
                }
            }
        }
        #expect(moved == counts[4])
        #expect(moved > 50 && moved < 150)   // about 1/10 of 1,000
        // Back up: they return.
        h.dataplane.setTargetHealth(loadBalancer: 0, port: 4, .up)
        let back = h.run((0..<200).map { (UInt16(0), Self.syn(Self.client($0), 4000)) })
        for (c, o) in back.enumerated() { #expect(o.port == before[c]) }
    }

    @Test func drainingKeepsFlowsDownCutsThemAndNothingUpRefuses() {
        var h = StageHarness(Self.config(targets: 2))
        let out1 = h.run([(0, Self.syn(Self.client(1), 1)), (0, Self.syn(Self.client(2), 2))])
        #expect(out1.map(\.port) == [1, 2])
        h.dataplane.setTargetHealth(loadBalancer: 0, port: 2, .draining)
        let out2 = h.run([(0, Self.syn(Self.client(3), 3)), (0, Self.syn(Self.client(4), 4)),
                          (0, Self.syn(Self.client(2), 2, flags: TCPHeader.ack))])
        #expect(out2.map(\.port) == [1, 1, 2])   // new flows avoid the draining target; its flow goes on
        h.dataplane.setTargetHealth(loadBalancer: 0, port: 1, .down)
        let out3 = h.run([(0, Self.syn(Self.client(1), 1, flags: TCPHeader.ack)), (0, Self.syn(Self.client(5), 5))])
        #expect(out3[0].drop == .lbTargetDown)
        #expect(out3[1].drop == .lbNoHealthyTarget)
        #expect(h.dataplane.counters.drops(.lbNoHealthyTarget) == 1)
        let targets = h.dataplane.loadBalancerTargets
        #expect(targets.map(\.health) == [.down, .draining])
        #expect(targets[0].counters.flows == 3 && targets[1].counters.flows == 1)
    }
}
