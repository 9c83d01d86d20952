import Foundation
import NimbusDataplane
import NimbusReplay
import NimbusTestSupport
import NimbusWire
import Testing

/// The load-balancer example, field by field.
@Suite(.serialized) struct LoadBalancerReplayTests {
    typealias S = LoadBalancerScenario
    static let example = Example.all.first { $0.name == "load-balancer" }!

    @Test func flowsLandWhereTheAlgorithmsAndEventsSay() throws {
        let dir = makeTempDirectory()
        let report = try Self.example.replay(into: dir)
        let web1 = try readPcap(dir + "/web-1.pcap").map(\.bytes)
        let web2 = try readPcap(dir + "/web-2.pcap").map(\.bytes)
        let web3 = try readPcap(dir + "/web-3.pcap").map(\.bytes)
        let internet = try readPcap(dir + "/internet.pcap").map(\.bytes)
        let app1 = try readPcap(dir + "/app-1.pcap").map(\.bytes)
        func clients(_ packets: [[UInt8]]) -> [IPv4Address] { packets.map { $0.ip(26) } }

        // Weighted round-robin 1:1:2: web-3, web-1, web-2, web-3 for clients 11..14; client 11 stays on web-3.
        #expect(web3.prefix(3).map { $0.ip(26) } == [S.client(11), S.client(14), S.client(11)])
        #expect(web1.first?.ip(26) == S.client(12))
        #expect(web2.first?.ip(26) == S.client(13))
        // Targets see the client's address and their own port.
        #expect((web1 + web2 + web3).allSatisfy { $0.u16(36) == 8080 || $0.u16(36) == 5353 })
        // Source hash: both DNS queries of client 21 on one target.
        let dns = (web1 + web2 + web3).filter { $0.u16(36) == 5353 }
        #expect(dns.count == 2 && Set(dns.map { $0.ip(30) }).count == 1)
        // Replies leave from the VIP and port 80.
        #expect(internet.count == 2 && internet.allSatisfy { $0.ip(26) == S.vip && $0.u16(34) == 80 })
        #expect(internet.map { $0.ip(30) } == [S.client(11), S.client(12)])
        // Internal VIP: app-1 reached web-1 and hears back from 10.0.1.200:80.
        #expect(web1.contains { $0.ip(26) == S.app1 })
        #expect(app1.count == 1 && app1[0].ip(26) == S.internalVIP && app1[0].u16(34) == 80)
        // Hairpin: app-1 through the public VIP reached a target with its own address.
        #expect(web3.contains { $0.ip(26) == S.app1 && $0.u16(34) == 41001 })
        // Draining (web-2 from 2 s): no new flow, its old flow continues.
        #expect(!clients(web2).contains(S.client(15)) && clients(web2).filter { $0 == S.client(13) }.count == 2)
        // Down (web-1 from 3 s): its flow cut, the client's new flow elsewhere; at 4 s nothing is up.
        #expect(clients(web3).contains(S.client(12)))
        let c = report.counters
        #expect(c.drops(.lbTargetDown) == 1 && c.drops(.lbNoHealthyTarget) == 1 && c.drops(.noRoute) == 1)
        let lb = try #require(report.loadBalancers.first { $0.name == "web-lb" })
        #expect(lb.targets.map(\.health) == ["down", "draining", "down"])
        #expect(lb.targets.map(\.counters.flows) == [2, 1, 6])
    }

    @Test func eventsAppearInTheTrace() throws {
        var lines: [String] = []
        _ = try Self.example.replay(into: makeTempDirectory(), trace: 100) { lines.append($0) }
        #expect(lines.contains { $0.hasPrefix("event at 1700000302.000000000s: load balancer web-lb target web-2 is draining") })
        #expect(lines.contains { $0.contains("lb          balanced to target 10.0.1.12:8080") })
    }
}
