import Foundation
import NimbusDataplane
import NimbusReplay
import NimbusTestSupport
import NimbusWire
import Testing

/// The three-tier example, packet by packet: what each group admits, what tracking lets back, and what
/// the flow log says.
@Suite(.serialized) struct SecurityGroupsReplayTests {
    typealias S = SecurityGroupsScenario
    static let example = Example.all[1]

    @Test func eachPacketMeetsItsFate() throws {
        let dir = makeTempDirectory()
        let report = try Self.example.replay(into: dir, flowLog: dir + "/flows.jsonl")

        // Drops, in capture order, by destination address and (for TCP) port.
        let drops = try readPcap(dir + "/drops.pcapng").map(\.bytes)
        let tcpDrops = drops.filter { $0[23] == IPProtocol.tcp }.map { "\($0.ip(30)):\($0.u16(36))" }
        #expect(tcpDrops == ["203.0.113.70:8080", "203.0.113.11:22", "203.0.113.10:443", "203.0.113.10:443", "198.51.100.99:25",
                             "203.0.113.70:9090", "203.0.113.11:40009"])
        let c = report.counters
        #expect(c.drops(.sgIngressDenied) == 3)   // internet -> app 8080, internet -> web-2 ssh, internet ping
        #expect(c.drops(.sgEgressDenied) == 2)    // web-1 -> mail 25, web-1 -> app 9090
        #expect(c.drops(.ctInvalid) == 2)         // stray ACK, unasked SYN-ACK
        #expect(c.drops(.naclInboundDenied) == 1) // the abuser, stopped by the web subnet's ACL
        #expect(c.packetsDropped == 8)
        #expect(drops.count == 8)

        // app-1 sees only the office's SSH and web-1's connection: nothing straight from the internet.
        let app = try readPcap(dir + "/app-1.pcap").map(\.bytes)
        #expect(app.count == 3)
        #expect(app[0].ip(26) == S.office && app[0].u16(36) == 22)
        #expect(app[1].ip(26) == S.web1 && app[1].u16(36) == 8080 && app[1][47] == TCPHeader.syn)
        #expect(app.allSatisfy { $0[22] == 63 && $0.mac(0) == S.app1MAC })

        // web-1 gets the client's whole connection, and app-1's SYN-ACK, which no ingress rule admits.
        let web1 = try readPcap(dir + "/web-1.pcap").map(\.bytes)
        #expect(web1.count == 5)
        #expect(web1[3].ip(26) == S.app1 && web1[3].u16(34) == 8080 && web1[3][47] == TCPHeader.syn | TCPHeader.ack)

        // The internet sees web-1's and app-1's replies and app-1's open egress, never web-1's SMTP.
        let internet = try readPcap(dir + "/internet.pcap").map(\.bytes)
        #expect(internet.count == 4)
        #expect(!internet.contains { $0.u16(36) == 25 })

        #expect(report.flowsCreated == 5)
    }

    @Test func theFlowLogListsAcceptedAndRejectedFlows() throws {
        let dir = makeTempDirectory()
        _ = try Self.example.replay(into: dir, flowLog: dir + "/flows.jsonl")
        let text = try String(contentsOfFile: dir + "/flows.jsonl", encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 12)   // network-ACL drops are not flows: stateless, like AWS
        let records = try lines.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let accepted = records.filter { $0["action"] as? String == "ACCEPT" }
        let rejected = records.filter { $0["action"] as? String == "REJECT" }
        #expect(accepted.count == 5 && rejected.count == 7)
        let https = try #require(accepted.first { $0["destination-port"] as? Int == 443 && $0["source"] as? String == "198.51.100.20" })
        #expect(https["packets"] as? Int == 6)
        #expect(https["end-reason"] as? String == "open")
        #expect(rejected.contains { $0["reason"] as? String == "sg-egress-denied" && $0["destination-port"] as? Int == 25 })
        // Ordered by start time.
        let starts = records.compactMap { $0["start"] as? Double }
        #expect(starts == starts.sorted())
    }
}
