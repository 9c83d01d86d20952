import Foundation
import NimbusDataplane
import NimbusReplay
import NimbusTestSupport
import NimbusTopology
import NimbusWire
import Testing

/// `nimbus replay --workers N`: every flow meets its replies on one worker, so a replay through several
/// workers decides every packet as one worker does, and the outputs are deterministic for each count.
@Suite(.serialized) struct WorkerReplayTests {
    static let router = MACAddress("02:00:00:00:00:01")!
    static let upstream = MACAddress("02:00:00:00:ff:fe")!
    static let web1 = IPv4Address("203.0.113.10")!, web1MAC = MACAddress("02:00:cb:00:71:0a")!
    static let app1 = IPv4Address("203.0.113.70")!, app1MAC = MACAddress("02:00:cb:00:71:46")!

    /// Three-way handshakes (internet -> web-1:443, web-1 -> app-1:8080) and office pings, interleaved in
    /// time; every reply comes from the other port, so strict conntrack drops it unless its flow is found.
    static func captures() -> (internet: [(UInt64, [UInt8])], web1: [(UInt64, [UInt8])], app1: [(UInt64, [UInt8])]) {
        var internet: [(UInt64, [UInt8])] = [], web: [(UInt64, [UInt8])] = [], app: [(UInt64, [UInt8])] = []
        let ms: UInt64 = 1_000_000
        for k in 0..<300 {
            let t = UInt64(k) * ms
            let client = IPv4Address(value: 0xC633_6400 | UInt32(1 + k % 60))  // 198.51.100.1-60 (.66 is refused by the ACL)
            let cp = UInt16(20000 + k * 7)
            internet.append((t, FrameBuilder.tcpFrame(sourceMAC: upstream, destinationMAC: router, source: client, destination: web1,
                                                      sourcePort: cp, destinationPort: 443, flags: TCPHeader.syn, sequence: 100)))
            web.append((t + 100_000, FrameBuilder.tcpFrame(sourceMAC: web1MAC, destinationMAC: router, source: web1, destination: client,
                                                           sourcePort: 443, destinationPort: cp, flags: TCPHeader.syn | TCPHeader.ack,
                                                           sequence: 500, acknowledgment: 101)))
            internet.append((t + 200_000, FrameBuilder.tcpFrame(sourceMAC: upstream, destinationMAC: router, source: client, destination: web1,
                                                                sourcePort: cp, destinationPort: 443, flags: TCPHeader.ack,
                                                                sequence: 101, acknowledgment: 501)))
            let wp = UInt16(40000 + k)
            web.append((t + 300_000, FrameBuilder.tcpFrame(sourceMAC: web1MAC, destinationMAC: router, source: web1, destination: app1,
                                                           sourcePort: wp, destinationPort: 8080, flags: TCPHeader.syn)))
            app.append((t + 400_000, FrameBuilder.tcpFrame(sourceMAC: app1MAC, destinationMAC: router, source: app1, destination: web1,
                                                           sourcePort: 8080, destinationPort: wp, flags: TCPHeader.syn | TCPHeader.ack,
                                                           acknowledgment: 1)))
            let office = IPv4Address(value: 0xC000_0200 | UInt32(1 + k % 50))  // 192.0.2.x
            internet.append((t + 500_000, FrameBuilder.echoFrame(sourceMAC: upstream, destinationMAC: router, source: office,
                                                                 destination: web1, identifier: UInt16(k), sequence: 1)))
            web.append((t + 600_000, FrameBuilder.echoFrame(sourceMAC: web1MAC, destinationMAC: router, source: web1,
                                                            destination: office, reply: true, identifier: UInt16(k), sequence: 1)))
        }
        return (internet, web, app)
    }

    static func replay(workers: Int, inputs dir: String, into out: String) throws -> ReplayReport {
        let t = try TopologyLoader.load(path: Repo.path("Topologies/security-groups.yaml"))
        var options = ReplayOptions(inputs: [("internet", dir + "/internet.pcap"), ("web-1", dir + "/web-1.pcap"),
                                             ("app-1", dir + "/app-1.pcap")], outputDirectory: out)
        options.workers = workers
        options.flowLogPath = out + "/flows.jsonl"
        return try Replay.run(config: t.dataplaneConfig(), options: options, traceOutput: { _ in })
    }

