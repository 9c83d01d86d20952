import Foundation
import NimbusDataplane
import NimbusReplay
import NimbusTestSupport
import NimbusTopology
import NimbusWire
import Testing

/// `nimbus replay --map`: captures made on a laptop replayed as if an instance had made them.
@Suite struct MapReplayTests {
    static let natPrivate = Repo.path("Topologies/nat-private.yaml")
    static let publicIP = Repo.path("Topologies/public-ip.yaml")
    /// A laptop's HTTP download (15 packets: 7 sent, 8 received; the received ones with zeroed IP checksums).
    static let httpDownload = Repo.corpus + "/pcpp__one_http_stream_fin.pcap"
    /// One laptop's three HTTP downloads from three servers (28 packets).
    static let threeStreams = Repo.corpus + "/pcpp__three_http_streams.pcap"
    static let laptop = IPv4Address("192.168.1.2")!
    static let server = IPv4Address("77.67.44.206")!
    static let app1 = IPv4Address("10.0.1.10")!
    static let app1MAC = MACAddress("02:00:0a:00:01:0a")!
    static let routerMAC = MACAddress("02:00:00:00:00:01")!
    static let upstreamMAC = MACAddress("02:00:00:00:ff:fe")!
    static let natPool: Set<IPv4Address> = [IPv4Address("203.0.113.1")!, IPv4Address("203.0.113.2")!]

    static func replay(_ topology: String, inputs: [(port: String, path: String)], maps: [HostMapping],
                       keepChecksums: Bool = false, into dir: String) throws -> ReplayReport {
        var options = ReplayOptions(inputs: inputs, outputDirectory: dir)
        options.maps = maps
        options.keepChecksums = keepChecksums
        return try Replay.run(config: TopologyLoader.load(path: topology).dataplaneConfig(), options: options,
                              traceOutput: { _ in })
    }

    /// The IPv4 datagram of an Ethernet frame (no VLAN tag), as the capture records it.
    static func datagram(_ frame: [UInt8]) -> [UInt8] {
        #expect(frame.u16(12) == EtherType.ipv4)
        let total = Int(frame.u16(16))
        return Array(frame[14..<(14 + total)])
    }

    /// The one's-complement sum, written here from RFC 1071 rather than taken from NimbusWire, so the
    /// checksums the rewrite produced are judged by a second implementation.
    static func sums(_ words: [UInt8], initial: UInt32 = 0) -> Bool {
        var s = initial
        var i = 0
        while i + 1 < words.count { s += UInt32(words[i]) << 8 | UInt32(words[i + 1]); i += 2 }
        if i < words.count { s += UInt32(words[i]) << 8 }
        while s > 0xFFFF { s = (s & 0xFFFF) + (s >> 16) }
        return s == 0xFFFF
    }

    /// True when the IPv4 header and TCP/UDP checksums of a datagram are right.
    static func checksumsValid(_ ip: [UInt8]) -> Bool {
        let hl = Int(ip[0] & 0x0F) * 4
        guard sums(Array(ip[0..<hl])) else { return false }
        let l4 = Array(ip[hl...])
        guard ip[9] == IPProtocol.tcp || ip[9] == IPProtocol.udp else { return true }
        if ip[9] == IPProtocol.udp && l4.u16(6) == 0 { return true }
        let pseudo = UInt32(ip.u16(12)) + UInt32(ip.u16(14)) + UInt32(ip.u16(16)) + UInt32(ip.u16(18))
            + UInt32(ip[9]) + UInt32(l4.count)
        return sums(l4, initial: pseudo)
    }

