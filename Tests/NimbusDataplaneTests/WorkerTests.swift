import NimbusDataplane
import NimbusVPN
import NimbusWire
import Testing

/// Share-nothing workers: the dispatcher sends both directions of every flow to one worker, and NAT
/// replies to the worker whose share of the ports made the mapping.
@Suite struct WorkerTests {
    typealias F = Fixture
    static let natIP = NATTests.natIP
    static let vip = IPv4Address("203.0.113.80")!

    /// Runs frames through a worker group: each is dispatched, the batches processed, and what came out
    /// is returned in arrival order with the worker that handled it.
    final class GroupHarness {
        let group: WorkerGroup
        var now: UInt64 = 0
        init(_ config: DataplaneConfig, workers: Int, threaded: Bool = false) {
            group = WorkerGroup(config: config, seed: 1, workers: workers, threaded: threaded)
        }

        func run(_ frames: [(UInt16, [UInt8])]) -> [(worker: Int, out: StageHarness.Out)] {
            var placed: [(Int, Int)] = []
            for (port, f) in frames {
                now += 1000
                let w = f.withUnsafeBytes { group.dispatch(frame: $0) }
                let i = f.withUnsafeBytes { group.workers[w].batch.append($0, timestamp: now, port: port) }!
                placed.append((w, i))
            }
            group.process()
            let out = placed.map { w, i in
                let b = group.workers[w]
                let m = b.batch.meta[i]
                return (w, StageHarness.Out(verdict: m.verdict, port: m.outPort, drop: m.drop, bytes: b.batch.bytes(i).array, child: nil))
            }
            group.resetBatches()
            return out
        }
    }

    static func lbConfig() -> DataplaneConfig {
        var c = NATTests.config()
        c.loadBalancers = [LoadBalancerConfig(name: "web", vip: vip, listeners: [
            .init(protocolNumber: IPProtocol.tcp, port: 80, targetPort: 8080, targets: [.init(port: 1), .init(port: 2)]),
        ])]
        c.extraPublicAddresses.append(vip)
        return c
    }

    // MARK: Port shares

    @Test(arguments: [1, 2, 3, 4, 7])
    func workersSharePortRangesOnceEachAndNameTheirOwner(_ n: Int) {
        var seen = [Int](repeating: 0, count: 65536)
        for k in 0..<n {
            let s = WorkerShare(index: k, count: n).ports(lo: 1024, size: 64512)
            #expect(s.ports >= 64512 / n)
            for j in 0..<s.ports {
                let p = s.first + j * s.stride
                seen[p] += 1
                #expect(WorkerShare.owner(of: p, lo: 1024, size: 64512, count: n) == k)
            }
        }
        #expect(seen[1024...].allSatisfy { $0 == 1 })
        #expect(seen[..<1024].allSatisfy { $0 == 0 })
    }

    // MARK: Dispatch

