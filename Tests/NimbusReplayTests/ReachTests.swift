import Foundation
import NimbusDataplane
import NimbusExplain
import NimbusReplay
import NimbusTestSupport
import NimbusTopology
import NimbusWire
import Testing

/// `nimbus reach`: its answers are the dataplane's. The agreement sweep replays reach's own frames
/// through the replay harness and holds reach to what the replay did; the hand-written cases name each
/// kind of blocker; the command-line cases hold the output and exit statuses to the contract.
@Suite struct ReachTests {
    /// The single-site examples; the VPN pair's sites are asked alone (their peers are just internet).
    static let examples = ["public-ip", "security-groups", "nat-private", "load-balancer", "vpn-site-to-site", "vpn-office"]
    static let questions: [(ReachProtocol, UInt16?)] = [(.tcp, 80), (.tcp, 22), (.udp, 53), (.icmp, nil)]

    static func config(_ name: String) throws -> DataplaneConfig {
        try TopologyLoader.load(path: Repo.path("Topologies/\(name).yaml")).dataplaneConfig()
    }

    // MARK: One truth

    /// For every pair (instances and `internet` to instances, `internet` and load balancers) and four
    /// services: reach's first packet and reply, replayed by `Replay.run`, leave on the same ports
    /// (byte for byte) or are dropped for the same reason.
    @Test(arguments: examples)
    func reachAgreesWithReplay(name: String) throws {
        let config = try Self.config(name)
        let reach = Reach(config: config)
        let froms = ["internet"] + reach.instanceNames
        let tos = reach.instanceNames + ["internet"] + config.loadBalancers.map(\.name)
        let root = makeTempDirectory("reach-sweep")
        defer { try? FileManager.default.removeItem(atPath: root) }
        var asked = 0, reachable = 0, blocked = 0
        for (proto, port) in Self.questions {
            for from in froms {
                for to in tos {
                    let q = try reach.query(from: from, to: to, protocol: proto, port: proto == .icmp ? nil : port)
                    let a = reach.answer(q, explain: false)
                    try Self.replayAgrees(a, q, config, dir: root + "/\(asked)", label: "\(name) \(from) -> \(to) \(proto) \(port ?? 0)")
                    asked += 1
                    if a.reachable { reachable += 1 } else { blocked += 1 }
                }
            }
        }
        // The sweep must see both answers, or it proves little. The office alone reaches nothing: its
        // laptop has no NAT and is reached only through the tunnel, whose other end is another site.
        #expect(blocked > 0, "\(name): nothing blocked")
        #expect(reachable > 0 || name == "vpn-office", "\(name): nothing reachable")
    }

