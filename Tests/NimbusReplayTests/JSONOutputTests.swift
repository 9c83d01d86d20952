import Foundation
import NimbusDataplane
import NimbusReplay
import NimbusTestSupport
import NimbusTopology
import NimbusWire
import Testing

/// `report.json` and the flow log read back: decoded with JSONDecoder into their schema types and compared
/// field by field with what the replay counted, and, through JSONSerialization, their keys spelled out
/// here, so a renamed, missing or extra key, a wrong type or a malformed line fails.
@Suite(.serialized) struct JSONOutputTests {
    static func data(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }
    static func object(_ value: Any?) throws -> [String: Any] { try #require(value as? [String: Any]) }
    static func keys(_ value: Any?) throws -> [String] { try object(value).keys.sorted() }

    static let reportKeys = ["drops", "flows", "mpps", "nat", "packets", "ports", "seconds", "workers"]

    /// The keys every report has, with the values `report` counted.
    static func expectCommonFields(_ json: ReportJSON, _ raw: [String: Any], _ report: ReplayReport,
                                   ports: [String]) throws {
        let c = report.counters
        #expect(json.packets.in == c.packetsIn && json.packets.out == c.packetsOut)
        #expect(json.packets.dropped == c.packetsDropped && json.packets.consumed == c.packetsConsumed)
        #expect(try keys(raw["packets"]) == ["consumed", "dropped", "in", "out"])
        let reasons = DropReason.allCases.filter { $0 != .none }
        #expect(json.drops.keys.sorted() == reasons.map(\.name).sorted(), "every reason, zero or not")
        for r in reasons { #expect(json.drops[r.name] == c.drops(r), "\(r.name)") }
        #expect(json.ports.keys.sorted() == ports.sorted())
        for (i, name) in report.portNames.enumerated() {
            let p = try #require(json.ports[name])
            #expect(p.in == c.ports[i].inPackets && p.out == c.ports[i].outPackets, "\(name)")
            #expect(p.inBytes == c.ports[i].inBytes && p.outBytes == c.ports[i].outBytes, "\(name)")
            #expect(try keys(Self.object(raw["ports"])[name]) == ["in", "in-bytes", "out", "out-bytes"])
        }
        #expect(json.flows.created == report.flowsCreated && json.flows.expired == report.flowsExpired
                && json.flows.peak == report.flowsPeak)
        #expect(try keys(raw["flows"]) == ["created", "expired", "peak"])
        #expect(json.nat.mappingsCreated == report.natMappingsCreated && json.nat.peak == report.natPeak
                && json.nat.expired == report.natExpired && json.nat.portExhausted == c.drops(.natPortExhausted))
        #expect(try keys(raw["nat"]) == ["expired", "mappings-created", "peak", "port-exhausted"])
        #expect(json.workers == report.workers)
        // Timing: the figures rounded to the microsecond and to three decimals, as numbers.
        #expect(raw["seconds"] is NSNumber && raw["mpps"] is NSNumber)
        #expect(abs(json.seconds - report.seconds) <= 0.5e-6 && json.seconds >= 0)
        #expect(abs(json.mpps - report.mpps) <= 0.5e-3 && json.mpps >= 0)
    }

    /// The text layout: two-space indentation, `"key" : value`, keys sorted, a final newline.
    static func expectLayout(_ text: String, topLevel: [String]) {
        #expect(text.hasPrefix("{\n  \"") && text.hasSuffix("\n}\n"))
        let keys = text.split(separator: "\n").filter { $0.hasPrefix("  \"") }
            .map { String($0.dropFirst(3).prefix { $0 != "\"" }) }
        #expect(keys == topLevel.sorted(), "top-level keys, sorted")
    }

    @Test func reportDecodesIntoTheSchema() throws {
        let dir = makeTempDirectory()
        let report = try GoldenReplayTests.replay(into: dir)
        let bytes = try Self.data(dir + "/report.json")
        let json = try JSONDecoder().decode(ReportJSON.self, from: bytes)
        let object = try Self.object(JSONSerialization.jsonObject(with: bytes))
        #expect(object.keys.sorted() == Self.reportKeys, "no load-balancers, vpn or map without them")
        try Self.expectCommonFields(json, object, report, ports: ["internet", "web-1", "web-2", "db-1"])
        #expect(json.drops["spoofed-source"] == 4 && json.packets.in == 25)
        #expect(json.loadBalancers == nil && json.vpn == nil && json.map == nil)
        Self.expectLayout(String(decoding: bytes, as: UTF8.self), topLevel: Self.reportKeys)
        #expect(String(decoding: bytes, as: UTF8.self).contains("\n    \"spoofed-source\" : 4,\n"))
        // What the replay wrote is what `document` encodes.
        #expect(json == report.document)
    }