    @Test func aLaptopsHTTPDownloadGoesOutThroughTheNATGatewayAndBack() throws {
        let dir = makeTempDirectory()
        let report = try Self.replay(Self.natPrivate, inputs: [("internet", Self.httpDownload)],
                                     maps: [HostMapping(address: Self.laptop, instance: "app-1")], into: dir)
        let original = try readPcap(Self.httpDownload).map { Self.datagram($0.bytes) }
        let sent = original.filter { $0.ip(12) == Self.laptop }
        let received = original.filter { $0.ip(16) == Self.laptop }
        #expect(sent.count == 7 && received.count == 8)
        #expect(report.counters.packetsIn == 15)
        #expect(report.counters.packetsOut == 15)
        #expect(report.counters.packetsDropped == 0)
        #expect(report.counters.ports[1].inPackets == 7)   // app-1's port took the laptop's frames
        #expect(report.mappedHosts.map(\.fromHost) == [7] && report.mappedHosts.map(\.toHost) == [8])
        #expect(report.mappedChecksumsRecomputed == 8)      // the received frames' zeroed IP checksums

        // Out through the gateway: one public address and the laptop's own port (free, so kept).
        let out = try readPcap(dir + "/internet.pcap").map(\.bytes)
        #expect(out.count == 7)
        var publicAddress: IPv4Address?
        for (frame, before) in zip(out, sent) {
            #expect(frame.mac(0) == Self.upstreamMAC && frame.mac(6) == Self.routerMAC)
            let ip = Self.datagram(frame)
            publicAddress = publicAddress ?? ip.ip(12)
            #expect(Self.natPool.contains(ip.ip(12)) && ip.ip(12) == publicAddress)
            #expect(ip.ip(16) == Self.server)
            #expect(ip[8] == before[8] - 1)                                  // one routed hop
            #expect(ip.u16(20) == 49486 && ip.u16(22) == 80)                 // ports kept
            #expect(ip.u32(24) == before.u32(24) && ip.u32(28) == before.u32(28))   // seq, ack untouched
            #expect(ip[40...] == before[40...])                              // options and payload
            #expect(Self.checksumsValid(ip))
        }
        // Back through the gateway and the security groups to the instance.
        let back = try readPcap(dir + "/app-1.pcap").map(\.bytes)
        #expect(back.count == 8)
        for (frame, before) in zip(back, received) {
            #expect(frame.mac(0) == Self.app1MAC && frame.mac(6) == Self.routerMAC)
            let ip = Self.datagram(frame)
            #expect(ip.ip(12) == Self.server && ip.ip(16) == Self.app1)
            #expect(ip[8] == before[8] - 1)
            #expect(ip.u16(20) == 80 && ip.u16(22) == 49486)
            #expect(ip.u32(24) == before.u32(24) && ip[40...] == before[40...])
            #expect(Self.checksumsValid(ip))
        }
    }

    @Test(.enabled(if: tool("tshark") != nil, "tshark is not installed"))
    func tsharkFindsTheMappedFlowsChecksumsValid() throws {
        let tshark = try #require(tool("tshark"))
        let dir = makeTempDirectory()
        _ = try Self.replay(Self.natPrivate, inputs: [("internet", Self.httpDownload)],
                            maps: [HostMapping(address: Self.laptop, instance: "app-1")], into: dir)
        let prefs = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE"]
        for f in ["internet.pcap", "app-1.pcap"] {
            let good = try run(tshark, ["-n", "-r", dir + "/" + f] + prefs + [
                "-Y", "ip.checksum.status == \"Good\" && tcp.checksum.status == \"Good\"", "-T", "fields", "-e", "frame.number"])
            #expect(good.stdout.split(separator: "\n").count == (f == "app-1.pcap" ? 8 : 7), "\(f): \(good.stderr)")
        }
    }

    @Test func severalHostsAtOnceEachPlayedByItsInstance() throws {
        // Three downloads of one laptop, and the servers' side played by app-2: app-1's flows go out
        // through the gateway, and the "servers" receive them at app-2 only when addressed to it; here
        // every frame is from or to the laptop, so mapping the laptop alone carries all 28.
        let dir = makeTempDirectory()
        let laptop = IPv4Address("172.16.133.132")!
        let report = try Self.replay(Self.natPrivate, inputs: [("internet", Self.threeStreams)],
                                     maps: [HostMapping(address: laptop, instance: "app-1"),
                                            HostMapping(address: IPv4Address("198.51.100.99")!, instance: "app-2")],
                                     into: dir)
        #expect(report.counters.packetsIn == 28)
        #expect(report.counters.packetsDropped == 0)
        #expect(report.mappedHosts.map(\.fromHost) == [15, 0])
        #expect(report.mappedHosts.map(\.toHost) == [13, 0])
        let out = try readPcap(dir + "/internet.pcap").map { Self.datagram($0.bytes) }
        let back = try readPcap(dir + "/app-1.pcap").map { Self.datagram($0.bytes) }
        #expect(out.count == 15 && back.count == 13)
        #expect(out.allSatisfy { Self.natPool.contains($0.ip(12)) && Self.checksumsValid($0) })
        #expect(back.allSatisfy { $0.ip(16) == Self.app1 && Self.checksumsValid($0) })
        // Three flows, three mappings, each reply to the port its flow went out with.
        #expect(Set(out.map { $0.u16(20) }).count == 3)
        #expect(Set(back.map { $0.u16(22) }) == Set(out.map { $0.u16(20) }))
    }

    /// Frames of a made-up laptop (192.168.1.2) and a server, for the cases the corpus lacks.
    static let laptopMAC = MACAddress("aa:bb:cc:00:00:02")!
    static let homeRouterMAC = MACAddress("aa:bb:cc:00:00:01")!
    static let dns = IPv4Address("198.51.100.53")!