    /// Replays the answer's frames (the first packet into its port, the reply into the port the first
    /// left on) and checks the replay's outcome against reach's.
    static func replayAgrees(_ a: ReachAnswer, _ q: ReachQuery, _ config: DataplaneConfig, dir: String, label: String) throws {
        let t1: UInt64 = 1_000_000_000, t2: UInt64 = 1_001_000_000
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var inputs: [(port: String, path: String)] = []
        var legs: [(UInt64, ReachLeg)] = [(t1, a.first)]
        if let r = a.reply { legs.append((t2, r)) }
        if let r = a.reply, r.inPort == a.first.inPort {
            try writePcap(dir + "/in0.pcap", [(t1, a.first.frame), (t2, r.frame)])
            inputs = [(config.ports[Int(r.inPort)].name, dir + "/in0.pcap")]
        } else {
            for (k, (t, leg)) in legs.enumerated() {
                try writePcap(dir + "/in\(k).pcap", [(t, leg.frame)])
                inputs.append((config.ports[Int(leg.inPort)].name, dir + "/in\(k).pcap"))
            }
        }
        let out = dir + "/out"
        let report = try Replay.run(config: config, options: ReplayOptions(inputs: inputs, outputDirectory: out),
                                    traceOutput: { _ in })
        var dropped: UInt64 = 0
        for (t, leg) in legs {
            if let port = leg.outPort, let frame = leg.output {
                let file = out + "/" + config.ports[Int(port)].name + ".pcap"
                let records = FileManager.default.fileExists(atPath: file) ? try readPcap(file) : []
                #expect(records.contains { $0.timestamp == t && $0.bytes == frame },
                        "\(label): reach sent it out \(config.ports[Int(port)].name); the replay did not")
            } else if leg.drop != .none {
                dropped += 1
                #expect(report.counters.drops(leg.drop) >= 1, "\(label): reach dropped it as \(leg.drop.name); the replay did not")
                let drops = try readPcap(out + "/drops.pcapng")
                // Recorded as it was when dropped (a NAT may have rewritten it already): by its time.
                #expect(drops.contains { $0.timestamp == t }, "\(label): not in drops.pcapng")
            }
        }
        #expect(report.counters.packetsDropped == dropped, "\(label): the replay dropped \(report.counters.packetsDropped)")
        // The verdict follows from where the two frames went.
        let arrived = a.first.outPort.map { q.arrivalPorts.isEmpty || q.arrivalPorts.contains($0) } ?? false
        let back = a.first.answeredByRouter ? a.first.outPort == q.inPort : a.reply?.outPort == q.inPort
        #expect(a.reachable == ((arrived || a.first.answeredByRouter) && back), "\(label)")
        #expect(a.reachable == (a.blockedBy == nil), "\(label)")
        try? FileManager.default.removeItem(atPath: dir)
    }

    // MARK: Each kind of blocker

    /// Runs `nimbus reach … --json` and returns the exit status and the `blocked-by` object.
    static func blocked(_ args: [String]) throws -> (status: Int32, blockedBy: [String: Any]?, json: [String: Any]) {
        let r = try run(Repo.nimbus, ["reach"] + args + ["--json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(args): \(r.stdout) \(r.stderr)")
        return (r.status, json["blocked-by"] as? [String: Any], json)
    }

    static func expectBlocker(_ b: [String: Any]?, _ kind: String, _ name: String, rule: Int?, direction: String?,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(b?["kind"] as? String == kind, sourceLocation: sourceLocation)
        #expect(b?["name"] as? String == name, sourceLocation: sourceLocation)
        if let rule { #expect(b?["rule"] as? Int == rule, sourceLocation: sourceLocation) } else {
            #expect(b?["rule"] is NSNull, sourceLocation: sourceLocation)
        }
        if let direction { #expect(b?["direction"] as? String == direction, sourceLocation: sourceLocation) } else {
            #expect(b?["direction"] is NSNull, sourceLocation: sourceLocation)
        }
    }

    @Test func securityGroupIngressNamesTheReceiversGroups() throws {
        let r = try Self.blocked([Repo.path("Topologies/public-ip.yaml"), "internet", "db-1"])
        #expect(r.status == 1)
        Self.expectBlocker(r.blockedBy, "security-group", "db", rule: nil, direction: "ingress")
        let path = try #require(r.json["path"] as? [[String: String]])
        #expect(path.last?["stage"] == "conntrack")
        #expect(path.last?["decision"]?.hasPrefix("DROP sg-ingress-denied") == true)
    }

    @Test func securityGroupEgressNamesAllTheSendersGroups() throws {
        let r = try Self.blocked([Repo.path("Topologies/security-groups.yaml"), "web-1", "internet", "--port", "22"])
        #expect(r.status == 1)
        Self.expectBlocker(r.blockedBy, "security-group", "web,admin", rule: nil, direction: "egress")
    }

    @Test func networkACLRuleThatDenies() throws {
        let r = try Self.blocked([Repo.path("Topologies/security-groups.yaml"), "198.51.100.66", "web-1", "--port", "443"])
        #expect(r.status == 1)
        Self.expectBlocker(r.blockedBy, "network-acl", "edge", rule: 100, direction: "inbound")
        // The office may use SSH and the path names the ACL rule and group that let it in.
        let ok = try run(Repo.nimbus, ["reach", Repo.path("Topologies/security-groups.yaml"), "192.0.2.7", "web-1", "--port", "22"])
        #expect(ok.status == 0, "\(ok.stdout)")
        #expect(ok.stdout.contains("network-acl allowed by the subnet ACLs (inbound: network ACL edge rule 200 allows)"))
        #expect(ok.stdout.contains("new flow allowed by the security groups (ingress admin)"))
        #expect(ok.stdout.hasSuffix("reachable\n"))
    }

    /// A stateless ACL lets the SYN in but not the SYN-ACK out (no rule for the client's port): the
    /// default deny on the reply's way, rule null.
    @Test func networkACLDefaultDenyOnTheReply() throws {
        let file = makeTempDirectory("reach") + "/acl.yaml"
        try """
        version: 1
        name: acl
        networks:
          - name: pub
            cidr: 203.0.113.0/24
            mode: public-ip
            subnets:
              - { name: s, cidr: 203.0.113.0/26, network-acl: tight }
        network-acls:
          - name: tight
            inbound:
              - { rule: 10, action: allow, protocol: tcp, ports: 80, source: 0.0.0.0/0 }
            outbound:
              - { rule: 10, action: allow, protocol: tcp, ports: 443, destination: 0.0.0.0/0 }
        security-groups:
          - name: web
            ingress:
              - { protocol: tcp, ports: 80, source: 0.0.0.0/0 }
        instances:
          - { name: vm, network: pub, subnet: s, ip: 203.0.113.10, security-groups: [web] }

        """.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try Self.blocked([file, "internet", "vm"])
        #expect(r.status == 1)
        Self.expectBlocker(r.blockedBy, "network-acl", "tight", rule: nil, direction: "outbound")
        let path = try #require(r.json["path"] as? [[String: String]])
        #expect(path.contains { $0["decision"]?.hasPrefix("reply in vm") == true })
        #expect(path.last?["decision"]?.contains("no rule matches (default deny)") == true)
        // UDP meets no inbound rule at all.
        let udp = try Self.blocked([file, "internet", "vm", "--protocol", "udp", "--port", "53"])
        Self.expectBlocker(udp.blockedBy, "network-acl", "tight", rule: nil, direction: "inbound")
    }

    @Test func routeWhereNothingIsThere() throws {
        // An address of the public network that no instance holds: from the internet, the network's routes
        // end there.
        let r = try Self.blocked([Repo.path("Topologies/public-ip.yaml"), "internet", "203.0.113.50"])
        #expect(r.status == 1)
        Self.expectBlocker(r.blockedBy, "route", "public", rule: nil, direction: nil)
        // A nat-private network without a NAT gateway has no way out: its own routes block it.
        let file = makeTempDirectory("reach") + "/closed.yaml"
        try """
        version: 1
        name: closed
        networks:
          - name: island
            cidr: 10.0.0.0/16
            mode: nat-private
            subnets:
              - { name: s, cidr: 10.0.1.0/24 }
        instances:
          - { name: vm, network: island, subnet: s, ip: 10.0.1.10 }

        """.write(toFile: file, atomically: true, encoding: .utf8)
        let out = try Self.blocked([file, "vm", "internet"])
        Self.expectBlocker(out.blockedBy, "route", "island", rule: nil, direction: nil)
    }

    /// A legitimate FROM cannot spoof: reach sends an instance's frames with its own MAC and address, and
    /// internet senders from the address given. An address the site owns, given as FROM, comes from the
    /// internet side, which is exactly what anti-spoofing refuses.
    @Test func antiSpoofRefusesTheSitesOwnAddressFromOutside() throws {
        let r = try Self.blocked([Repo.path("Topologies/public-ip.yaml"), "203.0.113.11", "web-1"])
        #expect(r.status == 1)
        Self.expectBlocker(r.blockedBy, "anti-spoof", "internet", rule: nil, direction: nil)
    }

    @Test func natKeepsTheInternetOutOfPrivateAddresses() throws {
        // The router refuses a private address from outside (no-route); reach names NAT and says why.
        let r = try Self.blocked([Repo.path("Topologies/nat-private.yaml"), "internet", "db-1"])
        #expect(r.status == 1)
        Self.expectBlocker(r.blockedBy, "nat", "vpc", rule: nil, direction: "inbound")
        let path = try #require(r.json["path"] as? [[String: String]])
        #expect(path.last?["decision"]?.contains("DROP no-route") == true)
        #expect(path.last?["decision"]?.contains("private address of nat-private network vpc") == true)
        // The gateway's own address, with no mapping: the NAT stage itself refuses it.
        let gw = try Self.blocked([Repo.path("Topologies/nat-private.yaml"), "internet", "203.0.113.1"])
        Self.expectBlocker(gw.blockedBy, "nat", "vpc", rule: nil, direction: "inbound")
        // The elastic IP leads in.
        let eip = try run(Repo.nimbus, ["reach", Repo.path("Topologies/nat-private.yaml"), "internet", "web-1"])
        #expect(eip.status == 0)
        #expect(eip.stdout.contains("nat-in      translated to 10.0.1.20"))
    }

    /// A listener with no targets: the only state of a static topology in which a load balancer, not
    /// what stands behind it, refuses a flow (target health changes are replay `events`).
    @Test func loadBalancerWithoutTargets() throws {
        let file = makeTempDirectory("reach") + "/lb.yaml"
        try """
        version: 1
        name: lb0
        networks:
          - name: vpc
            cidr: 10.0.0.0/16
            mode: nat-private
            subnets:
              - { name: web, cidr: 10.0.1.0/24 }
        instances:
          - { name: web-1, network: vpc, subnet: web, ip: 10.0.1.10 }
        load-balancers:
          - name: empty-lb
            vip: 203.0.113.80
            listeners:
              - { protocol: tcp, port: 80, targets: [] }

        """.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try Self.blocked([file, "internet", "empty-lb"])
        #expect(r.status == 1)
        Self.expectBlocker(r.blockedBy, "load-balancer", "empty-lb", rule: nil, direction: nil)
    }

    @Test func loadBalancerPathNamesTheTarget() throws {
        let r = try run(Repo.nimbus, ["reach", Repo.path("Topologies/load-balancer.yaml"), "internet", "web-lb"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("lb          balanced to target 10.0.1."))
        #expect(r.stdout.contains("lb          target's reply, from the VIP 203.0.113.80:80"))
        let udp = try run(Repo.nimbus, ["reach", Repo.path("Topologies/load-balancer.yaml"), "internet", "web-lb", "--protocol", "udp"])
        #expect(udp.status == 0, "\(udp.stdout)")
        #expect(udp.stdout.contains(":5353"))
    }

    // MARK: The command line

    @Test func jsonHasExactlyTheContractsShape() throws {
        let r = try Self.blocked([Repo.path("Topologies/public-ip.yaml"), "internet", "web-1"])
        #expect(r.status == 0)
        #expect(Set(r.json.keys) == ["reachable", "path", "blocked-by"])
        #expect(r.json["reachable"] as? Bool == true)
        #expect(r.json["blocked-by"] is NSNull)
        let path = try #require(r.json["path"] as? [[String: String]])
        #expect(path.allSatisfy { Set($0.keys) == ["stage", "decision"] })
        #expect(path.contains { $0["stage"] == "router" && $0["decision"] == "route /32 -> web-1" })
        let blocked = try Self.blocked([Repo.path("Topologies/public-ip.yaml"), "internet", "db-1"])
        #expect(Set((blocked.blockedBy ?? [:]).keys) == ["kind", "name", "rule", "direction"])
    }

    @Test func textEndsWithTheVerdict() throws {
        let ok = try run(Repo.nimbus, ["reach", Repo.path("Topologies/public-ip.yaml"), "web-1", "db-1", "--port", "5432"])
        #expect(ok.status == 0)
        #expect(ok.stdout.hasPrefix("first packet in web-1, "))
        #expect(ok.stdout.contains("\nreply in db-1, "))
        #expect(ok.stdout.hasSuffix("\nreachable\n"))
        let no = try run(Repo.nimbus, ["reach", Repo.path("Topologies/public-ip.yaml"), "internet", "db-1"])
        #expect(no.status == 1)
        #expect(no.stdout.hasSuffix("\nnot reachable: blocked by security-group db ingress\n"))
    }

    @Test func badArgumentsAreOneLineAndStatusTwo() throws {
        let topo = Repo.path("Topologies/public-ip.yaml")
        let cases: [[String]] = [
            ["reach", topo, "web-9", "web-1"],
            ["reach", topo, "web-1", "nowhere"],
            ["reach", topo, "web-1", "2001:db8::1"],
            ["reach", topo, "web-1"],
            ["reach", topo, "web-1", "web-2", "--protocol", "sctp"],
            ["reach", topo, "web-1", "web-2", "--protocol", "icmp", "--port", "80"],
            ["reach", topo, "web-1", "web-2", "--port", "0"],
            ["reach", topo, "web-1", "web-2", "--matrix"],
            ["reach", "/nonexistent.yaml", "web-1", "web-2"],
        ]
        for args in cases {
            let r = try run(Repo.nimbus, args)
            #expect(r.status == 2, "\(args): status \(r.status)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(args)")
        }
        let bad = try run(Repo.nimbus, ["reach", topo, "web-9", "web-1"])
        #expect(bad.stderr.contains("internet, web-1, web-2, db-1"))
        let badTo = try run(Repo.nimbus, ["reach", Repo.path("Topologies/load-balancer.yaml"), "web-1", "nowhere"])
        #expect(badTo.stderr.contains("web-lb, internal-lb"))
    }

    @Test func matrixIsATableOfVerdicts() throws {
        let r = try run(Repo.nimbus, ["reach", Repo.path("Topologies/nat-private.yaml"), "--matrix"])
        #expect(r.status == 0)
        let lines = r.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(lines.count == 6)
        #expect(lines[0] == ["FROM", "\\", "TO", "app-1", "app-2", "web-1", "db-1"])
        #expect(lines.dropFirst().map { $0[0] } == ["app-1", "app-2", "web-1", "db-1", "internet"])
        #expect(lines[5] == ["internet", "nat", "nat", "ok", "nat"])
        // Every cell is the single answer's verdict.
        let config = try Self.config("nat-private")
        let reach = Reach(config: config)
        for (row, from) in lines.dropFirst().map({ $0[0] }).enumerated() {
            for (column, to) in reach.instanceNames.enumerated() {
                let a = reach.answer(try reach.query(from: from, to: to, protocol: .tcp, port: nil))
                #expect(lines[row + 1][column + 1] == (a.reachable ? "ok" : a.blockedBy!.kind.rawValue), "\(from) -> \(to)")
            }
        }
    }

    /// A generous bound only (the measured figure is in the README): 100 instances, 10,100 questions.
    @Test func matrixOfAHundredInstancesRunsInSeconds() throws {
        var yaml = """
        version: 1
        name: hundred
        networks:
          - name: net
            cidr: 10.0.0.0/16
            mode: nat-private
            subnets:
              - { name: s, cidr: 10.0.1.0/24 }
            nat: { public-ips: [203.0.113.1] }
        instances:

        """
        for i in 0..<100 { yaml += "  - { name: vm-\(i), network: net, subnet: s, ip: 10.0.1.\(i + 10) }\n" }
        let file = makeTempDirectory("reach") + "/hundred.yaml"
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        let start = Date()
        let r = try run(Repo.nimbus, ["reach", file, "--matrix"])
        let seconds = Date().timeIntervalSince(start)
        #expect(r.status == 0)
        #expect(r.stdout.split(separator: "\n").count == 102)
        #expect(r.stdout.split(separator: "\n").last?.hasPrefix("internet") == true)
        #expect(seconds < 20, "\(seconds) s")
    }

    /// `--trace` of a replay now names the deciding ACL rule and groups too (same formatter).
    @Test func replayTraceNamesTheDecidingRule() throws {
        let t = try TopologyLoader.load(path: Repo.path("Topologies/security-groups.yaml"))
        let dir = makeTempDirectory("reach")
        let frame = FrameBuilder.tcpFrame(sourceMAC: t.internet.upstreamMAC, destinationMAC: t.routerMAC,
                                          source: IPv4Address(198, 51, 100, 66), destination: IPv4Address(203, 0, 113, 10),
                                          sourcePort: 40000, destinationPort: 443, flags: TCPHeader.syn)
        try writePcap(dir + "/in.pcap", [(1_000_000_000, frame)])
        var options = ReplayOptions(inputs: [("internet", dir + "/in.pcap")], outputDirectory: dir + "/out")
        options.traceCount = 1
        var lines: [String] = []
        _ = try Replay.run(config: t.dataplaneConfig(), options: options) { lines.append($0) }
        #expect(lines.joined().contains("network-acl DROP nacl-inbound-denied: the network ACL of the destination's subnet denies it (inbound) (network ACL edge rule 100 denies)"))
    }
}