    @Test func aReportMissingAKeyOrWithAWrongTypeDoesNotDecode() throws {
        let dir = makeTempDirectory()
        _ = try GoldenReplayTests.replay(into: dir)
        let object = try Self.object(JSONSerialization.jsonObject(with: Self.data(dir + "/report.json")))
        func decodes(_ o: [String: Any]) -> Bool {
            (try? JSONDecoder().decode(ReportJSON.self, from: JSONSerialization.data(withJSONObject: o))) != nil
        }
        #expect(decodes(object))
        for key in Self.reportKeys {
            var o = object
            o[key] = nil
            #expect(!decodes(o), "without \(key)")
        }
        var wrong = object
        wrong["workers"] = "one"
        #expect(!decodes(wrong))
        var port = try Self.object(Self.object(object["ports"])["web-1"])
        port["in-bytes"] = nil
        var ports = try Self.object(object["ports"])
        ports["web-1"] = port
        wrong = object
        wrong["ports"] = ports
        #expect(!decodes(wrong), "a port without in-bytes")
    }

    @Test func loadBalancersInTheReport() throws {
        let dir = makeTempDirectory()
        let example = try #require(Example.all.first { $0.name == "load-balancer" })
        let report = try example.replay(into: dir)
        let bytes = try Self.data(dir + "/report.json")
        let json = try JSONDecoder().decode(ReportJSON.self, from: bytes)
        let object = try Self.object(JSONSerialization.jsonObject(with: bytes))
        #expect(object.keys.sorted() == (Self.reportKeys + ["load-balancers"]).sorted())
        try Self.expectCommonFields(json, object, report, ports: report.portNames)
        let lbs = try #require(json.loadBalancers)
        #expect(lbs.keys.sorted() == report.loadBalancers.map(\.name).sorted())
        #expect(!report.loadBalancers.isEmpty)
        for lb in report.loadBalancers {
            let targets = try #require(lbs[lb.name])
            #expect(targets.keys.sorted() == lb.targets.map(\.instance).sorted())
            for t in lb.targets {
                let target = try #require(targets[t.instance])
                #expect(target.state == t.health && target.flows == t.counters.flows)
                #expect(target.packets == t.counters.packets && target.bytes == t.counters.bytes)
                let raw = try Self.object(Self.object(Self.object(object["load-balancers"])[lb.name])[t.instance])
                #expect(raw.keys.sorted() == ["bytes", "flows", "packets", "state"])
            }
        }
        #expect(lbs["web-lb"]?["web-2"]?.state == "draining")
        Self.expectLayout(String(decoding: bytes, as: UTF8.self), topLevel: Self.reportKeys + ["load-balancers"])
    }

