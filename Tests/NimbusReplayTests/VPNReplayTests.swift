import Foundation
import NimbusDataplane
import NimbusReplay
import NimbusTestSupport
import NimbusTopology
import NimbusWire
import Testing

/// The two-site VPN example, replayed end to end: cloud and office joined by a simulated internet, a
/// WireGuard tunnel between them.
enum VPNExample {
    static let cloud = Repo.path("Topologies/vpn-site-to-site.yaml")
    static let office = Repo.path("Topologies/vpn-office.yaml")
    static let cloudCapture = Repo.path("Topologies/vpn-site-to-site.cloud-app-1.pcap")
    static let officeCapture = Repo.path("Topologies/vpn-site-to-site.office-laptop.pcap")

    static func replay(into dir: String, extra: [(port: String, path: String)] = [], keyLog: String? = nil,
                       trace: Int = 0, traceSink: @escaping (String) -> Void = { _ in }) throws -> ReplayReport {
        let sites = try [cloud, office].map { path in
            let t = try TopologyLoader.load(path: path)
            return ReplaySite(config: t.dataplaneConfig(), events: t.dataplaneEvents())
        }
        var options = ReplayOptions(inputs: [("cloud/app-1", cloudCapture), ("office/laptop", officeCapture)] + extra,
                                    outputDirectory: dir)
        options.wireGuardKeyLogPath = keyLog
        options.traceCount = trace
        options.seed = 42
        return try Replay.run(sites: sites, options: options, traceOutput: traceSink)
    }

    /// UDP datagrams between the two tunnel endpoints in a capture: (frame, WireGuard message type).
    static func tunnelDatagrams(_ frames: [(timestamp: UInt64, bytes: [UInt8])]) -> [(bytes: [UInt8], type: UInt8)] {
        frames.compactMap { f in
            let b = f.bytes
            guard b.count >= 43, b.u16(12) == EtherType.ipv4, b[23] == IPProtocol.udp else { return nil }
            let ends = Set([b.ip(26), b.ip(30)])
            guard ends == Set([VPNScenario.cloudEndpoint, VPNScenario.officeEndpoint]) else { return nil }
            return (b, b[42])
        }
    }
}

@Suite(.serialized) struct VPNReplayTests {
    @Test func examplesCapturesAreTheScenarioFrames() throws {
        for (file, frames) in [(VPNExample.cloudCapture, VPNScenario.cloudApp1), (VPNExample.officeCapture, VPNScenario.officeLaptop)] {
            if Repo.updateGolden { try writePcap(file, frames) }
            let read = try readPcap(file)
            #expect(read.count == frames.count)
            for (a, b) in zip(read, frames) {
                #expect(a.timestamp == b.0)
                #expect(a.bytes == b.1)
            }
        }
    }

