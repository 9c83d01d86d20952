import Foundation
import NimbusDataplane
import NimbusPcap
import NimbusReplay
import NimbusTestSupport
import NimbusTopology
import NimbusWire
import Testing

/// An example topology with the captures its scenario generates.
struct Example: Sendable {
    var name: String
    var inputs: [(port: String, frames: [(UInt64, [UInt8])])]

    var topology: String { Repo.path("Topologies/\(name).yaml") }
    func capture(_ port: String) -> String { Repo.path("Topologies/\(name).\(port).pcap") }

    static let all = [
        Example(name: "public-ip", inputs: [("internet", PublicIPScenario.internet), ("web-1", PublicIPScenario.web1Port)]),
        Example(name: "security-groups", inputs: [("internet", SecurityGroupsScenario.internet),
                                                  ("web-1", SecurityGroupsScenario.web1Port),
                                                  ("app-1", SecurityGroupsScenario.app1Port)]),
        Example(name: "nat-private", inputs: [("internet", NATScenario.internet), ("app-1", NATScenario.app1Port),
                                              ("app-2", NATScenario.app2Port), ("web-1", NATScenario.web1Port)]),
        Example(name: "load-balancer", inputs: [("internet", LoadBalancerScenario.internet),
                                                ("web-1", LoadBalancerScenario.web1Port),
                                                ("web-3", LoadBalancerScenario.web3Port),
                                                ("app-1", LoadBalancerScenario.app1Port)]),
    ]

    /// Replays the example's committed captures into `dir`.
    func replay(into dir: String, trace: Int = 0, flowLog: String? = nil,
                traceSink: @escaping (String) -> Void = { _ in }) throws -> ReplayReport {
        let t = try TopologyLoader.load(path: topology)
        var options = ReplayOptions(inputs: inputs.map { ($0.port, capture($0.port)) }, outputDirectory: dir)
        options.traceCount = trace
        options.flowLogPath = flowLog
        options.events = t.dataplaneEvents()
        return try Replay.run(config: t.dataplaneConfig(), options: options, traceOutput: traceSink)
    }
}

/// Every example's replay, byte for byte against reviewed golden files (with its flow log).
@Suite(.serialized) struct GoldenFilesTests {
    @Test(arguments: Example.all.map(\.name))
    func outputsMatchTheReviewedGoldenFiles(_ name: String) throws {
        let example = try #require(Example.all.first { $0.name == name })
        let dir = makeTempDirectory()
        _ = try example.replay(into: dir, flowLog: dir + "/flows.jsonl")
        let golden = Repo.golden + "/" + name
        let produced = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0 != "report.json" }.sorted()
        if Repo.updateGolden {
            try? FileManager.default.removeItem(atPath: golden)
            try FileManager.default.createDirectory(atPath: golden, withIntermediateDirectories: true)
            for f in produced { try FileManager.default.copyItem(atPath: dir + "/" + f, toPath: golden + "/" + f) }
            try (GoldenReplayTests.stableReport(dir + "/report.json") + "\n").write(toFile: golden + "/report.json", atomically: true, encoding: .utf8)
        }
        let expected = try FileManager.default.contentsOfDirectory(atPath: golden).filter { $0 != "report.json" }.sorted()
        #expect(produced == expected)
        for f in expected {
            let got = FileManager.default.contents(atPath: dir + "/" + f)
            let want = FileManager.default.contents(atPath: golden + "/" + f)
            #expect(got != nil && got == want, "\(name)/\(f) differs from the golden file")
        }
        #expect(try GoldenReplayTests.stableReport(dir + "/report.json") + "\n" == String(contentsOfFile: golden + "/report.json", encoding: .utf8))
    }
}

/// tshark, with checksum validation on, finds every packet of every example's outputs well formed.
@Suite(.serialized, .enabled(if: tool("tshark") != nil, "tshark is not installed"))
struct ExampleChecksumTests {
    @Test(arguments: Example.all.map(\.name))
    func everyOutputPacketIsValidForTshark(_ name: String) throws {
        let tshark = try #require(tool("tshark"))
        let example = try #require(Example.all.first { $0.name == name })
        let dir = makeTempDirectory()
        _ = try example.replay(into: dir)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".pcap") }
        #expect(!files.isEmpty)
        for f in files {
            let prefs = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]
            let bad = try run(tshark, ["-n", "-r", dir + "/" + f] + prefs + [
                "-Y", "ip.checksum.status == \"Bad\" || tcp.checksum.status == \"Bad\" || udp.checksum.status == \"Bad\" || icmp.checksum.status == \"Bad\" || _ws.malformed || _ws.expert.severity >= error",
                "-T", "fields", "-e", "frame.number"])
            #expect(bad.status == 0, "\(name)/\(f): \(bad.stderr)")
            #expect(bad.stdout.isEmpty, "\(name)/\(f): frames with bad checksums or malformed: \(bad.stdout)")
        }
    }
}

