import Foundation
import NimbusPcap
import NimbusReplay
import NimbusTestSupport
import NimbusTopology
import NimbusWire
import Testing

/// Captures of every link type Nimbus reads enter a port as Ethernet frames and are routed alike.
@Suite struct LinkTypeTests {
    typealias S = PublicIPScenario

    /// The IP packet of the scenario's SYN to web-1, and how each link type wraps it.
    static let ip = Array(S.internet[1].1[14...])

    static func replayOne(linkType: UInt32, record: [UInt8]) throws -> (ReplayReport, [(timestamp: UInt64, bytes: [UInt8])]) {
        let dir = makeTempDirectory()
        try writePcap(dir + "/in.pcap", [(S.t0, record)], linkType: linkType)
        let topology = try TopologyLoader.load(path: Repo.path("Topologies/public-ip.yaml"))
        let report = try Replay.run(config: topology.dataplaneConfig(),
                                    options: ReplayOptions(inputs: [("internet", dir + "/in.pcap")], outputDirectory: dir + "/out"))
        let out = (try? readPcap(dir + "/out/web-1.pcap")) ?? []
        return (report, out)
    }

    static func expectRoutedSYN(_ out: [(timestamp: UInt64, bytes: [UInt8])]) {
        #expect(out.count == 1)
        guard let f = out.first?.bytes else { return }
        #expect(f.mac(0) == S.web1MAC && f.mac(6) == S.routerMAC && f.u16(12) == EtherType.ipv4)
        #expect(f[22] == 63)
        #expect(Array(f[34...]) == Array(ip[20...]))
    }

    @Test func rawIPv4() throws {
        for lt: UInt32 in [101, 228] {
            let (_, out) = try Self.replayOne(linkType: lt, record: Self.ip)
            Self.expectRoutedSYN(out)
        }
    }

    @Test func linuxCookedV1AndV2() throws {
        var sll: [UInt8] = [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0xff, 0xfe, 0, 0, 0x08, 0x00]
        sll += Self.ip
        Self.expectRoutedSYN(try Self.replayOne(linkType: 113, record: sll).1)
        var sll2: [UInt8] = [0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0xff, 0xfe, 0, 0]
        sll2 += Self.ip
        Self.expectRoutedSYN(try Self.replayOne(linkType: 276, record: sll2).1)
    }

    @Test func bsdLoopback() throws {
        Self.expectRoutedSYN(try Self.replayOne(linkType: 0, record: [2, 0, 0, 0] + Self.ip).1)
        Self.expectRoutedSYN(try Self.replayOne(linkType: 108, record: [0, 0, 0, 2] + Self.ip).1)
    }

    @Test func recordsThatCannotBeAdaptedAreDroppedWithAReason() throws {
        let (report, out) = try Self.replayOne(linkType: 101, record: [0x10, 1, 2, 3])
        #expect(out.isEmpty)
        #expect(report.counters.drops(.unsupportedLinkLayer) == 1)
        let (r2, _) = try Self.replayOne(linkType: 0, record: [99, 0, 0, 0] + Self.ip)
        #expect(r2.counters.drops(.unsupportedLinkLayer) == 1)
    }

    @Test func anUnsupportedLinkTypeIsAOneLineError() throws {
        let dir = makeTempDirectory()
        try writePcap(dir + "/in.pcap", [(S.t0, Self.ip)], linkType: 147)  // USER0
        let r = try run(Repo.nimbus, ["replay", Repo.path("Topologies/public-ip.yaml"), "--in", "internet=\(dir)/in.pcap", "--out", dir + "/out"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("unsupported link type"))
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    @Test func inputsAreMergedByTimestampAndTiesKeepArgumentOrder() throws {
        let dir = makeTempDirectory()
        let a = S.internet[1].1
        let b = S.web1Port[3].1   // web-1 -> db-1
        try writePcap(dir + "/a.pcap", [(100, a), (300, a)])
        try writePcap(dir + "/b.pcap", [(100, b), (200, b)])
        let topology = try TopologyLoader.load(path: Repo.path("Topologies/public-ip.yaml"))
        var lines: [String] = []
        var options = ReplayOptions(inputs: [("web-1", dir + "/b.pcap"), ("internet", dir + "/a.pcap")], outputDirectory: dir + "/out")
        options.traceCount = 4
        _ = try Replay.run(config: topology.dataplaneConfig(), options: options) { lines.append($0) }
        let heads = lines.map { $0.split(separator: "\n")[0] }
        #expect(heads.count == 4)
        #expect(heads[0].contains("at 0.000000100s in web-1"))
        #expect(heads[1].contains("at 0.000000100s in internet"))
        #expect(heads[2].contains("at 0.000000200s in web-1"))
        #expect(heads[3].contains("at 0.000000300s in internet"))
    }
}
