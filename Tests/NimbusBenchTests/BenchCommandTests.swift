import Foundation
import NimbusBench
import NimbusTestSupport
import Testing

/// `nimbus bench` as users run it, with small counts: the JSON it prints and its argument errors.
/// No timing is asserted; only that the figures exist and are positive.
@Suite struct BenchCommandTests {
    var nimbus: String { Repo.nimbus }

    func benchJSON(_ arguments: [String]) throws -> [String: Any] {
        let r = try run(nimbus, ["bench"] + arguments + ["--packets", "10000", "--flows", "100", "--json"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 1, "one JSON object on one line")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        // The output's schema: every key of BenchJSON, with its type.
        _ = try JSONDecoder().decode(BenchJSON.self, from: Data(r.stdout.utf8))
        return try #require(object)
    }

    func expectPhase(_ json: [String: Any], _ name: String) throws {
        let phase = try #require(json[name] as? [String: Any], "\(name) missing")
        for key in ["mpps", "gbps", "ns-per-packet"] {
            let v = try #require((phase[key] as? NSNumber)?.doubleValue, "\(name).\(key) missing")
            #expect(v > 0, "\(name).\(key) = \(v)")
        }
        let latency = try #require(phase["batch-latency-ns"] as? [String: Any])
        #expect(((latency["p99"] as? NSNumber)?.intValue ?? 0) > 0)
    }

    @Test(arguments: ["sg", "route"])
    func jsonHasTheSpecKeysAndPositiveFigures(scenario: String) throws {
        let json = try benchJSON([Repo.path("Topologies/security-groups.yaml"), "--scenario", scenario])
        #expect(json["scenario"] as? String == scenario)
        #expect((json["threads"] as? NSNumber)?.intValue == 1)
        #expect((json["size"] as? NSNumber)?.intValue == 64)
        #expect((json["flows"] as? NSNumber)?.intValue == 100)
        try expectPhase(json, "established")
        try expectPhase(json, "new-flows")
        let traffic = try #require(json["traffic"] as? [String: Any])
        #expect(traffic["to"] as? String == "web-1")
        #expect((traffic["port"] as? NSNumber)?.intValue == 443)
        let memory = try #require(json["memory"] as? [String: Any])
        #expect((memory["bytes-per-flow"] as? NSNumber) != nil)
    }

    @Test func twoThreadsAndLargeFramesOnAnotherTopology() throws {
        let json = try benchJSON([Repo.path("Topologies/public-ip.yaml"), "--threads", "2", "--size", "1518"])
        #expect((json["threads"] as? NSNumber)?.intValue == 2)
        #expect((json["size"] as? NSNumber)?.intValue == 1518)
        try expectPhase(json, "established")
        try expectPhase(json, "new-flows")
    }

    @Test func textOutputNamesBothPhases() throws {
        let r = try run(nimbus, ["bench", Repo.path("Topologies/security-groups.yaml"), "--packets", "5000",
                                 "--flows", "10", "--repetitions", "1"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.contains("established"))
        #expect(r.stdout.contains("new-flows"))
        #expect(r.stdout.contains("Mpps"))
    }

    @Test func badArgumentsGiveOneLineAndStatusTwo() throws {
        let topo = Repo.path("Topologies/security-groups.yaml")
        let cases: [([String], String)] = [
            (["bench", topo, "--scenario", "nat"], "scenario nat needs a nat-private network"),
            (["bench", topo, "--scenario", "vpn"], "no tunnel to measure"),
            (["bench", topo, "--scenario", "bogus"], "unknown scenario"),
            (["bench", topo, "--size", "10"], "--size 10"),
            (["bench", topo, "--size", "9000"], "--size 9000"),
            (["bench", topo, "--flows", "0"], "--flows 0"),
            (["bench", topo, "--threads", "0"], "--threads 0"),
            (["bench", topo, "--packets", "-5"], "--packets"),
            (["bench", topo, "--flows", "many"], "flows"),
            (["bench", "/nonexistent.yaml", "--packets", "100"], "/nonexistent.yaml"),
            (["bench"], "topology"),
        ]
        for (args, needle) in cases {
            let r = try run(nimbus, args)
            #expect(r.status == 2, "\(args): status \(r.status)")
            let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: true)
            #expect(lines.count == 1, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(needle), "\(args): \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(args)")
        }
    }
}