    @Test func bothDirectionsOfUntranslatedFlowsMeetOnOneWorker() {
        var d = FlowDispatcher(config: NATTests.config(), workers: 4)
        var rng = SplitMix64(seed: 7)
        var used = Set<Int>()
        for _ in 0..<2000 {
            let remote = IPv4Address(value: 0xC633_6400 | UInt32(rng.next() & 0xFF))
            let sp = UInt16(truncatingIfNeeded: rng.next()), dp = UInt16(truncatingIfNeeded: rng.next())
            let tcp = rng.next() & 1 == 0
            func frame(_ s: IPv4Address, _ dd: IPv4Address, _ a: UInt16, _ b: UInt16) -> [UInt8] {
                tcp ? FrameBuilder.tcpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: s, destination: dd,
                                            sourcePort: a, destinationPort: b, flags: TCPHeader.syn)
                    : FrameBuilder.udpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: s, destination: dd,
                                            sourcePort: a, destinationPort: b)
            }
            // Internet <-> a public instance, and public instance <-> private instance.
            let w1 = frame(remote, F.web1, sp, dp).withUnsafeBytes { d.worker(frame: $0) }
            let w2 = frame(F.web1, remote, dp, sp).withUnsafeBytes { d.worker(frame: $0) }
            #expect(w1 == w2)
            let w3 = frame(F.web2, F.db1, sp, dp).withUnsafeBytes { d.worker(frame: $0) }
            let w4 = frame(F.db1, F.web2, dp, sp).withUnsafeBytes { d.worker(frame: $0) }
            #expect(w3 == w4)
            used.insert(w1)
        }
        #expect(used.count == 4, "flows spread over every worker")
    }

    @Test func anEndpointsNATedFlowsShareAWorkerAndRepliesFindIt() {
        let n = 4
        let h = GroupHarness(NATTests.config(), workers: n)
        var frames: [(UInt16, [UInt8])] = []
        let remotes = [F.client, IPv4Address("198.51.100.21")!, IPv4Address("192.0.2.9")!]
        for sp in UInt16(5000)..<5200 { for r in remotes { frames.append((4, NATTests.out(sp, to: r, 53))) } }
        let out = h.run(frames)
        var workerOfEndpoint: [UInt16: Int] = [:]
        var mapped: [UInt16: UInt16] = [:]
        var replies: [(UInt16, [UInt8])] = []
        for (k, o) in out.enumerated() {
            #expect(o.out.verdict == .forward && o.out.port == 0)
            let sp = frames[k].1.u16(34)
            // One worker per internal endpoint, hence one mapping for every destination (RFC 4787 REQ-1).
            if let w = workerOfEndpoint[sp] { #expect(w == o.worker) } else { workerOfEndpoint[sp] = o.worker }
            let ext = o.out.bytes.u16(34)
            if let m = mapped[sp] { #expect(m == ext) } else { mapped[sp] = ext }
            #expect(ext == sp, "the instance's port is kept, as with one worker")
            #expect(WorkerShare.owner(of: Int(ext), lo: 1024, size: 64512, count: n) == o.worker, "port \(ext) not worker \(o.worker)'s")
            replies.append((0, NATTests.back(ext, from: o.out.bytes.ip(30), 53)))
        }
        #expect(Set(workerOfEndpoint.values).count == n)
        let back = h.run(replies)
        for (k, b) in back.enumerated() {
            #expect(b.worker == out[k].worker)
            #expect(b.out.verdict == .forward && b.out.port == 4)
            #expect(b.out.bytes.ip(30) == F.app && b.out.bytes.u16(36) == frames[k].1.u16(34))
            #expect(b.out.bytes.ipv4ChecksumValid() && b.out.bytes.l4ChecksumValid())
        }
        #expect(h.group.natStatistics.created == 200)
        #expect(h.group.counters.packetsDropped == 0)
    }

    @Test func icmpEchoThroughTheGatewayComesBackToItsWorker() {
        let h = GroupHarness(NATTests.config(), workers: 3)
        var pings: [(UInt16, [UInt8])] = []
        for id in UInt16(1)...60 {
            pings.append((4, FrameBuilder.echoFrame(sourceMAC: F.appMAC, destinationMAC: F.routerMAC, source: F.app,
                                                    destination: F.client, identifier: id, sequence: 1)))
        }
        let out = h.run(pings)
        let back = h.run(out.map { o in
            (0, FrameBuilder.echoFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                       destination: Self.natIP, reply: true, identifier: o.out.bytes.u16(38), sequence: 1))
        })
        for (k, b) in back.enumerated() {
            #expect(b.worker == out[k].worker)
            #expect(b.out.verdict == .forward && b.out.port == 4 && b.out.bytes.u16(38) == UInt16(k + 1))
        }
    }

    @Test func anICMPErrorGoesWhereTheFlowItQuotesLives() {
        let h = GroupHarness(NATTests.config(), workers: 4)
        let out = h.run((UInt16(7000)..<7040).map { (4, NATTests.out($0, to: F.client, 53)) })
        for o in out {
            // A router past the gateway reports the translated datagram as unreachable.
            let quoted = Array(o.out.bytes[14..<(14 + 28)])
            let icmp = FrameBuilder.icmp(type: 3, code: 1, payload: quoted)
            let ip = FrameBuilder.ipv4(source: IPv4Address("192.0.2.1")!, destination: Self.natIP, protocol: IPProtocol.icmp, payload: icmp)
            let frame = FrameBuilder.ethernet(source: F.upstreamMAC, destination: F.routerMAC, etherType: EtherType.ipv4, payload: ip)
            let b = h.run([(0, frame)])[0]
            #expect(b.worker == o.worker)
            #expect(b.out.verdict == .forward && b.out.port == 4, "\(b.out.drop)")
        }
    }

    @Test func loadBalancedFlowsMeetTheirRepliesAndTargetsSeeTheClient() {
        let h = GroupHarness(Self.lbConfig(), workers: 4)
        var syns: [(UInt16, [UInt8])] = []
        for cp in UInt16(30000)..<30100 {
            syns.append((0, FrameBuilder.tcpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                                  destination: Self.vip, sourcePort: cp, destinationPort: 80, flags: TCPHeader.syn)))
        }
        let out = h.run(syns)
        var replies: [(UInt16, [UInt8])] = []
        for o in out {
            #expect(o.out.verdict == .forward && (o.out.port == 1 || o.out.port == 2), "\(o.out.drop)")
            #expect(o.out.bytes.ip(26) == F.client && o.out.bytes.u16(36) == 8080)
            let target = o.out.bytes.ip(30)
            replies.append((o.out.port, FrameBuilder.tcpFrame(
                sourceMAC: o.out.port == 1 ? F.web1MAC : F.web2MAC, destinationMAC: F.routerMAC, source: target,
                destination: F.client, sourcePort: 8080, destinationPort: o.out.bytes.u16(34),
                flags: TCPHeader.syn | TCPHeader.ack, acknowledgment: 1)))
        }
        let back = h.run(replies)
        for (k, b) in back.enumerated() {
            #expect(b.worker == out[k].worker)
            #expect(b.out.verdict == .forward && b.out.port == 0, "\(b.out.drop)")
            #expect(b.out.bytes.ip(26) == Self.vip && b.out.bytes.u16(34) == 80)
        }
        #expect(Set(out.map(\.worker)).count == 4)
    }

    @Test func laterFragmentsFollowTheirFirst() {
        var d = FlowDispatcher(config: NATTests.config(), workers: 4)
        var seen = Set<Int>()
        for id in UInt16(1)...200 {
            var first = FrameBuilder.udpFrame(sourceMAC: F.appMAC, destinationMAC: F.routerMAC, source: F.app,
                                              destination: F.client, sourcePort: 6000 &+ id, destinationPort: 53,
                                              identification: id, payload: Array(repeating: 1, count: 64))
            first[20] = 0x20  // more fragments, offset 0
            var later = first
            later[20] = 0x00
            later[21] = 9  // offset 72 bytes; no ports in it
            later[34] = 0xFF
            let wf = first.withUnsafeBytes { d.worker(frame: $0) }
            let wl = later.withUnsafeBytes { d.worker(frame: $0) }
            #expect(wf == wl)
            seen.insert(wf)
        }
        #expect(seen.count == 4)
    }

    @Test func tunnelTrafficStaysOnWorkerZero() throws {
        var c = NATTests.config()
        let key = try #require(WireGuardKey(base64: "uAZnK6NNhFIsYUnNLGuuBYOuyJFm21Q3lXZOqpxqh1g="))
        let peer = try #require(WireGuardKey(base64: "v+ux4souNcSj9Whc6YzATVbXzWwPFPsniC8OytteZUU="))
        let listen = WireGuardEndpoint(address: IPv4Address("203.0.113.3")!, port: 51820)
        c.vpnTunnels = [VPNTunnelConfig(name: "office", network: 1, listen: listen, privateKey: key,
                                        peers: [WireGuardPeerConfig(publicKey: peer, allowedIPs: [IPv4CIDR("172.16.0.0/16")!])])]
        var d = FlowDispatcher(config: c, workers: 4)
        for p in UInt16(1)...100 {
            let inner = NATTests.out(p, to: IPv4Address("172.16.0.9")!, 22)
            let outer = FrameBuilder.udpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                              destination: listen.address, sourcePort: p, destinationPort: 51820)
            #expect(inner.withUnsafeBytes { d.worker(frame: $0) } == 0)
            #expect(outer.withUnsafeBytes { d.worker(frame: $0) } == 0)
        }
    }

    @Test func threadedAndSequentialGroupsAgree() {
        var frames: [(UInt16, [UInt8])] = []
        for sp in UInt16(9000)..<9200 { frames.append((4, NATTests.out(sp, to: F.client, 443))) }
        for cp in UInt16(40000)..<40050 {
            frames.append((0, FrameBuilder.tcpFrame(sourceMAC: F.upstreamMAC, destinationMAC: F.routerMAC, source: F.client,
                                                    destination: F.web1, sourcePort: cp, destinationPort: 22, flags: TCPHeader.syn)))
        }
        let a = GroupHarness(NATTests.config(), workers: 3, threaded: false).run(frames)
        let b = GroupHarness(NATTests.config(), workers: 3, threaded: true).run(frames)
        #expect(a.map(\.worker) == b.map(\.worker))
        #expect(a.map(\.out.bytes) == b.map(\.out.bytes))
        #expect(a.map(\.out.verdict) == b.map(\.out.verdict))
    }
}