    static func files(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for f in try FileManager.default.contentsOfDirectory(atPath: dir) where f != "report.json" {
            out[f] = FileManager.default.contents(atPath: dir + "/" + f)
        }
        out["report.json"] = Data(try GoldenReplayTests.stableReport(dir + "/report.json").split(separator: "\n")
            .filter { !$0.contains("\"workers\"") }.joined(separator: "\n").utf8)
        return out
    }

    @Test func fourWorkersDecideEveryPacketAsOneDoes() throws {
        let c = Self.captures()
        let dir = makeTempDirectory()
        try writePcap(dir + "/internet.pcap", c.internet)
        try writePcap(dir + "/web-1.pcap", c.web1)
        try writePcap(dir + "/app-1.pcap", c.app1)
        let one = try Self.replay(workers: 1, inputs: dir, into: dir + "/one")
        let four = try Self.replay(workers: 4, inputs: dir, into: dir + "/four")
        _ = try Self.replay(workers: 4, inputs: dir, into: dir + "/again")
        #expect(one.counters.packetsIn == 2100)
        #expect(one.counters.packetsDropped == 0, "every reply found its flow")
        #expect(four.counters.packetsDropped == 0)
        #expect(four.flowsCreated == 900 && four.workers == 4)
        // Identical outputs: the same packets, in the same order, the same flow log and report.
        let a = try Self.files(dir + "/one"), b = try Self.files(dir + "/four"), b2 = try Self.files(dir + "/again")
        #expect(a.keys.sorted() == b.keys.sorted())
        for (name, data) in a { #expect(b[name] == data, "\(name) differs between 1 and 4 workers") }
        #expect(b == b2, "4 workers twice")
    }

    @Test(arguments: Example.all.map(\.name))
    func examplesReplayTheSameThroughThreeWorkers(_ name: String) throws {
        let example = try #require(Example.all.first { $0.name == name })
        let t = try TopologyLoader.load(path: example.topology)
        let dir = makeTempDirectory()
        var reports: [String: Data] = [:]
        for (tag, workers) in [("one", 1), ("three", 3), ("again", 3)] {
            var options = ReplayOptions(inputs: example.inputs.map { ($0.port, example.capture($0.port)) }, outputDirectory: dir + "/" + tag)
            options.events = t.dataplaneEvents()
            options.workers = workers
            _ = try Replay.run(config: t.dataplaneConfig(), options: options, traceOutput: { _ in })
            reports[tag] = try Self.files(dir + "/" + tag)["report.json"]
        }
        #expect(try Self.files(dir + "/three") == Self.files(dir + "/again"), "deterministic")
        // Round-robin turns are counted per worker, so a round-robin listener may pick other targets. A
        // NAT keeps the instance's port with any number of workers, but where it must choose one (the port
        // is taken) each worker chooses among its own. Everything else comes out the same.
        let config = t.dataplaneConfig()
        if config.loadBalancers.contains(where: { $0.listeners.contains { !$0.sourceHash } }) {
            #expect(reports["one"] != nil && reports["three"] != nil)
        } else if !config.natGateways.isEmpty {
            #expect(reports["one"] == reports["three"], "same counters, drops, flows and mappings")
            for f in try FileManager.default.contentsOfDirectory(atPath: dir + "/one") where f.hasSuffix(".pcap") {
                #expect(try readPcap(dir + "/one/" + f).count == readPcap(dir + "/three/" + f).count, "\(f)")
            }
        } else {
            #expect(try Self.files(dir + "/one") == Self.files(dir + "/three"), "\(name): 1 and 3 workers differ")
        }
    }

    @Test func tooFewNATPortsForTheWorkersIsAnError() throws {
        let dir = makeTempDirectory()
        let yaml = try String(contentsOfFile: Repo.path("Topologies/nat-private.yaml"), encoding: .utf8)
        let small = yaml.replacingOccurrences(of: "ports: 1024-65535", with: "ports: 2000-2002")
        #expect(small != yaml)
        try small.write(toFile: dir + "/small.yaml", atomically: true, encoding: .utf8)
        try writePcap(dir + "/in.pcap", [])
        let r = try run(Repo.nimbus, ["replay", dir + "/small.yaml", "--in", "internet=" + dir + "/in.pcap", "--out", dir + "/o",
                                      "--workers", "4", "--no-progress"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("--workers 4") && r.stderr.contains("3 ports"), "\(r.stderr)")
        let bad = try run(Repo.nimbus, ["replay", dir + "/small.yaml", "--in", "internet=" + dir + "/in.pcap", "--out", dir + "/o",
                                        "--workers", "0"])
        #expect(bad.status == 2 && bad.stderr.contains("--workers 0"))
    }
}