    @Test func tunnelsInTheReport() throws {
        let dir = makeTempDirectory()
        let report = try VPNExample.replay(into: dir)
        let bytes = try Self.data(dir + "/report.json")
        let json = try JSONDecoder().decode(ReportJSON.self, from: bytes)
        let object = try Self.object(JSONSerialization.jsonObject(with: bytes))
        #expect(object.keys.sorted() == (Self.reportKeys + ["vpn"]).sorted())
        try Self.expectCommonFields(json, object, report, ports: report.portNames)
        let vpn = try #require(json.vpn)
        #expect(vpn.keys.sorted() == ["cloud/office", "office/cloud"])
        for t in report.vpnTunnels {
            let tunnel = try #require(vpn[t.name])
            let raw = try Self.object(Self.object(object["vpn"])[t.name])
            #expect(raw.keys.sorted() == ["handshakes", "peers", "transport"])
            #expect(try Self.keys(raw["handshakes"]) == ["completed-as-initiator", "completed-as-responder",
                                                         "cookie-replies-received", "cookie-replies-sent", "given-up",
                                                         "initiations-sent", "rekeys", "retransmissions"])
            #expect(try Self.keys(raw["transport"]) == ["keepalives-received", "keepalives-sent", "received", "sent",
                                                        "sessions-expired"])
            #expect(tunnel.handshakes.initiationsSent == t.stats.initiationsSent)
            #expect(tunnel.handshakes.completedAsInitiator == t.stats.handshakesCompleted)
            #expect(tunnel.handshakes.completedAsResponder == t.stats.handshakesResponded)
            #expect(tunnel.transport.sent == t.stats.transportSent && tunnel.transport.received == t.stats.transportReceived)
            #expect(tunnel.peers.count == t.peers.count)
            for (p, peer) in zip(t.peers, tunnel.peers) {
                #expect(peer.publicKey == p.publicKey.base64)
                #expect(peer.endpoint == p.status.endpoint?.description)
                #expect(peer.session == p.status.hasSession)
                let last = try #require(p.status.lastHandshake)
                #expect(peer.lastHandshake == "\(last / 1_000_000_000)." + String(String(last % 1_000_000_000 + 1_000_000_000).dropFirst()))
            }
            for peer in try #require(raw["peers"] as? [Any]) {
                #expect(try Self.keys(peer) == ["endpoint", "last-handshake", "public-key", "session"])
            }
        }
        // Base64 keys hold slashes, written as they are.
        #expect(!String(decoding: bytes, as: UTF8.self).contains("\\/"))
    }

    @Test func aPeerWithoutEndpointOrHandshakeIsNullNotAbsent() throws {
        let dir = makeTempDirectory()
        _ = try VPNExample.replay(into: dir)
        var object = try Self.object(JSONSerialization.jsonObject(with: Self.data(dir + "/report.json")))
        var vpn = try Self.object(object["vpn"])
        var tunnel = try Self.object(vpn["cloud/office"])
        var peer = try Self.object((tunnel["peers"] as? [Any])?.first)
        peer["endpoint"] = NSNull()
        peer["last-handshake"] = NSNull()
        tunnel["peers"] = [peer]
        vpn["cloud/office"] = tunnel
        object["vpn"] = vpn
        let json = try JSONDecoder().decode(ReportJSON.self, from: JSONSerialization.data(withJSONObject: object))
        let decoded = try #require(json.vpn?["cloud/office"]?.peers.first)
        #expect(decoded.endpoint == nil && decoded.lastHandshake == nil && decoded.session)
        // Written back as null: the keys stay.
        let again = String(decoding: try JSONEncoder().encode(decoded), as: UTF8.self)
        #expect(again.contains(#""endpoint":null"#) && again.contains(#""last-handshake":null"#))
        // Absent is not null: the schema requires the key.
        peer["endpoint"] = nil
        tunnel["peers"] = [peer]
        vpn["cloud/office"] = tunnel
        object["vpn"] = vpn
        #expect((try? JSONDecoder().decode(ReportJSON.self, from: JSONSerialization.data(withJSONObject: object))) == nil)
    }

    @Test func mappedHostsInTheReport() throws {
        let dir = makeTempDirectory()
        var options = ReplayOptions(inputs: [("internet", Repo.path("Topologies/public-ip.internet.pcap"))], outputDirectory: dir)
        options.maps = [HostMapping(address: IPv4Address("203.0.113.10")!, instance: "app-1"),
                        HostMapping(address: IPv4Address("203.0.113.11")!, instance: "web-1")]
        let report = try Replay.run(config: TopologyLoader.load(path: Repo.path("Topologies/nat-private.yaml")).dataplaneConfig(),
                                    options: options, traceOutput: { _ in })
        let bytes = try Self.data(dir + "/report.json")
        let json = try JSONDecoder().decode(ReportJSON.self, from: bytes)
        let object = try Self.object(JSONSerialization.jsonObject(with: bytes))
        #expect(object.keys.sorted() == (Self.reportKeys + ["map"]).sorted())
        try Self.expectCommonFields(json, object, report, ports: report.portNames)
        let map = try #require(json.map)
        #expect(try Self.keys(object["map"]) == ["checksums-recomputed", "hosts"])
        #expect(map.checksumsRecomputed == report.mappedChecksumsRecomputed)
        #expect(map.hosts.keys.sorted() == ["203.0.113.10", "203.0.113.11"])
        for h in report.mappedHosts {
            let host = try #require(map.hosts[h.address])
            #expect(host.instance == h.instance && host.fromHost == h.fromHost && host.toHost == h.toHost)
            #expect(try Self.keys(Self.object(Self.object(object["map"])["hosts"])[h.address]) == ["from-host", "instance", "to-host"])
        }
        #expect(map.hosts["203.0.113.10"]?.toHost ?? 0 > 0)
    }

    static let flowKeys = ["action", "bytes", "destination", "destination-port", "end", "packets", "protocol", "source",
                           "source-port", "start"]

    @Test func flowLogLinesDecodeIntoTheSchema() throws {
        typealias S = SecurityGroupsScenario
        let dir = makeTempDirectory()
        let example = try #require(Example.all.first { $0.name == "security-groups" })
        _ = try example.replay(into: dir, flowLog: dir + "/flows.jsonl")
        let text = try String(contentsOfFile: dir + "/flows.jsonl", encoding: .utf8)
        #expect(text.hasSuffix("}\n"))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        #expect(lines.count == 12)
        let encoder = FlowLogRecord.encoder()
        var records: [FlowLogRecord] = []
        for line in lines {
            let record = try JSONDecoder().decode(FlowLogRecord.self, from: Data(line.utf8))
            records.append(record)
            let object = try Self.object(JSONSerialization.jsonObject(with: Data(line.utf8)))
            switch record.action {
            case .accept:
                #expect(object.keys.sorted() == (Self.flowKeys + ["end-reason"]).sorted(), "\(line)")
                #expect(["open", "closed", "expired"].contains(record.endReason ?? "") && record.reason == nil)
            case .reject:
                #expect(object.keys.sorted() == (Self.flowKeys + ["reason"]).sorted(), "\(line)")
                #expect(DropReason(name: record.reason ?? "") != nil && record.endReason == nil)
            }
            #expect(object["action"] as? String == record.action.rawValue)
            #expect(object["source-port"] is NSNumber && object["start"] is NSNumber && object["end"] is NSNumber)
            #expect(IPv4Address(record.source) != nil && IPv4Address(record.destination) != nil)
            #expect(record.start <= record.end)
            // One line, keys sorted, no spaces: encoding the decoded record again gives the same text, so no
            // nanosecond was lost either way.
            #expect(String(decoding: try encoder.encode(record), as: UTF8.self) == line)
        }
        #expect(records.map(\.start) == records.map(\.start).sorted(), "ordered by start time")
        let https = try #require(records.first { $0.destinationPort == 443 && $0.source == S.client.description })
        #expect(https == FlowLogRecord(protocol: "tcp", source: "198.51.100.20", sourcePort: 50000, destination: "203.0.113.10",
                                       destinationPort: 443, packets: 6, bytes: 329, start: CaptureSeconds(nanoseconds: S.t0),
                                       end: CaptureSeconds(nanoseconds: S.t0 + 210 * S.ms), action: .accept, endReason: "open"))
        #expect(lines.contains(#"{"action":"ACCEPT","bytes":329,"destination":"203.0.113.10","destination-port":443,"#
                               + #""end":1700000100.21,"end-reason":"open","packets":6,"protocol":"tcp","source":"198.51.100.20","#
                               + #""source-port":50000,"start":1700000100}"#))
        #expect(records.contains { $0.action == .reject && $0.reason == "sg-egress-denied" && $0.destinationPort == 25 })
        // A line missing a key does not decode.
        let broken = lines[0].replacingOccurrences(of: #""packets":"#, with: #""packet":"#)
        #expect((try? JSONDecoder().decode(FlowLogRecord.self, from: Data(broken.utf8))) == nil)
    }

    @Test func captureTimesAreExactToTheNanosecond() throws {
        let encoder = FlowLogRecord.encoder()
        for (ns, text) in [(UInt64(1_700_000_300_400_000_001), "1700000300.400000001"), (0, "0"),
                           (1_700_000_300_000_000_000, "1700000300"), (1, "0.000000001"),
                           (UInt64.max, "18446744073.709551615")] {
            #expect(String(decoding: try encoder.encode(CaptureSeconds(nanoseconds: ns)), as: UTF8.self) == text)
            #expect(try JSONDecoder().decode(CaptureSeconds.self, from: Data(text.utf8)).nanoseconds == ns)
        }
        #expect(try JSONDecoder().decode(CaptureSeconds.self, from: Data("1700000300.400000000".utf8)).nanoseconds
                == 1_700_000_300_400_000_000)
        for bad in ["-1", "0.0000000001", "\"1\""] {
            #expect((try? JSONDecoder().decode(CaptureSeconds.self, from: Data(bad.utf8))) == nil, "\(bad)")
        }
    }
}
