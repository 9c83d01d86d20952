import Foundation
import NimbusTestSupport
import NimbusWire
import Testing

/// The `nimbus` executable as users run it: exit statuses, one-line errors, nothing half-written.
@Suite struct CommandLineTests {
    var nimbus: String { Repo.nimbus }

    @Test func checkPrintsASummary() throws {
        let r = try run(nimbus, ["check", Repo.path("Topologies/public-ip.yaml")])
        #expect(r.status == 0)
        #expect(r.stdout.contains("topology public-cloud"))
        #expect(r.stdout.contains("public 203.0.113.0/24 public-ip"))
        #expect(r.stdout.contains("web-1 public/web 203.0.113.10"))
        #expect(r.stdout.split(separator: "\n").count <= 40)
    }

    @Test func checkReportsEveryTopologyErrorWithItsPosition() throws {
        let dir = makeTempDirectory()
        let file = dir + "/bad.yaml"
        try """
        version: 1
        name: bad
        networks:
          - name: n
            cidr: 203.0.113.0/24
            mode: public-ip
            subnets:
              - { name: s, cidr: 203.0.113.0/26 }
        instances:
          - { name: a, network: n, subnet: s, ip: 203.0.113.200 }
          - { name: b, network: nope, subnet: s, ip: 203.0.113.11, colour: red }

        """.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try run(nimbus, ["check", file])
        #expect(r.status == 2)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count >= 3)
        #expect(lines.allSatisfy { $0.hasPrefix(file + ":") && $0.contains(": error: ") })
        #expect(lines.contains { $0.hasPrefix(file + ":10:43: error:") })   // address outside its subnet
        #expect(lines.contains { $0.hasPrefix(file + ":11:25: error:") })   // unknown network
        #expect(lines.contains { $0.hasPrefix(file + ":11:60: error:") })   // unknown key
    }

    @Test func badArgumentsGiveOneLineAndStatusTwo() throws {
        let topo = Repo.path("Topologies/public-ip.yaml")
        let cases: [[String]] = [
            ["replay", topo, "--out", "/tmp/x"],                                  // no input
            ["replay", topo, "--in", "internet", "--out", "/tmp/x"],              // not PORT=FILE
            ["replay", topo, "--in", "nowhere=/dev/null", "--out", "/tmp/x"],     // unknown port
            ["replay", topo, "--in", "internet=/nonexistent.pcap", "--out", "/tmp/x"],
            ["replay", topo, "--in", "internet=/etc/hostname", "--out", "/tmp/x"],
            ["replay", topo, "--in", "internet=x.pcap"],                          // no --out
            ["replay", topo, "--in", "internet=x.pcap", "--out", "/tmp/x", "--trace", "many"],
            ["frobnicate"],
            ["check"],
            ["check", "/nonexistent.yaml"],
        ]
        for args in cases {
            let r = try run(nimbus, args)
            #expect(r.status == 2, "\(args): status \(r.status)")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(args): \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(args)")
        }
        let unknownPort = try run(nimbus, ["replay", topo, "--in", "nowhere=/dev/null", "--out", "/tmp/x"])
        #expect(unknownPort.stderr.contains("no port named 'nowhere'"))
        #expect(unknownPort.stderr.contains("internet, web-1, web-2, db-1"))
    }

    @Test func helpExitsZero() throws {
        let r = try run(nimbus, ["replay", "--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("--in <PORT=FILE>"))
    }

    @Test func aCorruptCaptureLeavesNoOutputBehind() throws {
        let dir = makeTempDirectory()
        // The public-ip example capture (ExampleCaptureTests keeps it equal to PublicIPScenario.internet).
        let good = try readPcap(Repo.path("Topologies/public-ip.internet.pcap")).map { ($0.timestamp, $0.bytes) }
        try writePcap(dir + "/in.pcap", good)
        // Cut the file in the middle of its last record.
        var bytes = try #require(FileManager.default.contents(atPath: dir + "/in.pcap"))
        bytes.removeLast(10)
        try bytes.write(to: URL(fileURLWithPath: dir + "/cut.pcap"))
        let out = dir + "/out"
        let r = try run(nimbus, ["replay", Repo.path("Topologies/public-ip.yaml"), "--in", "internet=\(dir)/cut.pcap", "--out", out])
        #expect(r.status == 2)
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(r.stderr.contains("cut.pcap: record \(good.count)"))
        let left = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
        #expect(left.isEmpty, "left behind: \(left)")
    }

    @Test func replayWritesOutputsAndATrace() throws {
        let out = makeTempDirectory() + "/nested/out"
        let r = try run(nimbus, ["replay", Repo.path("Topologies/public-ip.yaml"),
                                 "--in", "internet=" + Repo.path("Topologies/public-ip.internet.pcap"),
                                 "--in", "web-1=" + Repo.path("Topologies/public-ip.web-1.pcap"),
                                 "--out", out, "--trace", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("packet 1 at "))
        #expect(r.stdout.contains("packet 2 at "))
        #expect(!r.stdout.contains("packet 3 at "))
        #expect(r.stderr.contains("replayed 25 packets"))
        let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(files == ["db-1.pcap", "drops.pcapng", "internet.pcap", "report.json", "web-1.pcap", "web-2.pcap"])
        let report = try JSONSerialization.jsonObject(with: try #require(FileManager.default.contents(atPath: out + "/report.json"))) as? [String: Any]
        let packets = try #require(report?["packets"] as? [String: Any])
        #expect(packets["in"] as? Int == 25)
        let drops = try #require(report?["drops"] as? [String: Any])
        #expect(drops["spoofed-source"] as? Int == 4)
        #expect(report?["mpps"] is Double || report?["mpps"] is Int)
    }

    @Test func unwritableOutputDirectoryIsABadArgument() throws {
        let dir = makeTempDirectory()
        try "x".write(toFile: dir + "/file", atomically: true, encoding: .utf8)
        let r = try run(nimbus, ["replay", Repo.path("Topologies/public-ip.yaml"),
                                 "--in", "internet=" + Repo.path("Topologies/public-ip.internet.pcap"),
                                 "--out", dir + "/file/out"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("--out"))
    }
}
