import Foundation
import NimbusBench
import NimbusTestSupport
import Testing

/// `nimbus bench --scenario vpn`: a session brought up with an in-memory peer, then sealing and opening
/// through the dataplane, next to swift-crypto alone.
@Suite struct VPNBenchTests {
    @Test func vpnScenarioSealsOpensAndComparesWithRawChaCha() throws {
        let r = try run(Repo.nimbus, ["bench", Repo.path("Topologies/vpn-site-to-site.yaml"), "--scenario", "vpn",
                                      "--size", "1442", "--packets", "2048", "--repetitions", "1", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let json = try JSONDecoder().decode(VPNBenchJSON.self, from: Data(r.stdout.utf8))
        #expect(json.established == json.newFlows, "both the seal phase")
        #expect(json.scenario == "vpn" && json.threads == 1 && json.size == 1442 && json.innerBytes == 1420)
        #expect(object["scenario"] as? String == "vpn")
        #expect(object["inner-bytes"] as? Int == 1420)     // capped by the tunnel's MTU
        for key in ["established", "new-flows", "open", "raw-seal", "raw-open"] {
            let phase = try #require(object[key] as? [String: Any], "\(key)")
            #expect((phase["mpps"] as? Double ?? 0) > 0, "\(key)")
            #expect((phase["gbps"] as? Double ?? 0) > 0, "\(key)")
        }
        #expect((object["seal-vs-raw"] as? Double ?? 0) > 0)
        // Counted in an untimed pass; 0 in a release build (a debug build's generic code allocates).
        let allocations = try #require(object["allocations-per-packet"] as? [String: Any])
        #expect(allocations.keys.sorted() == ["open", "seal"])
    }

    @Test func vpnScenarioNeedsATunnel() throws {
        let r = try run(Repo.nimbus, ["bench", Repo.path("Topologies/public-ip.yaml"), "--scenario", "vpn", "--packets", "256"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("no tunnel to measure"))
        #expect(r.stderr.split(separator: "\n").count == 1)
    }
}
