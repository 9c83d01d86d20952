import Foundation
import NimbusDataplane
import NimbusReplay
import NimbusTestSupport
import NimbusWire
import Testing

/// The nat-private example, packet by packet: translations out and back, refusals, the ICMP error,
/// hairpin, elastic IP, fragments, expiry — and tshark's view of every checksum.
@Suite(.serialized) struct NATReplayTests {
    typealias S = NATScenario
    static let example = Example.all.first { $0.name == "nat-private" }!

    @Test func translationsAreRightFieldByField() throws {
        let dir = makeTempDirectory()
        let report = try Self.example.replay(into: dir)
        let internet = try readPcap(dir + "/internet.pcap").map(\.bytes)
        let app1 = try readPcap(dir + "/app-1.pcap").map(\.bytes)
        let web1 = try readPcap(dir + "/web-1.pcap").map(\.bytes)
        let e = S.app1Public

        // Out: app-1's SYN leaves from its paired public address, source port kept, TTL decremented.
        let syn = internet[0]
        #expect(syn.ip(26) == e && syn.u16(34) == 40000 && syn.ip(30) == S.example && syn[22] == 63)
        #expect(syn.mac(0) == S.upstreamMAC && syn.mac(6) == S.routerMAC)
        // app-2 used the same source port: it gets another public port (its address pairs with the same IP).
        let app2syn = internet[1]
        #expect(app2syn.ip(26) == NATStage.pairedAddress(for: S.app2, pool: S.pool, seed: 0))
        #expect(app2syn.u16(34) != 40000 || app2syn.ip(26) != e)
        // One internal endpoint, one public endpoint, whatever the destination (endpoint-independent mapping).
        let dns1 = internet[2], dns2 = internet[3]
        #expect(dns1.ip(30) == S.resolver && dns2.ip(30) == S.resolver2)
        #expect(dns1.ip(26) == e && dns2.ip(26) == e && dns1.u16(34) == 5000 && dns2.u16(34) == 5000)
        // ICMP echo identifier kept.
        #expect(internet[4][23] == IPProtocol.icmp && internet[4].u16(38) == 0x77 && internet[4].ip(26) == e)
        // Both fragments of app-2's datagram leave from the public address, same IP id, offsets kept.
        let frags = internet.filter { $0.u16(18) == 0x5151 }
        #expect(frags.count == 2)
        #expect(frags.allSatisfy { $0.ip(26) == app2syn.ip(26) })
        #expect(frags[0].u16(20) == 0x2000 && frags[1].u16(20) == 3)
        // The elastic IP's reply leaves from 203.0.113.10, port kept.
        #expect(internet.contains { $0.ip(26) == S.web1Public && $0.u16(34) == 80 && $0.ip(30) == S.example })

        // Back: the SYN-ACK, the DNS answer and the echo reply reach app-1 at its private endpoint.
        #expect(app1[1].ip(26) == S.example && app1[1].ip(30) == S.app1 && app1[1].u16(36) == 40000)
        #expect(app1[2].ip(26) == S.resolver && app1[2].ip(30) == S.app1 && app1[2].u16(36) == 5000)
        // The port unreachable about the translated datagram: quoted source restored to app-1:5000.
        let unreachable = try #require(app1.first { $0[23] == IPProtocol.icmp && $0[34] == 3 })
        #expect(unreachable.ip(30) == S.app1)
        #expect(unreachable.ip(42 + 12) == S.app1 && unreachable.ip(42 + 16) == S.resolver2)
        #expect(unreachable.u16(42 + 20) == 5000 && unreachable.u16(42 + 22) == 53)
        let echoReply = try #require(app1.first { $0[23] == IPProtocol.icmp && $0[34] == 0 })
        #expect(echoReply.u16(38) == 0x77 && echoReply.ip(30) == S.app1)

        // Hairpin: web-1 sees app-1 as its public mapping; app-1 sees web-1 as its elastic IP.
        let hairpin = try #require(web1.first { $0.u16(36) == 80 && $0.ip(26) != S.example })
        #expect(hairpin.ip(26) == e && hairpin.u16(34) == 41000 && hairpin.ip(30) == S.web1)
        let hairpinReply = try #require(app1.first { $0.ip(26) == S.web1Public })
        #expect(hairpinReply.u16(34) == 80 && hairpinReply.ip(30) == S.app1 && hairpinReply.u16(36) == 41000)
        // The elastic IP lets the internet in as far as web's group allows (80 yes, 22 no).
        #expect(web1.contains { $0.ip(26) == S.example && $0.ip(30) == S.web1 && $0.u16(36) == 80 })

        let c = report.counters
        #expect(c.drops(.natFiltered) == 1)       // the stranger
        #expect(c.drops(.natNoMapping) == 2)      // port 6001, the answer after the mapping expired
        #expect(c.drops(.sgIngressDenied) == 1)   // elastic IP, port 22
        #expect(report.natMappingsCreated == 6)
        #expect(report.natExpired == 4)           // all but the two TCP connections that saw answers
    }

    @Test(.enabled(if: tool("tshark") != nil, "tshark is not installed"))
    func tsharkFindsEveryTranslatedChecksumValid() throws {
        let tshark = try #require(tool("tshark"))
        let dir = makeTempDirectory()
        _ = try Self.example.replay(into: dir)
        for f in ["internet.pcap", "app-1.pcap", "web-1.pcap"] {
            let prefs = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]
            let all = try run(tshark, ["-n", "-r", dir + "/" + f] + prefs + ["-T", "fields", "-e", "frame.number"])
            #expect(all.status == 0 && !all.stdout.isEmpty, "\(f): \(all.stderr)")
            let bad = try run(tshark, ["-n", "-r", dir + "/" + f] + prefs + [
                "-Y", "ip.checksum.status == \"Bad\" || tcp.checksum.status == \"Bad\" || udp.checksum.status == \"Bad\" || icmp.checksum.status == \"Bad\" || _ws.malformed || _ws.expert.severity >= error",
                "-T", "fields", "-e", "frame.number"])
            #expect(bad.stdout.isEmpty, "\(f): frames with bad checksums: \(bad.stdout)")
        }
    }
}