    @Test func offloadedChecksumsAreRecomputedUnlessKept() throws {
        // As a laptop's capture holds its outgoing UDP: the IP checksum never filled in, the UDP checksum
        // holding the pseudo-header sum only.
        var query = FrameBuilder.udpFrame(sourceMAC: Self.laptopMAC, destinationMAC: Self.homeRouterMAC, source: Self.laptop,
                                          destination: Self.dns, sourcePort: 5353, destinationPort: 53, payload: Array(0..<40))
        query[24] = 0; query[25] = 0
        query[40] = 0x12; query[41] = 0x34
        let answer = FrameBuilder.udpFrame(sourceMAC: Self.homeRouterMAC, destinationMAC: Self.laptopMAC, source: Self.dns,
                                           destination: Self.laptop, sourcePort: 53, destinationPort: 5353, payload: Array(0..<60))
        let dir = makeTempDirectory()
        let input = dir + "/laptop.pcap"
        try writePcap(input, [(1_000_000_000, query), (1_010_000_000, answer)])

        let fixed = try Self.replay(Self.natPrivate, inputs: [("internet", input)],
                                    maps: [HostMapping(address: Self.laptop, instance: "app-1")], into: dir + "/fixed")
        #expect(fixed.counters.packetsOut == 2 && fixed.counters.packetsDropped == 0)
        #expect(fixed.mappedChecksumsRecomputed == 1)
        let out = try readPcap(dir + "/fixed/internet.pcap").map { Self.datagram($0.bytes) }
        #expect(out.count == 1)
        #expect(out.allSatisfy { Self.checksumsValid($0) })
        #expect(out.first.map { Array($0[28...]) } == [UInt8](0..<40))
        let back = try readPcap(dir + "/fixed/app-1.pcap").map { Self.datagram($0.bytes) }
        #expect(back.count == 1 && back.allSatisfy { $0.ip(16) == Self.app1 && $0.u16(22) == 5353 && Self.checksumsValid($0) })

        let kept = try Self.replay(Self.natPrivate, inputs: [("internet", input)],
                                   maps: [HostMapping(address: Self.laptop, instance: "app-1")], keepChecksums: true,
                                   into: dir + "/kept")
        #expect(kept.counters.drops(.malformedIPv4) == 1)
        #expect(kept.mappedChecksumsRecomputed == 0)
    }

    @Test func pingsAndTheErrorsAboutThemFollowTheEchoIdentifier() throws {
        let dir = makeTempDirectory()
        let input = dir + "/ping.pcap"
        let request = FrameBuilder.echoFrame(sourceMAC: Self.laptopMAC, destinationMAC: Self.homeRouterMAC, source: Self.laptop,
                                             destination: Self.dns, identifier: 0x4242, sequence: 1)
        let reply = FrameBuilder.echoFrame(sourceMAC: Self.homeRouterMAC, destinationMAC: Self.laptopMAC, source: Self.dns,
                                           destination: Self.laptop, reply: true, identifier: 0x4242, sequence: 1)
        // A UDP probe and a router's port-unreachable about it, quoting the laptop's datagram.
        let probe = FrameBuilder.udpFrame(sourceMAC: Self.laptopMAC, destinationMAC: Self.homeRouterMAC, source: Self.laptop,
                                          destination: Self.dns, sourcePort: 33434, destinationPort: 33435, payload: [1, 2, 3, 4])
        let quoted = Array(probe[14...])
        let unreachable = FrameBuilder.ethernet(
            source: Self.homeRouterMAC, destination: Self.laptopMAC, etherType: EtherType.ipv4,
            payload: FrameBuilder.ipv4(source: Self.dns, destination: Self.laptop, protocol: IPProtocol.icmp,
                                       payload: FrameBuilder.icmp(type: ICMPHeader.destinationUnreachable, code: 3, payload: quoted)))
        try writePcap(input, [(1_000_000_000, request), (1_001_000_000, reply), (1_002_000_000, probe), (1_003_000_000, unreachable)])
        let report = try Self.replay(Self.natPrivate, inputs: [("internet", input)],
                                     maps: [HostMapping(address: Self.laptop, instance: "app-1")], into: dir + "/out")
        #expect(report.counters.packetsOut == 4 && report.counters.packetsDropped == 0)
        let out = try readPcap(dir + "/out/internet.pcap").map { Self.datagram($0.bytes) }
        let back = try readPcap(dir + "/out/app-1.pcap").map { Self.datagram($0.bytes) }
        #expect(out.count == 2 && back.count == 2)
        guard out.count == 2, back.count == 2 else { return }
        // The echo reply reaches app-1 with the identifier app-1 sent.
        #expect(back[0][20] == ICMPHeader.echoReply && back[0].u16(24) == 0x4242 && back[0].ip(16) == Self.app1)
        #expect(Self.sums(Array(back[0][20...])))
        // The error reaches app-1 quoting what app-1 sent: its own address and port.
        let error = back[1]
        #expect(error[20] == ICMPHeader.destinationUnreachable && error.ip(16) == Self.app1)
        #expect(Self.sums(Array(error[20...])))
        let inner = Array(error[28...])
        #expect(inner.ip(12) == Self.app1 && inner.ip(16) == Self.dns)
        #expect(inner.u16(20) == 33434 && inner.u16(22) == 33435)
        #expect(Self.checksumsValid(inner))
    }