    @Test func pingAndTCPCrossTheTunnelSealed() throws {
        let dir = makeTempDirectory()
        let report = try VPNExample.replay(into: dir)

        // The laptop got both pings, the SYN, the data and the two fragments, TTL 64 -> 63 (into the tunnel)
        // -> 62 (out of it), with valid checksums and the payload intact.
        let atLaptop = try readPcap(dir + "/office/laptop.pcap")
        let pings = atLaptop.filter { $0.bytes[23] == IPProtocol.icmp }
        #expect(pings.count == 2)
        for (k, p) in pings.enumerated() {
            let b = p.bytes
            #expect(b.mac(0) == VPNScenario.laptopMAC && b.mac(6) == VPNScenario.officeRouterMAC)
            #expect(b.ip(26) == VPNScenario.app1 && b.ip(30) == VPNScenario.laptop)
            #expect(b[22] == 62)
            #expect(b[34] == ICMPHeader.echoRequest && b.u16(38) == 7 && b.u16(40) == UInt16(k + 1))
            #expect(b.withUnsafeBytes { InternetChecksum.verify(RawBytes(UnsafeMutableRawBufferPointer(mutating: $0)).suffix(from: 14).prefix(20)) })
            #expect(Array(b[42...]) == Array(0..<32).map { UInt8($0) })
        }
        let tcp = atLaptop.filter { $0.bytes[23] == IPProtocol.tcp }
        #expect(tcp.count == 3)
        #expect(tcp.last.map { Array($0.bytes[54...]) } == VPNScenario.secret)
        let udp = atLaptop.filter { $0.bytes[23] == IPProtocol.udp }
        #expect(udp.count == 2, "the oversize datagram arrives as two fragments")
        #expect(udp.first.map { $0.bytes.u16(20) } == 0x2000)          // MF, offset 0
        let lastOffset = udp.last.map { Int($0.bytes.u16(20) & 0x1FFF) * 8 }
        #expect(lastOffset == 1400, "(1420 - 20) rounded down to 8 bytes go in the first fragment")
        #expect(udp.map { $0.bytes.count - 14 }.reduce(0, +) == 1500 + 20)

        // app-1 got the two echo replies and the SYN-ACK back through the tunnel.
        let atApp1 = try readPcap(dir + "/cloud/app-1.pcap")
        #expect(atApp1.filter { $0.bytes[23] == IPProtocol.icmp && $0.bytes[34] == ICMPHeader.echoReply }.count == 2)
        #expect(atApp1.contains { $0.bytes[23] == IPProtocol.tcp && $0.bytes[47] == TCPHeader.syn | TCPHeader.ack })
        #expect(atApp1.filter { $0.bytes.ip(26) == VPNScenario.laptop }.allSatisfy { $0.bytes[22] == 62 })
        // The datagram too big for the tunnel with don't-fragment set came back as ICMP fragmentation
        // needed from app-1's gateway, next-hop MTU 1420, quoting the datagram.
        let tooBig = try #require(atApp1.first { $0.bytes[23] == IPProtocol.icmp && $0.bytes[34] == 3 })
        #expect(tooBig.bytes[35] == 4 && tooBig.bytes.u16(40) == 1420)
        #expect(tooBig.bytes.ip(26) == IPv4Address("10.10.1.1")! && tooBig.bytes.ip(30) == VPNScenario.app1)
        #expect(tooBig.bytes.u16(42 + 4) == 4)   // the quoted datagram's identification
        #expect(report.counters.drops(.vpnPacketTooBig) == 1)

        // On the internet between the sites: only WireGuard, UDP 51820 to 51820, first the handshake.
        let internet = try readPcap(dir + "/internet.pcap")
        let tunnel = VPNExample.tunnelDatagrams(internet)
        #expect(tunnel.count >= 10)
        #expect(tunnel.allSatisfy { $0.bytes.u16(34) == 51820 && $0.bytes.u16(36) == 51820 })
        #expect(tunnel.prefix(3).map(\.type) == [1, 2, 4])
        #expect(tunnel.dropFirst(2).allSatisfy { $0.type == 4 })
        let secret = VPNScenario.secret
        for f in internet {
            #expect(!f.bytes.indices.contains { i in i + secret.count <= f.bytes.count && Array(f.bytes[i..<i + secret.count]) == secret })
        }
        // The ping to the internet left through NAT, in clear, from the NAT address.
        #expect(internet.contains { $0.bytes[23] == IPProtocol.icmp && $0.bytes.ip(26) == IPv4Address("203.0.113.1")! })

        #expect(report.counters.drops(.vpnReplay) == 0 && report.counters.drops(.vpnAuthFailed) == 0)
        #expect(report.counters.packetsConsumed >= 3)   // the handshake response, and held packets
        let json = try JSONDecoder().decode(ReportJSON.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/report.json")))
        #expect(json.vpn?.keys.sorted() == ["cloud/office", "office/cloud"])
        #expect(json.vpn?["cloud/office"]?.handshakes.completedAsInitiator == 1)
    }

    @Test func replayIsByteIdenticalRunToRun() throws {
        let a = makeTempDirectory(), b = makeTempDirectory()
        _ = try VPNExample.replay(into: a)
        _ = try VPNExample.replay(into: b)
        for f in ["internet.pcap", "cloud/app-1.pcap", "office/laptop.pcap", "drops.pcapng"] {
            let x = FileManager.default.contents(atPath: a + "/" + f), y = FileManager.default.contents(atPath: b + "/" + f)
            #expect(x != nil && x == y, "\(f)")
        }
    }

    @Test func replayedAndForgedTransportPacketsAreDropped() throws {
        let first = makeTempDirectory()
        _ = try VPNExample.replay(into: first)
        let internet = try readPcap(first + "/internet.pcap")
        // The first transport message the cloud sent to the office, sent again later by an attacker, and a
        // copy with one ciphertext bit flipped.
        let original = try #require(VPNExample.tunnelDatagrams(internet).first { $0.type == 4 && $0.bytes.ip(30) == VPNScenario.officeEndpoint })
        var forged = original.bytes
        forged[forged.count - 20] ^= 0x01
        let attack = first + "/attack.pcap"
        try writePcap(attack, [(VPNScenario.t0 + 5000 * VPNScenario.ms, original.bytes),
                               (VPNScenario.t0 + 5001 * VPNScenario.ms, forged)])
        let second = makeTempDirectory()
        var traced: [String] = []
        let report = try VPNExample.replay(into: second, extra: [("internet", attack)], trace: 100) { traced.append($0) }
        #expect(report.counters.drops(.vpnReplay) == 1)
        #expect(report.counters.drops(.vpnAuthFailed) == 1)
        #expect(traced.contains { $0.contains("DROP vpn-replay") })
        #expect(traced.contains { $0.contains("handshake initiation from tunnel cloud peer") })
        #expect(traced.contains { $0.contains("decrypted from tunnel cloud peer") })
    }

    /// 130 s later the cloud's session (it initiated) is past REKEY-AFTER-TIME: the next ping it seals
    /// makes its timers start a new handshake, traced and counted, and the pings still get through.
    @Test func aSessionOlderThanTwoMinutesIsRekeyed() throws {
        let dir = makeTempDirectory()
        let t = VPNScenario.t0 + 130_000 * VPNScenario.ms
        let later = dir + "/later-app1.pcap", reply = dir + "/later-laptop.pcap"
        try writePcap(later, [
            (t, FrameBuilder.echoFrame(sourceMAC: VPNScenario.app1MAC, destinationMAC: VPNScenario.cloudRouterMAC,
                                       source: VPNScenario.app1, destination: VPNScenario.laptop, identifier: 9, sequence: 1)),
            (t + 1000 * VPNScenario.ms, FrameBuilder.echoFrame(sourceMAC: VPNScenario.app1MAC, destinationMAC: VPNScenario.cloudRouterMAC,
                                                               source: VPNScenario.app1, destination: VPNScenario.laptop,
                                                               identifier: 9, sequence: 2)),
        ])
        try writePcap(reply, [
            (t + 1 * VPNScenario.ms, FrameBuilder.echoFrame(sourceMAC: VPNScenario.laptopMAC, destinationMAC: VPNScenario.officeRouterMAC,
                                                            source: VPNScenario.laptop, destination: VPNScenario.app1, reply: true,
                                                            identifier: 9, sequence: 1)),
        ])
        var traced: [String] = []
        let report = try VPNExample.replay(into: dir + "/out", extra: [("cloud/app-1", later), ("office/laptop", reply)],
                                           trace: 1000) { traced.append($0) }
        let json = try JSONDecoder().decode(ReportJSON.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/out/report.json")))
        #expect(json.vpn?.values.contains { $0.handshakes.rekeys == 1 } == true, "\(json)")
        #expect(traced.contains { $0.contains("timers, just before this packet: sent 1 handshake initiation") })
        let tunnel = VPNExample.tunnelDatagrams(try readPcap(dir + "/out/internet.pcap"))
        #expect(tunnel.filter { $0.type == 1 }.count == 2)
        let atLaptop = try readPcap(dir + "/out/office/laptop.pcap").filter { $0.bytes[23] == IPProtocol.icmp && $0.bytes.u16(38) == 9 }
        #expect(atLaptop.count == 2)
        #expect(report.counters.drops(.vpnKeyExpired) == 0)
    }

    @Test(.enabled(if: tool("tshark") != nil, "tshark is not installed"))
    func tsharkDissectsTheTunnelAndDecryptsItWithTheKeyLog() throws {
        let tshark = try #require(tool("tshark"))
        let dir = makeTempDirectory()
        let keyLog = dir + "/wg.keys"
        _ = try VPNExample.replay(into: dir, keyLog: keyLog)
        let keys = try String(contentsOfFile: keyLog, encoding: .utf8)
        #expect(keys.contains("LOCAL_EPHEMERAL_PRIVATE_KEY = "))
        let types = try run(tshark, ["-r", dir + "/internet.pcap", "-Y", "wg", "-T", "fields", "-e", "wg.type"])
        #expect(types.status == 0)
        let seen = types.stdout.split(separator: "\n").map(String.init)
        #expect(seen.prefix(3) == ["1", "2", "4"])
        // Without keys the inner packets stay hidden; with the key log tshark decrypts them.
        let hidden = try run(tshark, ["-r", dir + "/internet.pcap", "-Y", "icmp && wg"])
        #expect(hidden.stdout.isEmpty)
        let shown = try run(tshark, ["-o", "wg.keylog_file:" + keyLog, "-r", dir + "/internet.pcap", "-Y", "icmp.type == 8 && wg",
                                     "-T", "fields", "-e", "ip.src", "-e", "ip.dst"])
        #expect(shown.status == 0)
        #expect(shown.stdout.contains("10.10.1.10,203.0.113.3") || shown.stdout.contains("10.10.1.10"))
        // Every outer checksum is right.
        let bad = try run(tshark, ["-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-r", dir + "/internet.pcap",
                                   "-Y", "ip.checksum.status == 0 || udp.checksum.status == 0"])
        #expect(bad.stdout.isEmpty, "\(bad.stdout)")
    }

    @Test func commandLineRunsTwoSites() throws {
        let dir = makeTempDirectory()
        let r = try run(Repo.nimbus, ["replay", VPNExample.cloud, VPNExample.office,
                                      "--in", "cloud/app-1=" + VPNExample.cloudCapture,
                                      "--in", "office/laptop=" + VPNExample.officeCapture,
                                      "--out", dir, "--wg-keylog", dir + "/keys", "--no-progress"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/office/laptop.pcap"))
        #expect(FileManager.default.fileExists(atPath: dir + "/keys"))
        let same = try run(Repo.nimbus, ["replay", VPNExample.cloud, VPNExample.cloud, "--in", "internet=" + VPNExample.cloudCapture,
                                         "--out", makeTempDirectory()])
        #expect(same.status == 2)
        #expect(same.stderr.contains("distinct names"))
    }
}