/// Replays `Topologies/public-ip.yaml` with its example captures and checks the result field by field,
/// for determinism, and with independent tools.
@Suite(.serialized) struct GoldenReplayTests {
    typealias S = PublicIPScenario

    static func replay(into dir: String, trace: Int = 0, traceSink: @escaping (String) -> Void = { _ in }) throws -> ReplayReport {
        try Example.all[0].replay(into: dir, trace: trace, traceSink: traceSink)
    }

    /// report.json without its timing figures, which vary run to run.
    static func stableReport(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            .filter { !$0.contains("\"seconds\"") && !$0.contains("\"mpps\"") }.joined(separator: "\n")
    }

    static let outputs = ["internet.pcap", "web-1.pcap", "web-2.pcap", "db-1.pcap", "drops.pcapng"]

    @Test func packetsAreRightFieldByField() throws {
        let dir = makeTempDirectory()
        let report = try Self.replay(into: dir)
        let web1 = try readPcap(dir + "/web-1.pcap")
        let web2 = try readPcap(dir + "/web-2.pcap")
        let db1 = try readPcap(dir + "/db-1.pcap")
        let internet = try readPcap(dir + "/internet.pcap")

        // web-1 receives, in capture-time order: ARP reply for its gateway, the SYN, the echo reply from
        // its gateway, the data segment.
        #expect(web1.count == 5)
        let arp = web1[0].bytes
        #expect(arp.count == 42 && arp.u16(12) == EtherType.arp && arp.u16(20) == ARPPacket.reply)
        #expect(arp.mac(0) == S.web1MAC && arp.mac(22) == S.routerMAC && arp.ip(28) == S.webGateway)
        let syn = web1[1].bytes
        #expect(syn.mac(0) == S.web1MAC && syn.mac(6) == S.routerMAC)
        #expect(syn[22] == 63 && syn.ip(26) == S.client && syn.ip(30) == S.web1)
        #expect(syn.u16(34) == 40000 && syn.u16(36) == 80 && syn[47] == TCPHeader.syn)
        #expect(web1[1].timestamp == S.t0 + 100_000_000)
        #expect(web1[3].bytes[22] == 63 && web1[3].bytes.u16(36) == 80)
        let echo = web1[2].bytes
        #expect(echo.ip(26) == S.webGateway && echo.ip(30) == S.web1 && echo[34] == ICMPHeader.echoReply)

        // web-2: the same-subnet datagram keeps TTL 64; the VLAN-tagged SYN arrives untagged with TTL 63.
        #expect(web2.count == 2)
        #expect(web2[1].bytes.u16(12) == EtherType.ipv4)
        #expect(web2[1].bytes[22] == 63 && web2[1].bytes.u16(36) == 443)
        #expect(web2[1].bytes.count == PublicIPScenario.internet[8].1.count - 4)
        #expect(web2[0].bytes[22] == 64 && web2[0].bytes.ip(26) == S.web1)
        #expect(web2[0].bytes.mac(0) == S.web2MAC)

        // db-1: the client's ping (TTL 63) and web-1's SYN from the other subnet (TTL 63).
        #expect(db1.count == 2)
        #expect(db1.allSatisfy { $0.bytes[22] == 63 && $0.bytes.mac(0) == S.db1MAC })

        // The DNS answer comes in on the flow web-1's query opened, though no ingress rule admits UDP 53.
        #expect(web1[4].bytes.ip(26) == S.client && web1[4].bytes.u16(34) == 53 && web1[4].bytes.u16(36) == 5300)

        // internet: ARP reply, SYN-ACK, time exceeded, echo reply from db's gateway, web-1's DNS query.
        #expect(internet.count == 5)
        #expect(internet[4].bytes.ip(26) == S.web1 && internet[4].bytes.u16(36) == 53 && internet[4].bytes[22] == 63)
        #expect(internet.allSatisfy { $0.bytes.mac(0) == S.upstreamMAC && $0.bytes.mac(6) == S.routerMAC })
        #expect(internet[0].bytes.u16(12) == EtherType.arp && internet[0].bytes.ip(28) == S.web1)
        let synAck = internet[1].bytes
        #expect(synAck[22] == 63 && synAck.ip(26) == S.web1 && synAck.ip(30) == S.client)
        let te = internet[2].bytes
        #expect(te[34] == ICMPHeader.timeExceeded && te.ip(26) == S.webGateway && te.ip(30) == S.client)
        #expect(te[42 + 8] == 1 && te.ip(42 + 16) == S.web2)
        let gwEcho = internet[3].bytes
        #expect(gwEcho.ip(26) == S.dbGateway && gwEcho[34] == ICMPHeader.echoReply && gwEcho.u16(38) == 78)

        let c = report.counters
        #expect(c.packetsIn == 25)
        #expect(c.packetsOut == 14)
        #expect(c.packetsDropped == 12)   // 25 in: 13 forwarded or answered, 12 dropped; +1 generated
        #expect(c.drops(.sgIngressDenied) == 1)
        #expect(c.drops(.ctInvalid) == 1)
        // Flows: the client's HTTP connection, its ping to db-1, VLAN HTTPS to web-2, web-1 to web-2 (UDP),
        // web-1 to db-1, web-1's DNS query.
        #expect(report.flowsCreated == 6)
        #expect(report.flowsPeak == 6)
        #expect(c.drops(.spoofedSource) == 4)
        #expect(c.drops(.ttlExceeded) == 1)
        #expect(c.drops(.noRoute) == 1)
        #expect(c.drops(.forRouter) == 1)
        #expect(c.drops(.malformedIPv4) == 1)
        #expect(c.drops(.arpUnanswered) == 1)
        #expect(c.drops(.notUnicast) == 1)

        // drops.pcapng: one packet per drop, with the reason as its comment.
        let drops = try readPcap(dir + "/drops.pcapng")
        #expect(drops.count == 12)
    }