    @Test func inAPublicIPNetworkTheRepliesGoToTheInstancesOwnAddress() throws {
        let config = try TopologyLoader.load(path: Self.publicIP).dataplaneConfig()
        let web1 = try #require(config.ports.first { $0.name == "web-1" })
        let dir = makeTempDirectory()
        let report = try Self.replay(Self.publicIP, inputs: [("internet", Self.httpDownload)],
                                     maps: [HostMapping(address: Self.laptop, instance: "web-1")], into: dir)
        #expect(report.counters.packetsIn == 15 && report.counters.packetsDropped == 0)
        let out = try readPcap(dir + "/internet.pcap").map { Self.datagram($0.bytes) }
        let back = try readPcap(dir + "/web-1.pcap").map { Self.datagram($0.bytes) }
        #expect(out.count == 7 && out.allSatisfy { $0.ip(12) == web1.ip && Self.checksumsValid($0) })
        #expect(back.count == 8 && back.allSatisfy { $0.ip(16) == web1.ip && Self.checksumsValid($0) })
    }

    @Test func badMapsAreOneLineErrorsWithStatusTwo() throws {
        let topo = Self.natPrivate
        let base = ["replay", topo, "--in", "internet=" + Self.httpDownload, "--out", makeTempDirectory()]
        let cases: [([String], String)] = [
            (["--map", "192.168.1.2"], "expected ADDR=INSTANCE"),
            (["--map", "=app-1"], "expected ADDR=INSTANCE"),
            (["--map", "laptop=app-1"], "is not an IPv4 address"),
            (["--map", "2001:db8::2=app-1"], "IPv6 hosts cannot be mapped yet"),
            (["--map", "192.168.1.2=nobody"], "no instance named 'nobody'"),
            (["--map", "192.168.1.2=internet"], "no instance named 'internet'"),
            (["--map", "192.168.1.2=app-1", "--map", "192.168.1.2=app-2"], "mapped twice"),
            (["--keep-checksums"], "--keep-checksums goes with --map"),
        ]
        for (args, message) in cases {
            let r = try run(Repo.nimbus, base + args)
            #expect(r.status == 2, "\(args)")
            let lines = r.stderr.split(separator: "\n").filter { !$0.isEmpty && !$0.hasPrefix("Usage") && !$0.hasPrefix("  See") }
            #expect(lines.count == 1 && lines.first?.contains(message) == true, "\(args): \(r.stderr)")
        }
    }

    /// Every corpus capture replays with its busiest IPv4 source mapped onto an instance, in a
    /// nat-private and a public-ip network: no crash, every packet accounted for, every mapped frame counted.
    @Test(.enabled(if: !CorpusTests.captures.isEmpty, "no corpus captures beside the repository"))
    func everyCorpusCaptureReplaysWithItsBusiestHostMapped() throws {
        var mappedFrames = 0
        for capture in CorpusTests.captures {
            let path = Repo.corpus + "/" + capture
            guard let records = try? readPcap(path) else { continue }   // corrupt: CorpusTests covers the refusal
            var sources: [IPv4Address: Int] = [:]
            for r in records where r.bytes.count >= 34 && r.bytes.u16(12) == EtherType.ipv4 && r.bytes[14] >> 4 == 4 {
                sources[r.bytes.ip(26), default: 0] += 1
            }
            let host = sources.max { ($0.value, $1.key.value) < ($1.value, $0.key.value) }?.key ?? IPv4Address("192.0.2.1")!
            for (topology, instance) in [(Self.natPrivate, "app-1"), (Self.publicIP, "web-1")] {
                let dir = makeTempDirectory("nimbus-map-corpus")
                defer { try? FileManager.default.removeItem(atPath: dir) }
                let report = try Self.replay(topology, inputs: [("internet", path)],
                                             maps: [HostMapping(address: host, instance: instance)], into: dir)
                let c = report.counters
                #expect(c.packetsIn == UInt64(records.count), "\(capture)")
                #expect(c.packetsIn <= c.packetsOut + c.packetsDropped, "\(capture)")
                #expect(c.drops.reduce(0, +) == c.packetsDropped)
                let counted = report.mappedHosts.map { $0.fromHost + $0.toHost }.reduce(0, +)
                #expect(counted <= records.count)
                mappedFrames += counted
            }
        }
        #expect(mappedFrames > 1000)
    }
}
