import Foundation
import NimbusBench
import NimbusTestSupport
import Testing

/// `nimbus bench --scenario nat|lb|mixed` as users run them, with small counts: the JSON keys SPEC.md
/// fixes, positive figures, the state the flows left in the dataplane (tracked flows, NAT mappings,
/// load-balanced flows per target), allocation counts, threads, and the one-line error of a topology
/// without what the scenario needs. No timing is asserted.
@Suite struct BenchScenarioTests {
    var nimbus: String { Repo.nimbus }

    func benchJSON(_ arguments: [String], flows: Int = 100, packets: Int = 10_000,
                   binary: String? = nil) throws -> [String: Any] {
        let r = try run(binary ?? nimbus, ["bench"] + arguments
                        + ["--packets", "\(packets)", "--flows", "\(flows)", "--repetitions", "3", "--json"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.split(separator: "\n").count == 1, "one JSON object on one line")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        // The output's schema: every key of BenchJSON, with its type.
        _ = try JSONDecoder().decode(BenchJSON.self, from: Data(r.stdout.utf8))
        return try #require(object, "stdout: \(r.stdout) stderr: \(r.stderr)")
    }

    func number(_ json: [String: Any], _ path: String...) -> Double? {
        var node: Any? = json
        for key in path { node = (node as? [String: Any])?[key] }
        return (node as? NSNumber)?.doubleValue
    }

    /// The keys SPEC.md fixes, with positive figures in both phases, and an allocation count (zero on
    /// the established path when the binary is optimized; a debug build's unspecialized generics
    /// allocate, see `establishedPathAllocatesNothingInAnOptimizedBuild`).
    func expectSpecKeys(_ json: [String: Any], scenario: String, flows: Int, threads: Int = 1, size: Int = 64) throws {
        #expect(json["scenario"] as? String == scenario)
        #expect((json["threads"] as? NSNumber)?.intValue == threads)
        #expect((json["size"] as? NSNumber)?.intValue == size)
        #expect((json["flows"] as? NSNumber)?.intValue == flows)
        for phase in ["established", "new-flows"] {
            for key in ["mpps", "gbps", "ns-per-packet"] {
                let v = try #require(number(json, phase, key), "\(phase).\(key) missing")
                #expect(v > 0, "\(phase).\(key) = \(v)")
            }
            let allocations = try #require(number(json, phase, "allocations-per-packet"),
                                           "\(phase).allocations-per-packet missing or null")
            #expect(allocations >= 0)
        }
        let optimized = try #require(json["optimized"] as? Bool)
        if optimized { #expect(number(json, "established", "allocations-per-packet") == 0) }
    }

    @Test func natOpensOneMappingPerFlowThroughTheGateway() throws {
        let json = try benchJSON([Repo.path("Topologies/nat-private.yaml"), "--scenario", "nat"])
        try expectSpecKeys(json, scenario: "nat", flows: 100)
        let traffic = try #require(json["traffic"] as? [String: Any])
        #expect(traffic["kind"] as? String == "nat")
        #expect(traffic["to"] as? String == "internet")
        // The instances behind the gateway (web-1 has an elastic IP and is not one of them).
        #expect(traffic["from"] as? String == "app-1, app-2, db-1")
        #expect(traffic["via"] as? String == "NAT gateway 203.0.113.1, 203.0.113.2")
        #expect(json["security-groups"] as? Bool == true)
        #expect(number(json, "state", "tracked-flows") == 100)
        #expect(number(json, "state", "nat-mappings") == 100)
        #expect(number(json, "state", "lb-flows") == 0)
        #expect(number(json, "new-flows", "flows-per-run") == 10_000)
    }

    @Test func natWithTwoThreadsAndLargeFrames() throws {
        let json = try benchJSON([Repo.path("Topologies/nat-private.yaml"), "--scenario", "nat", "--threads", "2",
                                  "--size", "1518"])
        try expectSpecKeys(json, scenario: "nat", flows: 100, threads: 2, size: 1518)
        // Each worker has its own dataplane: the state adds up over both.
        #expect(number(json, "state", "tracked-flows") == 100)
        #expect(number(json, "state", "nat-mappings") == 100)
        // The dispatcher dealt the flows (the bench fails when a reply would reach another worker than its
        // flow's): every flow once, both workers busy.
        let perWorker = ((json["dispatch"] as? [String: Any])?["flows-per-worker"] as? [NSNumber])?.map(\.intValue) ?? []
        #expect(perWorker.count == 2 && perWorker.reduce(0, +) == 100 && perWorker.allSatisfy { $0 > 0 }, "\(perWorker)")
        #expect((number(json, "dispatch", "ns-per-packet") ?? 0) > 0)
    }

    /// A gateway with 10 ports and one instance behind it: 10 endpoints, so 25 flows go to 3
    /// destinations and share 10 mappings (endpoint-independent mapping); new flows stop at 10, one
    /// new mapping each.
    @Test func natFlowsBeyondTheGatewaysPortsReuseMappingsAcrossDestinations() throws {
        let dir = makeTempDirectory("bench-nat")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/small-nat.yaml"
        try """
            version: 1
            name: small-nat
            internet:
              hosts:
                - { name: example, ip: 198.51.100.20 }
            networks:
              - name: vpc
                cidr: 10.0.0.0/16
                mode: nat-private
                subnets:
                  - { name: app, cidr: 10.0.1.0/24 }
                nat:
                  public-ips: [203.0.113.1]
                  ports: 2000-2009
            instances:
              - { name: app-1, network: vpc, subnet: app, ip: 10.0.1.10 }
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let json = try benchJSON([path, "--scenario", "nat"], flows: 25)
        try expectSpecKeys(json, scenario: "nat", flows: 25)
        #expect(number(json, "traffic", "client-endpoints") == 10)
        #expect(number(json, "state", "tracked-flows") == 25)
        #expect(number(json, "state", "nat-mappings") == 10)
        #expect(number(json, "new-flows", "flows-per-run") == 10)
    }

    @Test func lbSpreadsFlowsOverTheTargetsByWeight() throws {
        let json = try benchJSON([Repo.path("Topologies/load-balancer.yaml"), "--scenario", "lb"])
        try expectSpecKeys(json, scenario: "lb", flows: 100)
        let traffic = try #require(json["traffic"] as? [String: Any])
        #expect(traffic["kind"] as? String == "lb")
        #expect(traffic["to"] as? String == "web-lb")
        #expect(traffic["address"] as? String == "203.0.113.80")
        #expect((traffic["port"] as? NSNumber)?.intValue == 80)
        #expect(number(json, "state", "tracked-flows") == 100)
        #expect(number(json, "state", "lb-flows") == 100)
        // Smooth weighted round-robin, web-3 weighted 2.
        #expect(number(json, "state", "lb-targets", "web-1") == 25)
        #expect(number(json, "state", "lb-targets", "web-2") == 25)
        #expect(number(json, "state", "lb-targets", "web-3") == 50)
        #expect(json["ingress-rules-on"] as? String == "web-1")
    }

    @Test func mixedInterleavesLoadBalancedAndNATFlowsInOneDataplane() throws {
        let json = try benchJSON([Repo.path("Topologies/load-balancer.yaml"), "--scenario", "mixed"])
        try expectSpecKeys(json, scenario: "mixed", flows: 100)
        let mix = try #require(json["traffic-mix"] as? [[String: Any]])
        #expect(mix.map { $0["kind"] as? String } == ["lb", "nat"])
        #expect(number(json, "state", "tracked-flows") == 100)
        #expect(number(json, "state", "lb-flows") == 50)
        #expect(number(json, "state", "nat-mappings") == 50)
    }

    @Test func mixedTextNamesBothKindsAndTheState() throws {
        let r = try run(nimbus, ["bench", Repo.path("Topologies/load-balancer.yaml"), "--scenario", "mixed",
                                 "--packets", "5000", "--flows", "10", "--repetitions", "1"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.contains("  lb: internet 198.18.0.0/15 -> web-lb 203.0.113.80 tcp/80"))
        #expect(r.stdout.contains("  nat: "))
        #expect(r.stdout.contains("via NAT gateway 203.0.113.1"))
        #expect(r.stdout.contains("state after opening: 10 tracked flows, 5 NAT mappings, 5 load-balanced flows"))
        #expect(r.stdout.contains("allocs/pkt"))
    }

    @Test(arguments: [
        ("public-ip.yaml", "nat", "scenario nat needs a nat-private network"),
        ("security-groups.yaml", "nat", "scenario nat needs a nat-private network"),
        ("nat-private.yaml", "lb", "scenario lb needs a load balancer"),
        ("public-ip.yaml", "lb", "scenario lb needs a load balancer"),
        ("nat-private.yaml", "mixed", "scenario mixed needs a load balancer"),
        ("security-groups.yaml", "mixed", "has neither"),
    ])
    func aTopologyWithoutTheFeatureIsOneLineAndStatusTwo(topology: String, scenario: String, needle: String) throws {
        let r = try run(nimbus, ["bench", Repo.path("Topologies/" + topology), "--scenario", scenario,
                                 "--packets", "1000", "--flows", "10"])
        #expect(r.status == 2, "status \(r.status)")
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.count == 1, "\(r.stderr)")
        #expect(r.stderr.contains(needle), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test func extraRulesNeedAnInstanceThatReceivesTheFirstPackets() throws {
        let r = try run(nimbus, ["bench", Repo.path("Topologies/nat-private.yaml"), "--scenario", "nat",
                                 "--extra-rules", "10", "--packets", "1000", "--flows", "10"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("--extra-rules"), "\(r.stderr)")
        // On lb they go to the targets' group.
        let json = try benchJSON([Repo.path("Topologies/load-balancer.yaml"), "--scenario", "lb", "--extra-rules", "10"],
                                 flows: 10, packets: 2000)
        #expect((json["ingress-rules"] as? NSNumber)?.intValue == 12)
    }

    // MARK: allocations of an optimized build

    /// The release `nimbus` built beside the debug one (same scratch path), or else in the repository's
    /// default `.build` (a sanitizer build has its own scratch path), when it is newer than every source
    /// file: the allocation counts of a debug build include its unspecialized generics.
    static var releaseBinary: String? {
        let debug = URL(fileURLWithPath: Repo.nimbus)
        let beside = debug.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("release/nimbus").path
        let fm = FileManager.default
        let release = fm.isExecutableFile(atPath: beside) ? beside : Repo.path(".build/release/nimbus")
        guard fm.isExecutableFile(atPath: release),
              let built = (try? fm.attributesOfItem(atPath: release))?[.modificationDate] as? Date else { return nil }
        let sources = Repo.root.appendingPathComponent("Sources")
        guard let files = fm.enumerator(at: sources, includingPropertiesForKeys: [.contentModificationDateKey]) else { return nil }
        for case let file as URL in files where file.pathExtension == "swift" {
            let changed = (try? file.resourceValues(forKeys: [.contentModificationDateKey]))?.contentModificationDate
            if let changed, changed > built { return nil }
        }
        return release
    }

    @Test(.enabled(if: releaseBinary != nil, "needs an up-to-date release build: swift build -c release --product nimbus"),
          arguments: [("security-groups.yaml", "route"), ("security-groups.yaml", "sg"), ("nat-private.yaml", "nat"),
                      ("load-balancer.yaml", "lb"), ("load-balancer.yaml", "mixed")])
    func establishedPathAllocatesNothingInAnOptimizedBuild(topology: String, scenario: String) throws {
        let binary = try #require(Self.releaseBinary)
        let json = try benchJSON([Repo.path("Topologies/" + topology), "--scenario", scenario],
                                 flows: 1000, packets: 50_000, binary: binary)
        #expect(json["optimized"] as? Bool == true)
        #expect(number(json, "established", "allocations-per-packet") == 0)
        #expect(number(json, "established", "mpps").map { $0 > 0 } == true)
    }
}