    @Test func replayIsDeterministic() throws {
        let a = makeTempDirectory(), b = makeTempDirectory()
        _ = try Self.replay(into: a)
        _ = try Self.replay(into: b)
        for f in Self.outputs {
            #expect(FileManager.default.contents(atPath: a + "/" + f) == FileManager.default.contents(atPath: b + "/" + f))
        }
        #expect(try Self.stableReport(a + "/report.json") == Self.stableReport(b + "/report.json"))
    }

    @Test func traceExplainsEachPacket() throws {
        var lines: [String] = []
        _ = try Self.replay(into: makeTempDirectory(), trace: 3) { lines.append($0) }
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("packet 1 at 1700000000.000000000s in internet"))
        #expect(lines[0].contains("ARP request who-has 203.0.113.10 tell 198.51.100.1"))
        #expect(lines[0].contains("arp         reply: 203.0.113.10 is-at router MAC"))
        #expect(lines[1].hasPrefix("packet 2 at 1700000000.050000000s in web-1"))
        #expect(lines[2].contains("router      route /32 -> web-1"))
        #expect(lines[2].contains("egress      out web-1, ttl -> 63"))
    }

    @Test(.enabled(if: tool("tshark") != nil, "tshark is not installed"))
    func tsharkFindsEveryChecksumValid() throws {
        let tshark = try #require(tool("tshark"))
        let dir = makeTempDirectory()
        _ = try Self.replay(into: dir)
        for f in ["internet.pcap", "web-1.pcap", "web-2.pcap", "db-1.pcap"] {
            let prefs = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]
            let all = try run(tshark, ["-n", "-r", dir + "/" + f] + prefs + ["-T", "fields", "-e", "frame.number"])
            #expect(all.status == 0, "\(all.stderr)")
            let count = all.stdout.split(separator: "\n").count
            #expect(count > 0)
            let bad = try run(tshark, ["-n", "-r", dir + "/" + f] + prefs + [
                "-Y", "ip.checksum.status == \"Bad\" || tcp.checksum.status == \"Bad\" || udp.checksum.status == \"Bad\" || icmp.checksum.status == \"Bad\" || _ws.malformed || _ws.expert.severity >= error",
                "-T", "fields", "-e", "frame.number"])
            #expect(bad.status == 0, "\(bad.stderr)")
            #expect(bad.stdout.isEmpty, "\(f): frames with bad checksums or malformed: \(bad.stdout)")
        }
        // tshark shows each drop's reason as its packet comment, and the port it came in on.
        let comments = try run(tshark, ["-n", "-r", dir + "/drops.pcapng", "-T", "fields", "-e", "frame.interface_name", "-e", "frame.comment"])
        let rows = comments.stdout.split(separator: "\n").map(String.init)
        #expect(rows.count == 12)
        #expect(rows.contains("internet\tsg-ingress-denied"))
        #expect(rows.contains("internet\tct-invalid"))
        #expect(rows.contains("internet\tspoofed-source"))
        #expect(rows.contains("web-1\tspoofed-source"))
        #expect(rows.contains("internet\tttl-exceeded"))
        #expect(rows.contains("web-1\tnot-unicast"))
    }

    @Test(.enabled(if: tool("tcpdump") != nil, "tcpdump is not installed"))
    func tcpdumpReadsEveryOutput() throws {
        let tcpdump = try #require(tool("tcpdump"))
        let dir = makeTempDirectory()
        _ = try Self.replay(into: dir)
        for f in Self.outputs {
            let r = try run(tcpdump, ["-n", "-r", dir + "/" + f])
            #expect(r.status == 0, "\(f): \(r.stderr)")
            #expect(!r.stdout.isEmpty)
        }
        let web2 = try run(tcpdump, ["-n", "-v", "-r", dir + "/web-2.pcap"])
        #expect(web2.stdout.contains("198.51.100.20.40002 > 203.0.113.11.443"))
    }
}
